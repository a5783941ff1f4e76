// Checks loopback-guard.mjs without sending anything: the wrapped fetch and
// Socket.connect are stubs, so a broken guard records a call instead of
// reaching the network. Run: node --test tests/interop/helia/
import assert from 'node:assert/strict'
import net from 'node:net'
import { test } from 'node:test'
import { installLoopbackGuard, isLoopbackHost, NonLoopbackError } from './loopback-guard.mjs'

const reached = []
globalThis.fetch = async (input) => { reached.push(`fetch ${input}`); return 'stub' }
net.Socket.prototype.connect = function (...args) { reached.push(`connect ${JSON.stringify(args)}`); return this }
installLoopbackGuard()

test('loopback hosts are recognised', () => {
  for (const host of ['127.0.0.1', '127.8.9.10', 'localhost', '::1', '[::1]']) assert.equal(isLoopbackHost(host), true, host)
  for (const host of ['192.0.2.1', '10.0.0.1', 'example.com', '127.0.0.1.example', '2001:db8::1', '0.0.0.0']) {
    assert.equal(isLoopbackHost(host), false, host)
  }
})

test('fetch to a non-loopback URL throws before any request', async () => {
  reached.length = 0
  for (const url of ['http://192.0.2.1/ipfs/bafkqaaa', 'https://gateway.example/ipfs/bafkqaaa', new URL('http://[2001:db8::1]/')]) {
    await assert.rejects(fetch(url), NonLoopbackError)
  }
  assert.deepEqual(reached, [])
})

test('fetch to loopback goes through', async () => {
  reached.length = 0
  assert.equal(await fetch('http://127.0.0.1:1/ipfs/bafkqaaa'), 'stub')
  assert.deepEqual(reached, ['fetch http://127.0.0.1:1/ipfs/bafkqaaa'])
})

test('TCP connect to a non-loopback host throws; loopback and unix sockets pass', () => {
  reached.length = 0
  assert.throws(() => new net.Socket().connect({ host: '192.0.2.1', port: 9 }), NonLoopbackError)
  assert.throws(() => new net.Socket().connect(9, '192.0.2.1'), NonLoopbackError)
  new net.Socket().connect({ host: '127.0.0.1', port: 9 })
  new net.Socket().connect({ path: '/tmp/unused.sock' })
  assert.equal(reached.length, 2)
})
