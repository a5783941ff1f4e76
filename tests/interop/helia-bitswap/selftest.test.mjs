// The interop scripts against each other, without boxcar: two helia-peer.mjs exchange a
// multi-block file and a raw block over Bitswap, and bitswap-raw.mjs wants, cancels and floods
// against a helia-peer.mjs. `npm test` (node --test) runs it.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { sha256Hex } from './common.mjs'

const here = new URL('.', import.meta.url).pathname

// One script as a child: JSON commands in, JSON lines out, every line kept.
class Script {
  constructor (name) {
    this.child = spawn(process.execPath, [join(here, name), '--lifetime-ms', '120000'], { stdio: ['pipe', 'pipe', 'inherit'] })
    this.lines = []
    this.waiters = []
    this.nextId = 1
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      const event = JSON.parse(line)
      this.lines.push(event)
      this.waiters = this.waiters.filter((w) => !w(event))
    })
  }

  waitFor (match, timeoutMs = 30_000) {
    const seen = this.lines.find(match)
    if (seen != null) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for a line')), timeoutMs)
      this.waiters.push((event) => {
        if (!match(event)) return false
        clearTimeout(timer)
        resolve(event)
        return true
      })
    })
  }

  async call (command, timeoutMs = 60_000) {
    const id = this.nextId++
    this.child.stdin.write(JSON.stringify({ ...command, id }) + '\n')
    const reply = await this.waitFor((e) => e.id === id, timeoutMs)
    assert.equal(reply.ok, true, `${command.cmd} failed: ${reply.error}`)
    return reply
  }

  stop () {
    this.child.stdin.end()
    return new Promise((resolve) => this.child.once('exit', resolve))
  }
}

let dir, server, client, raw, serverAddr
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'helia-bitswap-'))
  server = new Script('helia-peer.mjs')
  client = new Script('helia-peer.mjs')
  raw = new Script('bitswap-raw.mjs')
  const ready = await server.waitFor((e) => e.event === 'ready')
  serverAddr = ready.addrs[0]
  await client.waitFor((e) => e.event === 'ready')
  await raw.waitFor((e) => e.event === 'ready')
})
after(async () => {
  await Promise.all([server, client, raw].map((s) => s.stop()))
  await rm(dir, { recursive: true, force: true })
})

test('a 5 MiB file and a 1 KiB raw block go from one Helia to another', async () => {
  const file = join(dir, 'five.bin')
  await writeFile(file, randomBytes(5 * 1024 * 1024 + 12345))
  const added = await server.call({ cmd: 'add', path: file })
  assert.match(added.cid, /^bafybei/)
  await client.call({ cmd: 'dial', addr: serverAddr })
  const out = join(dir, 'five.out')
  const cat = await client.call({ cmd: 'cat', cid: added.cid, out, timeout_ms: 30_000 })
  assert.equal(cat.sha256, added.sha256)
  assert.equal(sha256Hex(await readFile(out)), added.sha256)

  const serverCar = await server.call({ cmd: 'export-car', cid: added.cid, out: join(dir, 's.car') })
  const clientCar = await client.call({ cmd: 'export-car', cid: added.cid, out: join(dir, 'c.car') })
  assert.equal(serverCar.blocks.length, 22) // 21 leaves of 256 KiB and the root
  assert.deepEqual(clientCar.blocks, serverCar.blocks)

  const small = join(dir, 'small.bin')
  await writeFile(small, randomBytes(1024))
  const block = await server.call({ cmd: 'add', path: small })
  assert.match(block.cid, /^bafkrei/)
  assert.equal((await server.call({ cmd: 'raw-cid', path: small })).cid, block.cid)
  const got = await client.call({ cmd: 'get-block', cid: block.cid, timeout_ms: 10_000 })
  assert.equal(got.bytes, 1024)
  assert.equal(got.sha256, block.sha256)
})

