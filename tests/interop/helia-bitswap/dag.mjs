// The blocks of a DAG in a local blockstore, and a CAR of them: what the tests compare with the
// blocks boxcar holds. dag-pb links are followed; raw blocks are leaves.
import { createWriteStream } from 'node:fs'
import { once } from 'node:events'
import { CarWriter } from '@ipld/car'
import * as dagPb from '@ipld/dag-pb'
import * as raw from 'multiformats/codecs/raw'

async function blockBytes (blockstore, cid, signal) {
  const chunks = []
  for await (const chunk of blockstore.get(cid, { offline: true, signal })) chunks.push(chunk)
  return Buffer.concat(chunks)
}

// Every block under `root`, depth first, each once; throws naming a block the store lacks or a
// codec this walker does not know.
export async function dagBlockCids (blockstore, root, signal) {
  const seen = new Set()
  const order = []
  const pending = [root]
  while (pending.length > 0) {
    const cid = pending.pop()
    const key = cid.toString()
    if (seen.has(key)) continue
    seen.add(key)
    if (!(await blockstore.has(cid))) throw new Error(`the DAG under ${root} lacks block ${key}`)
    order.push(cid)
    if (cid.code === raw.code) continue
    if (cid.code !== dagPb.code) throw new Error(`block ${key} has codec 0x${cid.code.toString(16)}; only dag-pb and raw are walked`)
    const node = dagPb.decode(await blockBytes(blockstore, cid, signal))
    for (let i = node.Links.length - 1; i >= 0; i--) pending.push(node.Links[i].Hash)
  }
  return order
}

// Writes a CARv1 with `root` as its root and `blocks` in order to `out`.
export async function writeCar (blockstore, root, blocks, out, signal) {
  const { writer, out: carBytes } = CarWriter.create([root])
  const file = createWriteStream(out)
  const copy = (async () => {
    for await (const chunk of carBytes) {
      if (!file.write(chunk)) await once(file, 'drain')
    }
    file.end()
    await once(file, 'close')
  })()
  for (const cid of blocks) await writer.put({ cid, bytes: await blockBytes(blockstore, cid, signal) })
  await writer.close()
  await copy
}
