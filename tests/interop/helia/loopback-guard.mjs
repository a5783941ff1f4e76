// Refuses every network connection that does not go to this machine.
//
// Interop tests may only talk to 127.0.0.1. Helia's trustless-gateway client
// uses globalThis.fetch, and any other code path ends up in net.Socket.connect,
// so both are wrapped: a non-loopback destination throws before a packet is sent.
import net from 'node:net'

// True for 127.0.0.0/8, ::1 and "localhost" (which /etc/hosts resolves locally).
export function isLoopbackHost (host) {
  const bare = String(host).replace(/^\[|\]$/g, '').toLowerCase()
  if (bare === 'localhost' || bare === '::1') return true
  if (net.isIPv4(bare)) return bare.startsWith('127.')
  return false
}

export class NonLoopbackError extends Error {
  constructor (what) {
    super(`refused non-loopback destination ${what}: interop tests may only contact 127.0.0.1`)
    this.name = 'NonLoopbackError'
  }
}

function requestUrl (input) {
  if (input instanceof URL) return input
  if (typeof input === 'string') return new URL(input)
  return new URL(input.url)
}

function connectTarget (args) {
  const first = args[0]
  if (Array.isArray(first)) return connectTarget(first) // internal normalized form
  if (first != null && typeof first === 'object') {
    return first.path != null ? { ipc: true } : { host: first.host ?? 'localhost' }
  }
  if (typeof first === 'string' && !/^\d+$/.test(first)) return { ipc: true }
  return { host: typeof args[1] === 'string' ? args[1] : 'localhost' }
}

// Wraps whatever globalThis.fetch and net.Socket.prototype.connect are now.
export function installLoopbackGuard () {
  const originalFetch = globalThis.fetch
  globalThis.fetch = async function guardedFetch (input, init) {
    const url = requestUrl(input)
    if (!isLoopbackHost(url.hostname)) throw new NonLoopbackError(url.href)
    return originalFetch(input, init)
  }
  const originalConnect = net.Socket.prototype.connect
  net.Socket.prototype.connect = function guardedConnect (...args) {
    const target = connectTarget(args)
    if (!target.ipc && !isLoopbackHost(target.host)) throw new NonLoopbackError(`${target.host} (TCP)`)
    return originalConnect.apply(this, args)
  }
}
