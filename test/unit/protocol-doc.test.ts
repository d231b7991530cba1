import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'

import {expect} from 'chai'

import {DEFAULT_MAX_SIZE, maxFrameBytes} from '../../src/core/config.js'
import {ERROR_CODE_SUMMARY, isIssError} from '../../src/core/errors.js'
import {encodeFrame} from '../../src/core/protocol/message-writer.js'
import {Op, type OpName, opName} from '../../src/core/protocol/opcodes.js'
import {DEFAULT_PICKLE_LIMITS, decodePickle} from '../../src/core/protocol/pickle-decoder.js'
import {python} from '../fixtures/pickle/typed-values.js'

/** The repository's docs/protocol.md, whether this file runs from test/unit or compiled from dist/test/unit. */
function docPath(): string {
  for (let dir = __dirname, i = 0; i < 6; dir = path.dirname(dir), i++) {
    const candidate = path.join(dir, 'docs', 'protocol.md')
    if (existsSync(candidate)) return candidate
  }

  throw new Error(`docs/protocol.md not found above ${__dirname}`)
}

const doc = readFileSync(docPath(), 'utf8')

/** The text of the `## title` section, up to the next `## `. */
function section(title: string): string {
  const start = doc.indexOf(`\n## ${title}\n`)
  expect(start, `section ${title}`).to.be.greaterThan(-1)
  const end = doc.indexOf('\n## ', start + 1)
  return doc.slice(start, end === -1 ? undefined : end)
}

/** The hex bytes of a fenced block: the leading run of two-digit hex pairs on each line. */
function hexOfBlock(block: string): Buffer {
  const bytes: string[] = []
  for (const line of block.split('\n')) {
    const match = /^((?:[0-9a-f]{2} )*[0-9a-f]{2})(?: {2,}|$)/.exec(line)
    if (match) bytes.push(...match[1].split(' '))
  }
  return Buffer.from(bytes.join(''), 'hex')
}

function codeBlocks(text: string): string[] {
  return [...text.matchAll(/```\n([\s\S]*?)```/g)].map((match) => match[1])
}

/** Opcode names listed in a text, as whole words. */
function opNamesIn(text: string): OpName[] {
  return (Object.keys(Op) as OpName[]).filter((name) => new RegExp(`(?<![A-Z_0-9])${name}(?![A-Z_0-9])`).test(text))
}

