// The js-libp2p node the interop scripts share: TCP, Noise, Yamux, identify (and push), ping and
// echo, on loopback only, with stream limits high enough for 200 streams at once each way.
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { echo } from '@libp2p/echo'
import { identify, identifyPush } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { installLoopbackGuard } from '../helia/loopback-guard.mjs'

export const STREAM_LIMIT = 256

// Writes one JSON object as a line on stdout: the tests read these as events.
export function report (object) {
  process.stdout.write(JSON.stringify(object) + '\n')
}

export function errorText (err) {
  if (err == null) return null
  return `${err.name ?? 'Error'}: ${err.message ?? String(err)}`
}

// `listen`: multiaddrs to listen on ([] for a dial-only node). `echoTimeoutMs` bounds one echo
// stream (the 64 MiB transfer needs more than @libp2p/echo's 20 s default on a loaded machine).
export async function createNode ({ listen = [], echoTimeoutMs = 120_000 } = {}) {
  installLoopbackGuard()
  const node = await createLibp2p({
    addresses: { listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      identifyPush: identifyPush(),
      ping: ping({ maxInboundStreams: STREAM_LIMIT, maxOutboundStreams: STREAM_LIMIT }),
      echo: echo({
        maxInboundStreams: STREAM_LIMIT,
        maxOutboundStreams: STREAM_LIMIT,
        timeout: echoTimeoutMs
      })
    }
  })
  watchConnections(node)
  return node
}

// Reports every connection opening and closing, with the error that closed it: yamux protocol
// errors (a window overrun, a bad frame) surface here as a close with an error.
function watchConnections (node) {
  node.addEventListener('connection:open', (evt) => {
    const conn = evt.detail
    report({
      event: 'connection:open',
      peer: conn.remotePeer.toString(),
      addr: conn.remoteAddr.toString(),
      direction: conn.direction
    })
    conn.addEventListener('close', (closeEvt) => {
      report({
        event: 'connection:close',
        peer: conn.remotePeer.toString(),
        direction: conn.direction,
        error: errorText(closeEvt.error),
        local: closeEvt.local ?? null
      })
    })
  })
  node.addEventListener('peer:identify', (evt) => {
    const id = evt.detail
    report({
      event: 'peer:identify',
      peer: id.peerId.toString(),
      protocols: id.protocols,
      agentVersion: id.agentVersion ?? null,
      protocolVersion: id.protocolVersion ?? null,
      listenAddrs: id.listenAddrs.map((a) => a.toString()),
      observedAddr: id.observedAddr?.toString() ?? null
    })
  })
}

// The open connections, as the tests check them after a transfer.
export function connectionList (node) {
  return node.getConnections().map((conn) => ({
    peer: conn.remotePeer.toString(),
    direction: conn.direction,
    status: conn.status,
    streams: conn.streams.length
  }))
}
