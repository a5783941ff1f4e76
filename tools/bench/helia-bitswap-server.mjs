// A Helia 7 node that serves the blocks of CAR files over Bitswap, for tools/bench/bitswap.sh:
// libp2p with TCP on 127.0.0.1, Noise, Yamux and identify, @helia/bitswap, an in-memory
// blockstore, and a router that finds nothing (it never dials out).
//
//   node helia-bitswap-server.mjs FILE.car...
//
// Prints one JSON line once the blocks are in: {"ready":true,"pid","peer","addrs","blocks"}.
// Exits when stdin closes, on SIGTERM, or after 30 minutes whatever happens.
// Run it from a directory whose node_modules holds the packages of
// tests/interop/helia-bitswap/package.json (bitswap.sh links them).
import { readFile } from 'node:fs/promises'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { CarReader } from '@ipld/car'
import { createHeliaLight } from 'helia'

const lifetime = setTimeout(() => process.exit(3), 30 * 60 * 1000)
lifetime.unref()

// Helia's sessions need a router; this one knows nobody, so the node never leaves loopback.
const nobody = {
  name: 'nobody',
  async * findProviders () {},
  async provide () {},
  async findPeer () { throw new Error('the bench router knows no peers') },
  async * getClosestPeers () {}
}

const files = process.argv.slice(2)
if (files.length === 0) {
  process.stderr.write('usage: node helia-bitswap-server.mjs FILE.car...\n')
  process.exit(2)
}

const helia = withBitswap(
  withLibp2pLight(createHeliaLight({ routers: [nobody] }), {
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
    // js-libp2p accepts 5 connections a second from one host by default: the load's peers all
    // come from 127.0.0.1.
    connectionManager: {
      maxConnections: 10000,
      inboundConnectionThreshold: 10000,
      maxIncomingPendingConnections: 1000
    }
  }), {})
await helia.start()

let blocks = 0
for (const file of files) {
  const reader = await CarReader.fromBytes(await readFile(file))
  for await (const { cid, bytes } of reader.blocks()) {
    await helia.blockstore.put(cid, bytes)
    blocks++
  }
}

process.stdout.write(JSON.stringify({
  ready: true,
  pid: process.pid,
  peer: helia.libp2p.peerId.toString(),
  addrs: helia.libp2p.getMultiaddrs().map((a) => a.toString()),
  blocks
}) + '\n')

async function stop () {
  await helia.stop()
  process.exit(0)
}
process.stdin.on('end', stop)
process.stdin.resume()
process.on('SIGTERM', stop)
