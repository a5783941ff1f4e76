// What helia-peer.mjs and bitswap-raw.mjs share: the loopback-only libp2p options (TCP, Noise,
// Yamux, identify), JSON lines out, and newline-delimited JSON commands in.
import { createHash } from 'node:crypto'
import { createInterface } from 'node:readline'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { installLoopbackGuard } from '../helia/loopback-guard.mjs'

// Writes one JSON object as a line on stdout: the tests read these as events and replies.
export function report (object) {
  process.stdout.write(JSON.stringify(object) + '\n')
}

// "Name: message", followed by the causes of an aggregate error (Helia's LoadBlockFailedError
// says only "Failed to load block" and keeps the reasons in `errors`).
export function errorText (err) {
  if (err == null) return null
  const text = `${err.name ?? 'Error'}: ${err.message ?? String(err)}`
  if (!Array.isArray(err.errors) || err.errors.length === 0) return text
  return `${text} (${err.errors.map(errorText).join('; ')})`
}

export function sha256Hex (bytes) {
  return createHash('sha256').update(bytes).digest('hex')
}

// libp2p options for a node that listens on `listen` (loopback) and dials nothing by itself:
// no bootstrap, no DHT, no mDNS, no relay. Installs the loopback guard first, so any dial to
// another host throws before a packet leaves.
export function loopbackLibp2pOptions ({ listen }) {
  installLoopbackGuard()
  return {
    addresses: { listen: [listen] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() }
  }
}

// Reports every connection opening and closing (with the error that closed it).
export function watchConnections (libp2p) {
  libp2p.addEventListener('connection:open', (evt) => {
    const conn = evt.detail
    report({ event: 'connection:open', peer: conn.remotePeer.toString(), direction: conn.direction })
    conn.addEventListener('close', (closeEvt) => {
      report({
        event: 'connection:close',
        peer: conn.remotePeer.toString(),
        error: errorText(closeEvt.error)
      })
    })
  })
}

// Reads one JSON command a line from stdin and runs `handlers[cmd](command)` for each, several
// at once (a "cat" that waits must not hold up the commands after it). Each reply is the
// handler's object plus {"cmd", "id" (when the command had one), "ok"}; a handler that throws
// replies {"ok":false,"error"}. Calls `onEnd` when stdin closes.
export function serveCommands (handlers, onEnd) {
  const lines = createInterface({ input: process.stdin })
  lines.on('line', (line) => {
    if (line.trim() === '') return
    let command
    try {
      command = JSON.parse(line)
    } catch (err) {
      report({ ok: false, error: `not a JSON line: ${errorText(err)}: ${line.slice(0, 200)}` })
      return
    }
    const handler = handlers[command.cmd]
    const tag = { cmd: command.cmd, ...(command.id != null ? { id: command.id } : {}) }
    if (handler == null) {
      report({ ...tag, ok: false, error: `unknown cmd '${command.cmd}'; known: ${Object.keys(handlers).join(', ')}` })
      return
    }
    Promise.resolve()
      .then(() => handler(command))
      .then((reply) => report({ ...tag, ok: true, ...reply }))
      .catch((err) => report({ ...tag, ok: false, error: errorText(err) }))
  })
  lines.on('close', onEnd)
}

// The bounded signal of a command: its "timeout_ms", or `fallbackMs`.
export function commandSignal (command, fallbackMs) {
  const ms = Number(command.timeout_ms ?? fallbackMs)
  if (!Number.isFinite(ms) || ms <= 0) throw new Error(`timeout_ms must be a positive number, got ${command.timeout_ms}`)
  return AbortSignal.timeout(ms)
}

export function requireString (command, field) {
  const value = command[field]
  if (typeof value !== 'string' || value === '') {
    throw new Error(`"${command.cmd}" needs a string "${field}", got ${JSON.stringify(value)}`)
  }
  return value
}

// An idempotent stop for a script: runs `stopNode` (bounded by 5 s), then exits.
export function processStopper (name, stopNode) {
  let stopping = false
  return async function stop () {
    if (stopping) return
    stopping = true
    try {
      await Promise.race([stopNode(), new Promise((resolve) => setTimeout(resolve, 5_000))])
    } catch (err) {
      process.stderr.write(`${name}: stop failed: ${errorText(err)}\n`)
    }
    process.exit(0)
  }
}

// A hard stop for a process that a test forgot: exits after `ms` whatever happens.
export function exitAfter (ms, name) {
  const timer = setTimeout(() => {
    process.stderr.write(`${name}: lifetime of ${ms} ms reached, exiting\n`)
    process.exit(3)
  }, ms)
  timer.unref()
}
