#!/usr/bin/env node
// Writes every block of a CARv1 file to OUTDIR/<cid string>, for serving the
// blocks as static files in interop checks. Usage: node car-to-blocks.mjs CAR OUTDIR
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CarBlockIterator } from '@ipld/car/iterator'

const [carPath, outDir] = process.argv.slice(2)
if (carPath == null || outDir == null) {
  console.error('usage: node car-to-blocks.mjs CAR OUTDIR')
  process.exit(2)
}
try {
  const iterator = await CarBlockIterator.fromBytes(await readFile(carPath))
  await mkdir(outDir, { recursive: true })
  let count = 0
  for await (const { cid, bytes } of iterator) {
    await writeFile(join(outDir, cid.toString()), bytes)
    count++
  }
  console.log(`${carPath}: wrote ${count} blocks to ${outDir}`)
} catch (err) {
  console.error(`${carPath}: ${err.message}`)
  process.exit(1)
}
