// A minimal Helia 7 node for boxcar's Bitswap interop tests: libp2p with TCP on loopback, Noise,
// Yamux and identify, @helia/bitswap, an in-memory blockstore, and a router that finds nothing
// (no bootstrap, no DHT, no HTTP gateways), so blocks come only from peers the test dials.
//
// At start it prints {"event":"ready","peer":ID,"addrs":[MULTIADDR/p2p/ID...]}. Then it takes one
// JSON command a line on stdin and answers each with one JSON line {"cmd","id"?,"ok",...}:
//   {"cmd":"dial","addr":MA}                          -> {"peer"}
//   {"cmd":"add","path":FILE[,"chunk_size":262144]}   -> {"cid","bytes","sha256"}
//        UnixFS, CIDv1, raw leaves of chunk_size (a file of one chunk is a single raw block)
//   {"cmd":"raw-cid","path":FILE}                     -> {"cid"}  (raw sha2-256 CID, not stored)
//   {"cmd":"import-car","path":FILE}                  -> {"roots":[C...],"blocks":N}
//   {"cmd":"cat","cid":C[,"path":P],"out":FILE[,"timeout_ms"]} -> {"bytes","sha256"}
//        unixfs.cat of C, or of the file at path P under the directory C
//   {"cmd":"ls","cid":C[,"timeout_ms"]}               -> {"entries":[{"name","cid"}...]}
//   {"cmd":"get-block","cid":C[,"out":FILE][,"timeout_ms"]} -> {"bytes","sha256"}
//   {"cmd":"has","cid":C}                             -> {"has"}  (local blockstore only)
//   {"cmd":"export-car","cid":C,"out":FILE}           -> {"blocks":[CID...]}  (local blocks only)
//   {"cmd":"stats"}       -> {"bitswapStreamsOut":{PEER:N},"connections":[...]}
//   {"cmd":"stop"}        -> {} and exits
// Commands run concurrently; "id" (any JSON value) is echoed to match replies.
//
//   node helia-peer.mjs [--listen MULTIADDR] [--max-message-bytes N] [--lifetime-ms N]
import { createWriteStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { once } from 'node:events'
import { CarReader } from '@ipld/car'
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import { unixfs } from '@helia/unixfs'
import { multiaddr } from '@multiformats/multiaddr'
import { createHeliaLight } from 'helia'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import {
  commandSignal, errorText, exitAfter, processStopper, loopbackLibp2pOptions, report, requireString, sha256Hex,
  serveCommands, watchConnections
} from './common.mjs'
import { dagBlockCids, writeCar } from './dag.mjs'

const BITSWAP_PREFIX = '/ipfs/bitswap'
const DEFAULT_TIMEOUT_MS = 60_000

function parseArgs (argv) {
  const args = { listen: '/ip4/127.0.0.1/tcp/0', maxMessageBytes: null, lifetimeMs: 600_000 }
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1]
    if (argv[i] === '--listen' && value != null) args.listen = argv[++i]
    else if (argv[i] === '--max-message-bytes' && value != null) args.maxMessageBytes = Number(argv[++i])
    else if (argv[i] === '--lifetime-ms' && value != null) args.lifetimeMs = Number(argv[++i])
    else {
      process.stderr.write(`helia-peer.mjs: unknown argument ${argv[i]}\n` +
        'usage: node helia-peer.mjs [--listen MULTIADDR] [--max-message-bytes N] [--lifetime-ms N]\n')
      process.exit(2)
    }
  }
  return args
}

// Helia's router list must not be empty for sessions, and must not reach the network.
const routerThatFindsNothing = {
  name: 'nothing',
  async * findProviders () {},
  async provide () {},
  async findPeer () { throw new Error('the interop router finds no peers') },
  async * getClosestPeers () {}
}

async function createNode (args) {
  const bitswapOptions = {}
  if (args.maxMessageBytes != null) {
    bitswapOptions.maxIncomingMessageSize = args.maxMessageBytes
    bitswapOptions.maxOutgoingMessageSize = args.maxMessageBytes
  }
  const helia = withBitswap(
    withLibp2pLight(createHeliaLight({ routers: [routerThatFindsNothing] }),
      loopbackLibp2pOptions({ listen: args.listen })),
    bitswapOptions)
  await helia.start()
  watchConnections(helia.libp2p)
  return helia
}