test('the raw peer gets wanted blocks and presences on the other side\'s own streams', async () => {
  const present = join(dir, 'present.bin')
  await writeFile(present, randomBytes(2000))
  const absent = join(dir, 'absent.bin')
  await writeFile(absent, randomBytes(2000))
  const have = await server.call({ cmd: 'add', path: present })
  const lack = await server.call({ cmd: 'raw-cid', path: absent })
  const { peer } = await raw.call({ cmd: 'dial', addr: serverAddr })
  await raw.call({ cmd: 'want', cids: [have.cid, lack.cid], type: 'block', send_dont_have: true })
  const block = await raw.waitFor((e) => e.event === 'block' && e.cid === have.cid)
  assert.equal(block.from, peer)
  assert.equal(block.sha256, have.sha256)
  await raw.waitFor((e) => e.event === 'presence' && e.cid === lack.cid && e.type === 'dont_have')

  // One kept stream carries several messages (as Boxo's client sends).
  const more = join(dir, 'more.bin')
  await writeFile(more, randomBytes(1500))
  const another = await server.call({ cmd: 'add', path: more })
  await raw.call({ cmd: 'want', cids: [lack.cid], type: 'have', stream: 'keep' })
  await raw.call({ cmd: 'want', cids: [another.cid], type: 'block', stream: 'keep' })
  await raw.waitFor((e) => e.event === 'block' && e.cid === another.cid)

  const flood = await raw.call({ cmd: 'flood', cids: [have.cid], messages: 20, type: 'have' })
  assert.equal(flood.sent, 20)
  const received = await raw.call({ cmd: 'received' })
  assert.equal(received.invalid.length, 0)
  assert.ok(received.blocks[have.cid] >= 1)
})

test('a cancelled want is not served when the block arrives; a live one is', async () => {
  const later = join(dir, 'later.bin')
  await writeFile(later, randomBytes(3000))
  const cancelled = join(dir, 'cancelled.bin')
  await writeFile(cancelled, randomBytes(3000))
  const liveCid = (await server.call({ cmd: 'raw-cid', path: later })).cid
  const cancelledCid = (await server.call({ cmd: 'raw-cid', path: cancelled })).cid
  await raw.call({ cmd: 'dial', addr: serverAddr })
  await raw.call({ cmd: 'want', cids: [liveCid, cancelledCid], type: 'block' })
  await raw.call({ cmd: 'cancel', cids: [cancelledCid] })
  await new Promise((resolve) => setTimeout(resolve, 300))
  await server.call({ cmd: 'add', path: cancelled })
  await server.call({ cmd: 'add', path: later })
  await raw.waitFor((e) => e.event === 'block' && e.cid === liveCid, 10_000)
  await new Promise((resolve) => setTimeout(resolve, 500))
  const received = await raw.call({ cmd: 'received' })
  assert.equal(received.blocks[cancelledCid], undefined)
})

// Helia as a server forgets a want it answered DONT_HAVE to, so a want that waits is checked
// against boxcar only; here, that an unanswered Helia want is sent once and not repeated, which
// is what the boxcar test's "without asking again" counts.
test('Helia sends a want once and does not repeat it while it waits', async () => {
  const file = join(dir, 'waits.bin')
  await writeFile(file, randomBytes(1024))
  const { cid } = await client.call({ cmd: 'raw-cid', path: file })
  const rawReady = await raw.waitFor((e) => e.event === 'ready')
  const { peer } = await client.call({ cmd: 'dial', addr: rawReady.addrs[0] })
  const pending = client.call({ cmd: 'get-block', cid, timeout_ms: 6_000 }).catch((err) => err)
  await new Promise((resolve) => setTimeout(resolve, 1_000))
  const streams = (await client.call({ cmd: 'stats' })).bitswapStreamsOut[peer]
  const wants = (await raw.call({ cmd: 'received' })).wantsReceived
  assert.ok(streams >= 1)
  assert.ok(wants >= 1)
  await new Promise((resolve) => setTimeout(resolve, 4_000))
  assert.equal((await client.call({ cmd: 'stats' })).bitswapStreamsOut[peer], streams)
  assert.equal((await raw.call({ cmd: 'received' })).wantsReceived, wants)
  assert.match(String(await pending), /Want was aborted/)
})

test('a file inside a HAMT-sharded directory goes from one Helia to another', async () => {
  const fixture = join(here, '../../fixtures/trustless-gateway/single-layer-hamt-with-multi-block-files.car')
  const imported = await server.call({ cmd: 'import-car', path: fixture })
  assert.equal(imported.blocks, 243)
  const root = imported.roots[0]
  const { entries } = await server.call({ cmd: 'ls', cid: root, timeout_ms: 5_000 })
  const name = entries[0].name
  const expected = await server.call({ cmd: 'cat', cid: root, path: name, timeout_ms: 5_000 })
  await client.call({ cmd: 'dial', addr: serverAddr })
  const got = await client.call({ cmd: 'cat', cid: root, path: name, timeout_ms: 20_000 })
  assert.equal(got.sha256, expected.sha256)
})
