#!/usr/bin/env node
// Fetches blocks from ONE trustless gateway with Helia's trustless-gateway
// block broker and checks every block against its CID.
//
// Usage:
//   node fetch-blocks.mjs --gateway http://127.0.0.1:PORT CID... [--cids-file FILE]
//   node fetch-blocks.mjs --gateway http://127.0.0.1:PORT --car CID
//
// Prints one JSON line per CID ({cid, bytes, ok, error}) and a final summary
// line; exits 0 only when every CID was fetched and verified.
// Nothing but loopback is ever contacted: there is no libp2p, no delegated
// routing and no DNS; the only "router" returns the given gateway, and
// loopback-guard.mjs throws on any other destination.
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { fallbackRouter } from '@helia/fallback-router'
import { trustlessGatewayBlockBroker } from '@helia/trustless-gateway-client'
import { CarBlockIterator } from '@ipld/car/iterator'
import { defaultLogger } from '@libp2p/logger'
import { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import { sha256 } from 'multiformats/hashes/sha2'
import { installLoopbackGuard, isLoopbackHost } from './loopback-guard.mjs'

const EXIT_USAGE = 2
const EXIT_FAILED = 1
const DEFAULT_TIMEOUT_MS = 10000

class UsageError extends Error {}

const HASHERS = new Map([[sha256.code, sha256], [identity.code, identity]])

// Recomputes the multihash of `bytes` with the CID's hash function and
// compares digests; throws a message naming both digests on mismatch.
async function verifyBlock (cid, bytes) {
  const hasher = HASHERS.get(cid.multihash.code)
  if (hasher == null) {
    throw new Error(`unsupported multihash code 0x${cid.multihash.code.toString(16)} in ${cid}: only sha2-256 and identity are checked`)
  }
  const digest = await hasher.digest(bytes)
  const want = Buffer.from(cid.multihash.digest).toString('hex')
  const got = Buffer.from(digest.digest).toString('hex')
  if (want !== got) {
    throw new Error(`hash mismatch for ${cid}: CID digest ${want}, received ${bytes.length} bytes hashing to ${got}`)
  }
}

function parseCid (text, where) {
  try {
    return CID.parse(text)
  } catch (err) {
    throw new UsageError(`invalid CID ${JSON.stringify(text)} (${where}): ${err.message}`)
  }
}

function parseGateway (text) {
  if (text == null) throw new UsageError('--gateway http://127.0.0.1:PORT is required')
  let url
  try {
    url = new URL(text)
  } catch {
    throw new UsageError(`--gateway ${JSON.stringify(text)} is not a URL; expected e.g. http://127.0.0.1:8080`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--gateway must be http(s), got ${url.protocol}`)
  }
  if (!isLoopbackHost(url.hostname)) {
    throw new UsageError(`--gateway host ${url.hostname} is not loopback; only 127.0.0.1, ::1 or localhost are allowed`)
  }
  return url
}

async function readCids (args) {
  const cids = args.positionals.map((text, i) => parseCid(text, `argument ${i + 1}`))
  if (args.values['cids-file'] != null) {
    const file = args.values['cids-file']
    const lines = (await readFile(file, 'utf8')).split('\n')
    lines.forEach((line, i) => {
      const text = line.trim()
      if (text !== '' && !text.startsWith('#')) cids.push(parseCid(text, `${file} line ${i + 1}`))
    })
  }
  return cids
}

function createBroker (gateway) {
  return trustlessGatewayBlockBroker({ allowInsecure: true, allowLocal: true })({
    routing: fallbackRouter({ gateways: [gateway.href], shuffle: false }),
    logger: defaultLogger()
  })
}

// Helia's broker calls validateFn and silently skips a gateway whose block
// fails it, so the reason is remembered here to be reported.
async function fetchOne (broker, cid, timeoutMs) {
  let validationError
  const signal = AbortSignal.timeout(timeoutMs)
  try {
    const bytes = await broker.retrieve(cid, {
      signal,
      validateFn: async (block) => {
        try {
          await verifyBlock(cid, block)
        } catch (err) {
          validationError = err
          throw err
        }
      }
    })
    await verifyBlock(cid, bytes) // independent re-hash of what the broker returned
    return { cid: cid.toString(), bytes: bytes.length, ok: true, error: null }
  } catch (err) {
    const reason = validationError ?? err
    let detail = reason instanceof AggregateError ? reason.errors.map(e => e.message).join('; ') : reason.message
    if (signal.aborted) detail += ` (no answer within --timeout-ms ${timeoutMs})`
    return { cid: cid.toString(), bytes: null, ok: false, error: detail }
  }
}

async function runBlocks (gateway, cids, timeoutMs) {
  const broker = createBroker(gateway)
  const results = []
  for (const cid of cids) {
    const result = await fetchOne(broker, cid, timeoutMs)
    console.log(JSON.stringify(result))
    results.push(result)
  }
  return results
}

// --car: GET /ipfs/<root>?format=car and verify every block in the CAR.
async function runCar (gateway, root, timeoutMs) {
  const url = new URL(`/ipfs/${root}?format=car`, gateway)
  const res = await fetch(url, {
    headers: { Accept: 'application/vnd.ipld.car' },
    signal: AbortSignal.timeout(timeoutMs)
  })
  if (!res.ok) throw new Error(`GET ${url} returned ${res.status} ${res.statusText}`)
  const body = new Uint8Array(await res.arrayBuffer())
  const iterator = await CarBlockIterator.fromBytes(body)
  const roots = await iterator.getRoots()
  if (roots.length !== 1 || !roots[0].equals(root)) {
    throw new Error(`CAR from ${url} has roots [${roots.join(', ')}], expected [${root}]`)
  }
  const results = []
  for await (const { cid, bytes } of iterator) {
    const result = { cid: cid.toString(), bytes: bytes.length, ok: true, error: null }
    try {
      await verifyBlock(cid, bytes)
    } catch (err) {
      Object.assign(result, { ok: false, error: err.message })
    }
    console.log(JSON.stringify(result))
    results.push(result)
  }
  if (results.length === 0 || results[0].cid !== root.toString()) {
    results.push({ cid: root.toString(), bytes: null, ok: false, error: 'CAR does not start with the root block' })
    console.log(JSON.stringify(results.at(-1)))
  }
  return results
}

function parseCommandLine (argv) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        gateway: { type: 'string' },
        'cids-file': { type: 'string' },
        car: { type: 'string' },
        'timeout-ms': { type: 'string' }
      }
    })
  } catch (err) {
    throw new UsageError(err.message)
  }
}

async function main () {
  installLoopbackGuard()
  const args = parseCommandLine(process.argv.slice(2))
  const gateway = parseGateway(args.values.gateway)
  const timeoutMs = Number(args.values['timeout-ms'] ?? DEFAULT_TIMEOUT_MS)
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw new UsageError(`--timeout-ms must be a positive integer, got ${args.values['timeout-ms']}`)
  }
  let results
  if (args.values.car != null) {
    if (args.positionals.length > 0 || args.values['cids-file'] != null) {
      throw new UsageError('--car takes one root CID and no other CIDs')
    }
    results = await runCar(gateway, parseCid(args.values.car, '--car'), timeoutMs)
  } else {
    const cids = await readCids(args)
    if (cids.length === 0) throw new UsageError('no CIDs given: pass them as arguments or with --cids-file FILE')
    results = await runBlocks(gateway, cids, timeoutMs)
  }
  const failed = results.filter(r => !r.ok)
  const summary = { summary: true, total: results.length, ok: results.length - failed.length, failed: failed.length }
  console.log(JSON.stringify(summary))
  if (failed.length > 0) {
    console.error(`FAIL: ${failed.length} of ${results.length} CIDs failed; first: ${failed[0].cid}: ${failed[0].error}`)
    return EXIT_FAILED
  }
  return 0
}

main().then(code => { process.exitCode = code }, err => {
  if (err instanceof UsageError) {
    console.error(`usage error: ${err.message}\nusage: node fetch-blocks.mjs --gateway http://127.0.0.1:PORT [--timeout-ms N] (CID... [--cids-file FILE] | --car CID)`)
    process.exitCode = EXIT_USAGE
  } else {
    console.error(`FAIL: ${err.message}`)
    process.exitCode = EXIT_FAILED
  }
})
