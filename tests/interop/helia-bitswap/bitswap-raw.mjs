// A raw Bitswap peer for boxcar's interop tests: plain js-libp2p (TCP on loopback, Noise, Yamux,
// identify) and the hand-written codec of bitswap-wire.mjs, so a test controls exactly which
// wants and cancels go out, and sees everything the other side sends back on its own outbound
// streams (this peer handles /ipfs/bitswap/1.2.0, 1.1.0, 1.0.0 and /ipfs/bitswap).
//
// At start it prints {"event":"ready","peer":ID,"addrs":[...]}. With "record" on (the default)
// every block and presence received is an event line:
//   {"event":"block","from":PEER,"cid":C,"bytes":N,"sha256":H,"t_ms":T}
//        (cid is what the block's prefix and data hash to; null for a hash other than sha2-256)
//   {"event":"presence","from":PEER,"cid":C,"type":"have"|"dont_have","t_ms":T}
// Commands, one JSON a line on stdin, each answered by one line {"cmd","id"?,"ok",...}:
//   {"cmd":"dial","addr":MA}                                    -> {"peer"}
//   {"cmd":"want","cids":[C...],"type":"block"|"have","send_dont_have":B,"full":B,
//    "priority":N,"stream":"new"|"keep","protocol":P}           -> {"entries","t_ms"}
//   {"cmd":"cancel","cids":[C...],"stream":...}                 -> {"entries","t_ms"}
//   {"cmd":"flood","cids":[C...],"messages":N,"interval_ms":M,"type":...}
//        N want messages of all the CIDs, one every M ms, each on a new stream
//                                                   -> {"sent","failed","errors":[first few]}
//   {"cmd":"received"}  -> {"messages","blocks":{C:N},"blockBytes","presences":{C:[T...]},
//                           "wantsReceived","invalid":[...]}
//   {"cmd":"record","on":B}  -> {}      {"cmd":"stop"} -> {} and exits
// "want", "cancel" and "flood" go to the last peer dialed unless the command names a "peer".
//
//   node bitswap-raw.mjs [--listen MULTIADDR] [--lifetime-ms N]
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { createLibp2p } from 'libp2p'
import { CID } from 'multiformats/cid'
import { decodeMessage, encodeWantlistMessage, lengthPrefixed, LengthPrefixedReader } from './bitswap-wire.mjs'
import {
  errorText, exitAfter, processStopper, loopbackLibp2pOptions, report, requireString, serveCommands, sha256Hex,
  watchConnections, commandSignal
} from './common.mjs'

const PROTOCOLS = ['/ipfs/bitswap/1.2.0', '/ipfs/bitswap/1.1.0', '/ipfs/bitswap/1.0.0', '/ipfs/bitswap']
const MAX_MESSAGE_BYTES = 4 * 1024 * 1024
const STREAM_LIMIT = 1024
const started = Date.now()

function parseArgs (argv) {
  const args = { listen: '/ip4/127.0.0.1/tcp/0', lifetimeMs: 600_000 }
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1]
    if (argv[i] === '--listen' && value != null) args.listen = argv[++i]
    else if (argv[i] === '--lifetime-ms' && value != null) args.lifetimeMs = Number(argv[++i])
    else {
      process.stderr.write(`bitswap-raw.mjs: unknown argument ${argv[i]}\n` +
        'usage: node bitswap-raw.mjs [--listen MULTIADDR] [--lifetime-ms N]\n')
      process.exit(2)
    }
  }
  return args
}

function elapsedMs () {
  return Date.now() - started
}

function bytesOf (data) {
  return data instanceof Uint8Array ? data : data.subarray()
}

// What this peer received, for the "received" command and the event lines.
class Received {
  constructor () {
    this.record = true
    this.messages = 0
    this.blocks = new Map()
    this.blockBytes = 0
    this.presences = new Map()
    this.wantsReceived = 0
    this.invalid = []
  }

  add (from, message) {
    this.messages++
    this.wantsReceived += message.wantlist.entries.length
    for (const block of message.blocks) {
      this.blocks.set(block.cid, (this.blocks.get(block.cid) ?? 0) + 1)
      this.blockBytes += block.data.length
      if (this.record) {
        report({ event: 'block', from, cid: block.cid, bytes: block.data.length, sha256: sha256Hex(block.data), t_ms: elapsedMs() })
      }
    }
    for (const presence of message.presences) {
      const list = this.presences.get(presence.cid) ?? []
      list.push(presence.type)
      this.presences.set(presence.cid, list)
      if (this.record) report({ event: 'presence', from, ...presence, t_ms: elapsedMs() })
    }
  }

  summary () {
    return {
      messages: this.messages,
      blocks: Object.fromEntries(this.blocks),
      blockBytes: this.blockBytes,
      presences: Object.fromEntries(this.presences),
      wantsReceived: this.wantsReceived,
      invalid: this.invalid.slice(0, 20)
    }
  }
}

