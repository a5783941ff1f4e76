// A js-libp2p dialer for boxcar: dials ADDR (with /p2p/ID), waits for identify, pings, then
// opens STREAMS ping streams at once and checks each echo. Prints the events of node.mjs and a
// final summary line:
//   {"summary":true,"ok":BOOL,"peer":ID,"protocols":[...],"agentVersion":...,"pings":[ms...],
//    "streams":{"opened":N,"echoed":N,"errors":[...]},"connection":STATUS,"closeErrors":[...],
//    "error":TEXT|null}
// Exit status: 0 when everything worked, 1 otherwise, 2 on a usage error.
//
//   node dial.mjs --addr MULTIADDR [--streams N] [--pings N] [--timeout-ms N]
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { createNode, errorText, report } from './node.mjs'

const PING_PROTOCOL = '/ipfs/ping/1.0.0'
const PING_LENGTH = 32

function usage (message) {
  process.stderr.write(`dial.mjs: ${message}\n` +
    'usage: node dial.mjs --addr MULTIADDR [--streams N] [--pings N] [--timeout-ms N]\n')
  process.exit(2)
}

function parseArgs (argv) {
  const args = { addr: null, streams: 200, pings: 3, timeoutMs: 30_000 }
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1]
    if (value == null) usage(`${argv[i]} needs a value`)
    if (argv[i] === '--addr') args.addr = argv[++i]
    else if (argv[i] === '--streams') args.streams = Number(argv[++i])
    else if (argv[i] === '--pings') args.pings = Number(argv[++i])
    else if (argv[i] === '--timeout-ms') args.timeoutMs = Number(argv[++i])
    else usage(`unknown argument ${argv[i]}`)
  }
  if (args.addr == null) usage('--addr is required')
  return args
}

// Resolves with the identify result for `peer`, or rejects after `ms`.
function identified (node, peer, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no identify from ${peer} within ${ms} ms`)), ms)
    node.addEventListener('peer:identify', (evt) => {
      if (!evt.detail.peerId.equals(peer)) return
      clearTimeout(timer)
      resolve(evt.detail)
    })
  })
}

// One ping exchange on a fresh stream: 32 random bytes out, the same 32 back, then close.
async function pingOnNewStream (connection, signal) {
  const stream = await connection.newStream(PING_PROTOCOL, {
    signal,
    maxOutboundStreams: 256
  })
  const sent = crypto.getRandomValues(new Uint8Array(PING_LENGTH))
  const received = []
  let length = 0
  const echoed = new Promise((resolve, reject) => {
    stream.addEventListener('message', (evt) => {
      received.push(evt.data.subarray())
      length += evt.data.byteLength
      if (length >= PING_LENGTH) resolve()
    })
    stream.addEventListener('close', (evt) => {
      if (length < PING_LENGTH) reject(evt.error ?? new Error(`stream closed after ${length} bytes`))
    })
    signal.addEventListener('abort', () => reject(signal.reason))
  })
  stream.send(sent)
  await echoed
  const back = Buffer.concat(received)
  await stream.close({ signal })
  if (!back.subarray(0, PING_LENGTH).equals(Buffer.from(sent))) {
    throw new Error('the echo differs from what was sent')
  }
}

async function concurrentStreams (connection, count, signal) {
  const results = await Promise.allSettled(
    Array.from({ length: count }, () => pingOnNewStream(connection, signal)))
  const errors = results.filter((r) => r.status === 'rejected').map((r) => errorText(r.reason))
  return { opened: count, echoed: count - errors.length, errors: [...new Set(errors)] }
}

const args = parseArgs(process.argv.slice(2))
const target = multiaddr(args.addr)
const summary = { summary: true, ok: false, error: null, closeErrors: [] }
const node = await createNode()
const signal = AbortSignal.timeout(args.timeoutMs)
try {
  const p2p = target.getComponents().find((c) => c.name === 'p2p')
  if (p2p?.value == null) throw new Error(`${args.addr} has no /p2p/ID`)
  const peer = peerIdFromString(p2p.value)
  node.addEventListener('connection:open', (evt) => {
    evt.detail.addEventListener('close', (closeEvt) => {
      if (closeEvt.error != null) summary.closeErrors.push(errorText(closeEvt.error))
    })
  })
  const started = performance.now()
  const identify = identified(node, peer, 10_000)
  const connection = await node.dial(target, { signal })
  summary.peer = connection.remotePeer.toString()
  summary.connectMs = performance.now() - started
  const id = await identify
  summary.identifyMs = performance.now() - started
  summary.protocols = id.protocols
  summary.agentVersion = id.agentVersion ?? null
  summary.listenAddrs = id.listenAddrs.map((a) => a.toString())
  summary.pings = []
  for (let i = 0; i < args.pings; i++) {
    summary.pings.push(await node.services.ping.ping(target, { signal }))
  }
  summary.streams = await concurrentStreams(connection, args.streams, signal)
  summary.connection = connection.status
  summary.ok = summary.streams.errors.length === 0 && connection.status === 'open' &&
    summary.closeErrors.length === 0
} catch (err) {
  summary.error = errorText(err)
}
report(summary)
await node.stop()
process.exit(summary.ok ? 0 : 1)
