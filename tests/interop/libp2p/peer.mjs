// A js-libp2p peer for boxcar to dial: listens on loopback with identify, ping and
// /echo/1.0.0, and reports on stdout, one JSON object a line:
//   {"event":"listening","peer":ID,"addrs":[MULTIADDR/p2p/ID...]}   once, first
//   {"event":"connection:open"|"connection:close"|"peer:identify",...}
//   {"event":"connections","list":[{peer,direction,status,streams}]}  for each "connections" line
//   {"event":"handled","protocol":P}  for each "handle P" line
// Commands, one a line on stdin: "connections"; "handle PROTOCOL" registers a protocol (which
// makes js push identify to its peers). The peer stops when stdin closes, or on SIGTERM.
//
//   node peer.mjs [--listen MULTIADDR] [--echo-timeout-ms N]
import { createInterface } from 'node:readline'
import { connectionList, createNode, errorText, report } from './node.mjs'

function parseArgs (argv) {
  const args = { listen: '/ip4/127.0.0.1/tcp/0', echoTimeoutMs: 120_000 }
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1]
    if (argv[i] === '--listen' && value != null) args.listen = argv[++i]
    else if (argv[i] === '--echo-timeout-ms' && value != null) args.echoTimeoutMs = Number(argv[++i])
    else {
      process.stderr.write(`peer.mjs: unknown argument ${argv[i]}\n` +
        'usage: node peer.mjs [--listen MULTIADDR] [--echo-timeout-ms N]\n')
      process.exit(2)
    }
  }
  return args
}

const args = parseArgs(process.argv.slice(2))
const node = await createNode({ listen: [args.listen], echoTimeoutMs: args.echoTimeoutMs })
report({
  event: 'listening',
  peer: node.peerId.toString(),
  addrs: node.getMultiaddrs().map((a) => a.toString())
})

let stopping = false
async function stop () {
  if (stopping) return
  stopping = true
  try {
    await node.stop()
  } catch (err) {
    process.stderr.write(`peer.mjs: stop failed: ${errorText(err)}\n`)
  }
  process.exit(0)
}

const commands = createInterface({ input: process.stdin })
commands.on('line', (line) => {
  const command = line.trim()
  if (command === 'connections') {
    report({ event: 'connections', list: connectionList(node) })
  } else if (command.startsWith('handle ')) {
    const protocol = command.slice('handle '.length)
    node.handle(protocol, (stream) => { stream.close().catch(() => {}) })
      .then(() => report({ event: 'handled', protocol }))
      .catch((err) => report({ event: 'error', error: errorText(err) }))
  } else if (command !== '') {
    report({ event: 'error', error: `unknown command '${command}'` })
  }
})
commands.on('close', stop)
process.on('SIGTERM', stop)