// Reads every length-prefixed message of an inbound stream until the remote closes its side.
function onInboundStream (received) {
  return (stream, connection) => {
    const from = connection.remotePeer.toString()
    const reader = new LengthPrefixedReader(MAX_MESSAGE_BYTES)
    let chain = Promise.resolve()
    stream.close().catch(() => {}) // this side writes nothing: replies go on our own streams
    stream.addEventListener('message', (evt) => {
      const chunk = bytesOf(evt.data)
      chain = chain.then(async () => {
        reader.push(chunk)
        for (const bytes of reader.messages()) received.add(from, await decodeMessage(bytes))
      }).catch((err) => {
        received.invalid.push(`${from}: ${errorText(err)}`)
        report({ event: 'invalid', from, error: errorText(err), t_ms: elapsedMs() })
        stream.abort(err)
      })
    })
  }
}

// Outbound Bitswap streams: a new one per message (as Helia sends), or one kept per peer and
// protocol (as Boxo's client sends).
class Sender {
  constructor (libp2p) {
    this.libp2p = libp2p
    this.kept = new Map()
  }

  async send (peer, message, { stream: mode = 'new', protocol = PROTOCOLS[0], signal }) {
    const framed = lengthPrefixed(message)
    if (mode === 'keep') {
      const key = `${peer}|${protocol}`
      let stream = this.kept.get(key)
      if (stream == null || stream.status !== 'open' || stream.writeStatus !== 'writable') {
        stream = await this.open(peer, protocol, signal)
        this.kept.set(key, stream)
      }
      if (!stream.send(framed)) await stream.onDrain({ signal })
      return
    }
    if (mode !== 'new') throw new Error(`"stream" must be "new" or "keep", got ${JSON.stringify(mode)}`)
    const stream = await this.open(peer, protocol, signal)
    if (!stream.send(framed)) await stream.onDrain({ signal })
    await stream.close({ signal })
  }

  async open (peer, protocol, signal) {
    const stream = await this.libp2p.dialProtocol(peer, protocol, { signal, maxOutboundStreams: STREAM_LIMIT })
    stream.closeRead().catch(() => {})
    return stream
  }
}

function parseCids (command) {
  if (!Array.isArray(command.cids) || command.cids.length === 0) {
    throw new Error(`"${command.cmd}" needs a non-empty "cids" array`)
  }
  return command.cids.map((text) => CID.parse(text))
}

function wantEntries (command, cancel) {
  const type = command.type ?? 'block'
  if (type !== 'block' && type !== 'have') throw new Error(`"type" must be "block" or "have", got ${JSON.stringify(type)}`)
  return parseCids(command).map((cid) => ({
    cid,
    priority: command.priority ?? 1,
    cancel,
    wantType: type,
    sendDontHave: command.send_dont_have === true
  }))
}

function commandHandlers (libp2p, sender, received, state, stop) {
  const target = (command) => {
    if (command.peer != null) return peerIdFromString(requireString(command, 'peer'))
    if (state.lastPeer == null) throw new Error(`"${command.cmd}" before any "dial": name a "peer" or dial first`)
    return state.lastPeer
  }
  const sendEntries = async (command, entries) => {
    const signal = commandSignal(command, 15_000)
    await sender.send(target(command), encodeWantlistMessage(entries, { full: command.full === true }),
      { stream: command.stream, protocol: command.protocol, signal })
    return { entries: entries.length, t_ms: elapsedMs() }
  }
  return {
    async dial (command) {
      const connection = await libp2p.dial(multiaddr(requireString(command, 'addr')), { signal: commandSignal(command, 15_000) })
      state.lastPeer = connection.remotePeer
      return { peer: connection.remotePeer.toString() }
    },
    want: (command) => sendEntries(command, wantEntries(command, false)),
    cancel: (command) => sendEntries(command, wantEntries(command, true)),
    async flood (command) {
      const messages = Number(command.messages ?? 100)
      const intervalMs = Number(command.interval_ms ?? 0)
      const message = encodeWantlistMessage(wantEntries(command, false))
      const peer = target(command)
      const outcome = { sent: 0, failed: 0, errors: [] }
      const sends = []
      for (let i = 0; i < messages; i++) {
        sends.push(sender.send(peer, message, { signal: AbortSignal.timeout(30_000), protocol: command.protocol })
          .then(() => { outcome.sent++ })
          .catch((err) => {
            outcome.failed++
            if (outcome.errors.length < 5) outcome.errors.push(errorText(err))
          }))
        if (intervalMs > 0) await new Promise((resolve) => setTimeout(resolve, intervalMs))
      }
      await Promise.all(sends)
      return outcome
    },
    async received () {
      return received.summary()
    },
    async record (command) {
      received.record = command.on !== false
      return {}
    },
    async stop () {
      setImmediate(stop)
      return {}
    }
  }
}

const args = parseArgs(process.argv.slice(2))
exitAfter(args.lifetimeMs, 'bitswap-raw.mjs')
const libp2p = await createLibp2p(loopbackLibp2pOptions({ listen: args.listen }))
watchConnections(libp2p)
const received = new Received()
await libp2p.handle(PROTOCOLS, onInboundStream(received), { maxInboundStreams: STREAM_LIMIT })
report({ event: 'ready', peer: libp2p.peerId.toString(), addrs: libp2p.getMultiaddrs().map((a) => a.toString()) })

const stop = processStopper('bitswap-raw.mjs', () => libp2p.stop())
serveCommands(commandHandlers(libp2p, new Sender(libp2p), received, { lastPeer: null }, stop), stop)
process.on('SIGTERM', stop)