describe('docs/protocol.md', () => {
  describe('error codes', () => {
    const rows = new Map(
      [...section('Error codes').matchAll(/^\| `(E_[A-Z_]+)` \| ([^|]+) \| ([^|]+) \|$/gm)].map((m) => [
        m[1],
        {meaning: m[2].trim(), example: m[3].trim()},
      ]),
    )

    it('documents every code of the catalogue, with its meaning and a DETAILS example', () => {
      for (const [code, summary] of Object.entries(ERROR_CODE_SUMMARY)) {
        const row = rows.get(code)
        expect(row, `${code} has a row`).to.not.equal(undefined)
        expect(row!.meaning.startsWith(summary), `${code} meaning starts with the catalogue's summary`).to.equal(true)
        expect(row!.example, `${code} DETAILS example`).to.match(/^`.+`/)
      }
    })

    it('documents no code the catalogue lacks', () => {
      expect([...rows.keys()].sort()).to.deep.equal(Object.keys(ERROR_CODE_SUMMARY).sort())
    })
  })

  describe('hex example', () => {
    const blocks = codeBlocks(section('Hex example'))

    it("shows CPython's protocol 4 pickle of the seed example exactly, framed", () => {
      const script = String.raw`
import pickle, struct, sys
p = pickle.dumps({'COMMAND': 'PUT', 'STATUS': 'REQUEST', 'DETAILS': None, 'FILENAME': 'image.png', 'FILE_DATA': b'\x89PNG\r\n\x1a\n'}, protocol=4)
sys.stdout.write((struct.pack('>I', len(p)) + p).hex())
`
      expect(hexOfBlock(blocks[0]).toString('hex')).to.equal(python(script).toString())
    })

    it('shows exactly what encodeFrame writes for it', () => {
      const ours = encodeFrame({
        COMMAND: 'PUT',
        STATUS: 'REQUEST',
        DETAILS: null,
        FILENAME: 'image.png',
        FILE_DATA: Buffer.from('89504e470d0a1a0a', 'hex'),
      })
      expect(hexOfBlock(blocks[1]).toString('hex')).to.equal(ours.toString('hex'))
    })
  })

  describe('opcodes', () => {
    const text = section('What the decoder accepts and refuses')
    const accepted = opNamesIn(text.slice(text.indexOf('Accepted opcodes'), text.indexOf('Globals, each')))
    const refused = opNamesIn(text.slice(text.indexOf('Refused, each')))

    it('places every opcode of opcodes.ts in exactly one list, accepted or refused', () => {
      const both = accepted.filter((name) => refused.includes(name) && name !== 'REDUCE')
      expect(both, 'listed as both').to.deep.equal([])
      const missing = (Object.keys(Op) as OpName[]).filter(
        (name) => !accepted.includes(name) && !refused.includes(name),
      )
      expect(missing, 'listed nowhere').to.deep.equal([])
    })

    /** The decoder's error for PROTO 4, EMPTY_DICT, MARK, NONE, then the opcode and room for its argument. */
    function errorFor(code: number): Error {
      const input = Buffer.concat([Buffer.from([Op.PROTO, 4, Op.EMPTY_DICT, Op.MARK, Op.NONE, code]), Buffer.alloc(16)])
      try {
        decodePickle(input)
      } catch (error) {
        expect(isIssError(error), `${opName(code)} fails with an IssError`).to.equal(true)
        return error as Error
      }

      return expect.fail(`${opName(code)} followed by zeros decoded`)
    }

    it('matches the decoder: each refused opcode is refused by name', () => {
      for (const name of refused.filter((n) => n !== 'REDUCE')) {
        expect(errorFor(Op[name]).message, name).to.contain(`refused opcode ${name}`)
      }
    })

    it('matches the decoder: no accepted opcode is refused', () => {
      for (const name of accepted) expect(errorFor(Op[name]).message, name).to.not.contain('refused opcode')
    })

    it('matches the decoder: REDUCE on anything but an allowed global, and any other global, are refused', () => {
      const reduce = Buffer.from([Op.PROTO, 2, Op.NONE, Op.EMPTY_TUPLE, Op.REDUCE, Op.STOP])
      expect(() => decodePickle(reduce)).to.throw(/refused opcode REDUCE/)
      const global = Buffer.concat([
        Buffer.from([Op.PROTO, 2, Op.GLOBAL]),
        Buffer.from('os\nsystem\n'),
        Buffer.from([Op.STOP]),
      ])
      expect(() => decodePickle(global)).to.throw(/refused global os.system/)
      expect(text).to.contain("`_codecs.encode(str, 'latin1')`")
    })
  })

  describe('limits', () => {
    const limits = section('Limits')
    const row = (label: string) => {
      const line = limits.split('\n').find((l) => l.startsWith(`| ${label}`))
      expect(line, `limits row ${label}`).to.not.equal(undefined)
      return line!
    }

    it('states the default frame limit derived from the default image limit', () => {
      expect(row('frame size')).to.contain(maxFrameBytes(DEFAULT_MAX_SIZE).toLocaleString('en-US'))
      expect(row('image size (decoded FILE_DATA)')).to.contain(DEFAULT_MAX_SIZE.toLocaleString('en-US'))
    })

    it("states the decoder's default limits", () => {
      expect(row('nesting depth')).to.contain(`| ${DEFAULT_PICKLE_LIMITS.maxDepth} |`)
      expect(row('values in one pickle')).to.contain(`| ${DEFAULT_PICKLE_LIMITS.maxItems.toLocaleString('en-US')} |`)
      expect(DEFAULT_PICKLE_LIMITS.maxStringBytes).to.equal(1024 * 1024)
      expect(row('one str or bytes value that is not streamed')).to.contain('| 1 MiB |')
      expect(DEFAULT_PICKLE_LIMITS.maxTotalBytes).to.equal(16 * 1024 * 1024)
      expect(row('total decoded size')).to.contain('| 16 MiB |')
    })
  })
})