// Counts the Bitswap streams Helia opens to each peer (one per send job), so a test can tell
// whether Helia asked again.
function countBitswapStreams (libp2p) {
  const counts = new Map()
  const dialProtocol = libp2p.dialProtocol.bind(libp2p)
  libp2p.dialProtocol = async (peer, protocols, options) => {
    const list = Array.isArray(protocols) ? protocols : [protocols]
    if (list.some((p) => p.startsWith(BITSWAP_PREFIX))) {
      const key = peer.toString()
      counts.set(key, (counts.get(key) ?? 0) + 1)
    }
    return dialProtocol(peer, protocols, options)
  }
  return counts
}

// Streams `chunks` into `out` (when given) and returns their length and sha256.
async function drainTo (chunks, out) {
  const file = out != null ? createWriteStream(out) : null
  const hash = (await import('node:crypto')).createHash('sha256')
  let bytes = 0
  try {
    for await (const chunk of chunks) {
      bytes += chunk.byteLength
      hash.update(chunk)
      if (file != null && !file.write(chunk)) await once(file, 'drain')
    }
  } finally {
    if (file != null) {
      file.end()
      await once(file, 'close')
    }
  }
  return { bytes, sha256: hash.digest('hex') }
}

function parseCid (command) {
  const text = requireString(command, 'cid')
  try {
    return CID.parse(text)
  } catch (err) {
    throw new Error(`"${command.cmd}": cannot parse cid ${JSON.stringify(text)}: ${errorText(err)}`)
  }
}

function commandHandlers (helia, streamsOut, stop) {
  const fs = unixfs(helia)
  return {
    async dial (command) {
      const connection = await helia.libp2p.dial(multiaddr(requireString(command, 'addr')),
        { signal: commandSignal(command, 15_000) })
      return { peer: connection.remotePeer.toString() }
    },
    async add (command) {
      const bytes = await readFile(requireString(command, 'path'))
      const chunkSize = Number(command.chunk_size ?? 262_144)
      const cid = await fs.addBytes(bytes, {
        cidVersion: 1,
        rawLeaves: true,
        reduceSingleLeafToSelf: true,
        chunker: fixedSize({ chunkSize })
      })
      return { cid: cid.toString(), bytes: bytes.byteLength, sha256: sha256Hex(bytes) }
    },
    async 'raw-cid' (command) {
      const bytes = await readFile(requireString(command, 'path'))
      return { cid: CID.createV1(raw.code, await sha256.digest(bytes)).toString() }
    },
    async 'import-car' (command) {
      const reader = await CarReader.fromBytes(await readFile(requireString(command, 'path')))
      let blocks = 0
      for await (const { cid, bytes } of reader.blocks()) {
        await helia.blockstore.put(cid, bytes)
        blocks++
      }
      return { roots: (await reader.getRoots()).map((cid) => cid.toString()), blocks }
    },
    async cat (command) {
      const signal = commandSignal(command, DEFAULT_TIMEOUT_MS)
      return drainTo(fs.cat(parseCid(command), { signal, path: command.path }), command.out)
    },
    async ls (command) {
      const signal = commandSignal(command, DEFAULT_TIMEOUT_MS)
      const entries = []
      for await (const entry of fs.ls(parseCid(command), { signal })) {
        entries.push({ name: entry.name, cid: entry.cid.toString() })
      }
      return { entries }
    },
    async 'get-block' (command) {
      const signal = commandSignal(command, DEFAULT_TIMEOUT_MS)
      return drainTo(helia.blockstore.get(parseCid(command), { signal }), command.out)
    },
    async has (command) {
      return { has: await helia.blockstore.has(parseCid(command)) }
    },
    async 'export-car' (command) {
      const root = parseCid(command)
      const signal = commandSignal(command, DEFAULT_TIMEOUT_MS)
      const blocks = await dagBlockCids(helia.blockstore, root, signal)
      await writeCar(helia.blockstore, root, blocks, requireString(command, 'out'), signal)
      return { blocks: blocks.map((cid) => cid.toString()) }
    },
    async stats () {
      return {
        bitswapStreamsOut: Object.fromEntries(streamsOut),
        connections: helia.libp2p.getConnections().map((c) => ({
          peer: c.remotePeer.toString(), direction: c.direction, status: c.status
        }))
      }
    },
    async stop () {
      setImmediate(stop)
      return {}
    }
  }
}

const args = parseArgs(process.argv.slice(2))
exitAfter(args.lifetimeMs, 'helia-peer.mjs')
const helia = await createNode(args)
const streamsOut = countBitswapStreams(helia.libp2p)
report({
  event: 'ready',
  peer: helia.libp2p.peerId.toString(),
  addrs: helia.libp2p.getMultiaddrs().map((a) => a.toString())
})

const stop = processStopper('helia-peer.mjs', () => helia.stop())
serveCommands(commandHandlers(helia, streamsOut, stop), stop)
process.on('SIGTERM', stop)
