// The Bitswap message on the wire, written by hand from the spec (ipfs/specs
// bitswap-protocol.md): unsigned varints, length-prefixed framing, and the protobuf Message
//   Message { Wantlist wantlist = 1; repeated bytes blocks = 2; repeated Block payload = 3;
//             repeated BlockPresence blockPresences = 4; int32 pendingBytes = 5; }
//   Wantlist { repeated Entry entries = 1; bool full = 2; }
//   Entry { bytes block = 1; int32 priority = 2; bool cancel = 3; WantType wantType = 4;
//           bool sendDontHave = 5; }      WantType: Block = 0, Have = 1
//   Block { bytes prefix = 1; bytes data = 2; }
//   BlockPresence { bytes cid = 1; BlockPresenceType type = 2; }   Have = 0, DontHave = 1
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'

const WIRE_VARINT = 0
const WIRE_BYTES = 2
const SHA2_256 = 0x12

export function encodeVarint (value) {
  const out = []
  let v = BigInt(value)
  do {
    let byte = Number(v & 0x7fn)
    v >>= 7n
    if (v > 0n) byte |= 0x80
    out.push(byte)
  } while (v > 0n)
  return Uint8Array.from(out)
}

// The varint at `offset` of `bytes`: {value, next}, or null when `bytes` ends inside it.
export function decodeVarint (bytes, offset) {
  let value = 0n
  for (let i = 0; i < 10; i++) {
    if (offset + i >= bytes.length) return null
    const byte = bytes[offset + i]
    value |= BigInt(byte & 0x7f) << BigInt(7 * i)
    if ((byte & 0x80) === 0) return { value: Number(value), next: offset + i + 1 }
  }
  throw new Error(`varint longer than 10 bytes at offset ${offset}`)
}

function concat (parts) {
  const total = parts.reduce((n, p) => n + p.length, 0)
  const out = new Uint8Array(total)
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return out
}

function varintField (field, value) {
  return concat([encodeVarint((field << 3) | WIRE_VARINT), encodeVarint(value)])
}

function bytesField (field, bytes) {
  return concat([encodeVarint((field << 3) | WIRE_BYTES), encodeVarint(bytes.length), bytes])
}

// entries: [{cid: CID, priority, cancel, wantType: 'block'|'have', sendDontHave}]
export function encodeWantlistMessage (entries, { full = false } = {}) {
  const encodedEntries = entries.map((e) => {
    const parts = [bytesField(1, e.cid.bytes), varintField(2, e.priority ?? 1)]
    if (e.cancel) parts.push(varintField(3, 1))
    if (e.wantType === 'have') parts.push(varintField(4, 1))
    if (e.sendDontHave) parts.push(varintField(5, 1))
    return bytesField(1, concat(parts))
  })
  const wantlist = concat([...encodedEntries, ...(full ? [varintField(2, 1)] : [])])
  return bytesField(1, wantlist)
}

// A message behind its uvarint length.
export function lengthPrefixed (message) {
  return concat([encodeVarint(message.length), message])
}

// The fields of one protobuf message: [{field, value}] with value a number or a Uint8Array.
function parseFields (bytes) {
  const fields = []
  let at = 0
  while (at < bytes.length) {
    const key = decodeVarint(bytes, at)
    if (key == null) throw new Error(`truncated field key at offset ${at}`)
    const field = key.value >>> 3
    const wire = key.value & 7
    if (wire === WIRE_VARINT) {
      const v = decodeVarint(bytes, key.next)
      if (v == null) throw new Error(`truncated varint of field ${field}`)
      fields.push({ field, value: v.value })
      at = v.next
    } else if (wire === WIRE_BYTES) {
      const len = decodeVarint(bytes, key.next)
      if (len == null || len.next + len.value > bytes.length) throw new Error(`truncated bytes of field ${field}`)
      fields.push({ field, value: bytes.subarray(len.next, len.next + len.value) })
      at = len.next + len.value
    } else {
      throw new Error(`unsupported wire type ${wire} for field ${field}`)
    }
  }
  return fields
}

// The CID a Block's prefix and data make: the prefix is uvarint version, codec, multihash code
// and digest length; the data is re-hashed, so a wrong block gives another CID. Only sha2-256
// is hashed here; other hashes give null.
async function blockCid (prefix, data) {
  const fields = []
  let at = 0
  for (let i = 0; i < 4; i++) {
    const v = decodeVarint(prefix, at)
    if (v == null) throw new Error('truncated block prefix')
    fields.push(v.value)
    at = v.next
  }
  const [version, codec, hashCode] = fields
  if (hashCode !== SHA2_256) return null
  const digest = await sha256.digest(data)
  return version === 0 ? CID.createV0(digest) : CID.createV1(codec, digest)
}

// Decodes a Message into {wantlist: {entries, full}, blocks: [{cid, data}], presences:
// [{cid, type}], pendingBytes}. CIDs are strings (null when a block's hash is not sha2-256).
export async function decodeMessage (bytes) {
  const message = { wantlist: { entries: [], full: false }, blocks: [], presences: [], pendingBytes: 0 }
  for (const { field, value } of parseFields(bytes)) {
    if (field === 1) {
      for (const w of parseFields(value)) {
        if (w.field === 2) message.wantlist.full = w.value !== 0
        if (w.field !== 1) continue
        const entry = { cid: null, priority: 0, cancel: false, wantType: 'block', sendDontHave: false }
        for (const e of parseFields(w.value)) {
          if (e.field === 1) entry.cid = CID.decode(e.value).toString()
          if (e.field === 2) entry.priority = e.value
          if (e.field === 3) entry.cancel = e.value !== 0
          if (e.field === 4) entry.wantType = e.value === 1 ? 'have' : 'block'
          if (e.field === 5) entry.sendDontHave = e.value !== 0
        }
        message.wantlist.entries.push(entry)
      }
    } else if (field === 2) {
      const digest = await sha256.digest(value)
      message.blocks.push({ cid: CID.createV0(digest).toString(), data: value })
    } else if (field === 3) {
      let prefix = new Uint8Array(0)
      let data = new Uint8Array(0)
      for (const b of parseFields(value)) {
        if (b.field === 1) prefix = b.value
        if (b.field === 2) data = b.value
      }
      const cid = await blockCid(prefix, data)
      message.blocks.push({ cid: cid?.toString() ?? null, data })
    } else if (field === 4) {
      const presence = { cid: null, type: 'have' }
      for (const p of parseFields(value)) {
        if (p.field === 1) presence.cid = CID.decode(p.value).toString()
        if (p.field === 2) presence.type = p.value === 1 ? 'dont_have' : 'have'
      }
      message.presences.push(presence)
    } else if (field === 5) {
      message.pendingBytes = value
    }
  }
  return message
}

// Splits a growing byte buffer into length-prefixed messages: push() chunks, then take
// complete messages from messages(). Refuses a message longer than `maxBytes`.
export class LengthPrefixedReader {
  constructor (maxBytes) {
    this.maxBytes = maxBytes
    this.buffer = new Uint8Array(0)
  }

  push (chunk) {
    this.buffer = this.buffer.length === 0 ? chunk : concat([this.buffer, chunk])
  }

  * messages () {
    for (;;) {
      const len = decodeVarint(this.buffer, 0)
      if (len == null) return
      if (len.value > this.maxBytes) throw new Error(`message of ${len.value} bytes exceeds ${this.maxBytes}`)
      if (this.buffer.length < len.next + len.value) return
      const message = this.buffer.slice(len.next, len.next + len.value)
      this.buffer = this.buffer.subarray(len.next + len.value)
      yield message
    }
  }
}
