// Calls a boxcar node's Kubo RPC API with the js kubo-rpc-client (npm, pinned in
// package-lock.json) and prints what the client parsed, as one JSON object on stdout:
//   node rpc-client.mjs --api http://127.0.0.1:PORT [--connect MULTIADDR] [--ping PEER]
// Loopback only: any other API host is refused. Exits 1 with the client's error on failure.
import { create } from 'kubo-rpc-client'

function option (name) {
  const at = process.argv.indexOf(name)
  return at > 0 ? process.argv[at + 1] : undefined
}

const api = option('--api')
if (api === undefined || new URL(api).hostname !== '127.0.0.1') {
  console.error('usage: rpc-client.mjs --api http://127.0.0.1:PORT [--connect MADDR] [--ping PEER]')
  process.exit(2)
}
const client = create({ url: `${api}/api/v0` })
const report = {}
try {
  const id = await client.id()
  report.id = { id: id.id.toString(), addresses: id.addresses.map(String), agentVersion: id.agentVersion, protocols: id.protocols }
  report.version = await client.version()
  const target = option('--connect')
  if (target !== undefined) {
    report.connect = await client.swarm.connect(target)
  }
  report.peers = (await client.swarm.peers({ direction: true, latency: true })).map(p => ({
    addr: p.addr.toString(), peer: p.peer.toString(), latency: p.latency, direction: p.direction
  }))
  const peer = option('--ping')
  if (peer !== undefined) {
    report.ping = []
    for await (const pong of client.ping(peer, { count: 2 })) report.ping.push(pong)
  }
  console.log(JSON.stringify(report))
} catch (error) {
  console.error(`kubo-rpc-client: ${error.message}`)
  process.exit(1)
}
