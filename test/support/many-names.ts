import {expect} from 'chai'
import {linkSync, mkdirSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import type {Message} from '../../src/core/protocol/message.js'
import type {OutgoingMessage} from '../../src/core/protocol/message-writer.js'
import type {PickleValue} from '../../src/core/protocol/values.js'
import {request} from '../integration/server-harness.js'

/** A 1x1 PNG (signature and IHDR), the smallest image the name rules and a sniffer accept. */
const TINY_PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex')
/** ext4 allows 65,000 links to one file. */
const LINKS_PER_FILE = 50_000

/** The name of image `index`: `nameBytes` ASCII bytes, sorting in index order. */
export function manyName(index: number, nameBytes: number): string {
  const stem = `${String(index).padStart(8, '0')}-`
  return stem + 'x'.repeat(nameBytes - stem.length - 4) + '.png'
}

/**
 * Fills `dir` with `count` tiny PNGs named by {@link manyName}, as hard links to a few files: 70,000
 * images in seconds, where as many PUTs take a minute. FsStore indexes them when it opens the folder.
 */
export function fillStore(dir: string, count: number, nameBytes = 240): void {
  mkdirSync(dir, {recursive: true})
  const seeds = path.join(dir, '.seeds')
  mkdirSync(seeds, {recursive: true})
  try {
    for (let i = 0; i < count; i++) {
      const seed = path.join(seeds, `${Math.floor(i / LINKS_PER_FILE)}.png`)
      if (i % LINKS_PER_FILE === 0) writeFileSync(seed, TINY_PNG)
      linkSync(seed, path.join(dir, manyName(i, nameBytes)))
    }
  } finally {
    rmSync(seeds, {recursive: true, force: true})
  }
}

/** A LIST request; for an iss (VERSION) client with extension keys such as AFTER and LIMIT. */
export function listRequest(extra: Record<string, PickleValue> = {}, version = true): OutgoingMessage {
  const message = request('LIST', null, null, version)
  return version ? {...message, extra: {...message.extra, ...extra}} : message
}

/** The names of an OK listing (fails the test otherwise). */
export function listedNames(message: Message): string[] {
  expect(message.STATUS, String(message.DETAILS)).to.equal('OK')
  expect(message.DETAILS).to.be.an('array')
  return message.DETAILS as string[]
}
