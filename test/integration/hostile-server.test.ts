// A live server against hostile pickles and hostile names: each draws an ERROR with the right code or a
// write confined to the store; nothing runs (the pickles would `touch` a canary); the server keeps serving.
import {expect} from 'chai'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Writable} from 'node:stream'
import pino from 'pino'

import {frameHeader} from '../../src/core/protocol/frame-header.js'
import {encodeFrame} from '../../src/core/protocol/message-writer.js'
import {Op} from '../../src/core/protocol/opcodes.js'
import {createIssServer, type IssServer} from '../../src/core/server-app.js'
import {cpythonCorpus} from '../fuzz/corpus.js'
import {
  corePlugin,
  eventually,
  jpeg,
  loadModule,
  png,
  RawClient,
  request,
  roundTrip,
  testConfig,
} from './server-harness.js'

const MALFORMED = 'E_MALFORMED'
const TOO_LARGE = 'E_TOO_LARGE'

// ---- hand-made pickles (protocol 4 unless said otherwise)

function u(s: string): Buffer {
  const b = Buffer.from(s, 'utf8')
  return b.length < 256
    ? Buffer.concat([Buffer.from([Op.SHORT_BINUNICODE, b.length]), b])
    : Buffer.concat([Buffer.from([Op.BINUNICODE]), u32(b.length), b])
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(n)
  return b
}

function raw(s: string): Buffer {
  return Buffer.from(s, 'latin1')
}

/** A LIST request whose DETAILS (or `key`) is `value`: the hostile part sits inside an otherwise fine message. */
function message(value: Buffer, key = 'DETAILS'): Buffer {
  return Buffer.concat([
    Buffer.from([Op.PROTO, 4, Op.EMPTY_DICT, Op.MARK]),
    u('COMMAND'),
    u('LIST'),
    u('STATUS'),
    u('REQUEST'),
    u(key),
    value,
    Buffer.from([Op.SETITEMS, Op.STOP]),
  ])
}

function call(module: string, name: string, args: Buffer, form: 'GLOBAL' | 'STACK_GLOBAL'): Buffer {
  const callable =
    form === 'GLOBAL'
      ? raw(`c${module}\n${name}\n`)
      : Buffer.concat([u(module), u(name), Buffer.from([Op.STACK_GLOBAL])])
  return Buffer.concat([callable, Buffer.from([Op.MARK]), args, Buffer.from([Op.TUPLE, Op.REDUCE])])
}

function nested(depth: number): Buffer {
  // [[[...]]]: EMPTY_LIST then each list appended into the one below.
  const open = Buffer.alloc(depth, Op.EMPTY_LIST)
  const close = Buffer.alloc(depth - 1, Op.APPEND)
  return Buffer.concat([open, close])
}

interface HostilePickle {
  name: string
  pickle: Buffer
  code: string
  /** A validation rejection keeps the connection; everything else closes it. */
  keepsConnection?: boolean
  /** What DETAILS must mention. */
  details?: RegExp
  /**
   * Send a good request first so the connection's byte order is known. On a first frame, a pickle
   * that ends without STOP makes the header's other reading (hundreds of MB) the right one: E_TOO_LARGE.
   */
  afterFirstRequest?: boolean
}

function handMade(canary: string): HostilePickle[] {
  const touch = u(`touch ${canary}`)
  const list: HostilePickle[] = []
  for (const form of ['GLOBAL', 'STACK_GLOBAL'] as const) {
    for (const [module, name] of [
      ['os', 'system'],
      ['posix', 'system'],
      ['nt', 'system'],
      ['builtins', 'eval'],
      ['builtins', 'exec'],
      ['builtins', 'getattr'],
      ['builtins', '__import__'],
      ['__builtin__', 'eval'],
      ['subprocess', 'Popen'],
      ['subprocess', 'check_output'],
    ]) {
      list.push({
        name: `${form} ${module}.${name}`,
        pickle: message(call(module, name, touch, form)),
        code: MALFORMED,
        details: new RegExp(`${module}\\.${name.replaceAll('_', '_')}`),
      })
    }
  }

  const more: Array<[string, Buffer, string, RegExp?]> = [
    [
      'REDUCE of a str (not an allowed callable)',
      Buffer.concat([u('os.system'), touch, Buffer.from([Op.TUPLE1, Op.REDUCE])]),
      MALFORMED,
      /REDUCE/,
    ],
    ['REDUCE of a list', Buffer.concat([Buffer.from([Op.EMPTY_LIST, Op.EMPTY_TUPLE, Op.REDUCE])]), MALFORMED, /REDUCE/],
    [
      'builtins.bytes(10**9) (an int argument)',
      call('builtins', 'bytes', raw('J\u{0}\u{CA}\u{9A}\u{3B}'), 'GLOBAL'),
      MALFORMED,
      /bytes/,
    ],
    [
      "_codecs.encode(str, 'utf-8')",
      call('_codecs', 'encode', Buffer.concat([u('x'), u('utf-8')]), 'GLOBAL'),
      MALFORMED,
      /encode/,
    ],
    ['allowed global not applied (bytes stored as a value)', raw('c__builtin__\nbytes\n'), MALFORMED, /bytes/],
    ['BUILD', Buffer.from([Op.EMPTY_DICT, Op.EMPTY_DICT, Op.BUILD]), MALFORMED, /BUILD/],
    ['INST', Buffer.concat([Buffer.from([Op.MARK]), touch, raw(`ios\nsystem\n`)]), MALFORMED, /INST/],
    ['OBJ', Buffer.from([Op.MARK, Op.NONE, Op.OBJ]), MALFORMED, /OBJ/],
    ['NEWOBJ', Buffer.from([Op.NONE, Op.EMPTY_TUPLE, Op.NEWOBJ]), MALFORMED, /NEWOBJ/],
    ['NEWOBJ_EX', Buffer.from([Op.NONE, Op.EMPTY_TUPLE, Op.EMPTY_DICT, Op.NEWOBJ_EX]), MALFORMED, /NEWOBJ_EX/],
    ['PERSID', raw('Pos.system\n'), MALFORMED, /PERSID/],
    ['BINPERSID', Buffer.concat([touch, Buffer.from([Op.BINPERSID])]), MALFORMED, /BINPERSID/],
    ['EXT1', Buffer.from([Op.EXT1, 1]), MALFORMED, /EXT1/],
    ['EXT2', Buffer.from([Op.EXT2, 1, 0]), MALFORMED, /EXT2/],
    ['EXT4', Buffer.from([Op.EXT4, 1, 0, 0, 0]), MALFORMED, /EXT4/],
    ['NEXT_BUFFER', Buffer.from([Op.NEXT_BUFFER]), MALFORMED, /NEXT_BUFFER/],
    ['READONLY_BUFFER', Buffer.from([Op.SHORT_BINBYTES, 1, 0x61, Op.READONLY_BUFFER]), MALFORMED, /READONLY_BUFFER/],
    ['DUP', Buffer.from([Op.NONE, Op.DUP, Op.POP]), MALFORMED, /DUP/],
    ['EMPTY_SET + ADDITEMS', Buffer.from([Op.EMPTY_SET, Op.MARK, Op.NONE, Op.ADDITEMS]), MALFORMED, /EMPTY_SET/],
    ['FROZENSET', Buffer.from([Op.MARK, Op.NONE, Op.FROZENSET]), MALFORMED, /FROZENSET/],
    ['an undefined opcode byte 0xff', Buffer.from([0xff]), MALFORMED, /0xff/],
    ['nested 200 lists deep', nested(200), MALFORMED, /deep/],
    ['200 MARKs open', Buffer.alloc(200, Op.MARK), MALFORMED, /MARK/],
    [
      'a list that holds itself (memo cycle)',
      Buffer.from([Op.EMPTY_LIST, Op.BINPUT, 0, Op.BINGET, 0, Op.APPEND]),
      MALFORMED,
      /cycle/,
    ],
    [
      'a lone surrogate in a str',
      Buffer.from([Op.SHORT_BINUNICODE, 3, 0xed, 0xa0, 0x80]),
      MALFORMED,
      /surrogate|UTF-8/,
    ],
    ['an int of 5000 decimal digits', raw(`I${'9'.repeat(5000)}\n`), MALFORMED, /INT/],
    ['a LONG4 of 1 MiB', Buffer.concat([Buffer.from([Op.LONG4]), u32(1 << 20), Buffer.alloc(64)]), TOO_LARGE, /limit/],
    ['a str over 1 MiB', u('x'.repeat((1 << 20) + 10)), TOO_LARGE, /limit/],
    [
      'a BINUNICODE announcing 4 GiB - 1',
      Buffer.concat([Buffer.from([Op.BINUNICODE]), u32(0xffff_ffff), raw('abc')]),
      TOO_LARGE,
      /limit/,
    ],
    [
      'a BINBYTES8 announcing 2^63',
      Buffer.concat([Buffer.from([Op.BINBYTES8]), Buffer.from('0000000000000080', 'hex')]),
      TOO_LARGE,
      /limit/,
    ],
    ['a memo index of 2^32 - 1 never set', Buffer.from([Op.LONG_BINGET, 0xff, 0xff, 0xff, 0xff]), MALFORMED, /memo/],
  ]
  for (const [name, value, code, details] of more) list.push({name, pickle: message(value), code, details})

  const whole: Array<[string, Buffer, string, RegExp?]> = [
    ['top-level list', raw('\u{80}\u{4}]\u{94}.'), MALFORMED, /list/],
    ['top-level str', Buffer.concat([raw('\u{80}\u{4}'), u('PUT'), raw('.')]), MALFORMED, /str/],
    ['top-level int', raw('\u{80}\u{4}K\u{5}.'), MALFORMED, /int/],
    ['top-level None', raw('\u{80}\u{4}N.'), MALFORMED, /None/],
    ['top-level tuple', raw('\u{80}\u{4}).'), MALFORMED, /tuple/],
    ['top-level OrderedDict', raw('\u{80}\u{4}ccollections\nOrderedDict\n)R.'), MALFORMED, /OrderedDict/],
    ['protocol 6', raw('\u{80}\u{6}}.'), MALFORMED, /protocol/],
    ['truncated inside a value (frame ends before STOP)', message(u('x')).subarray(0, 30), MALFORMED],
    ['no STOP at all', raw('\u{80}\u{4}}'), MALFORMED],
    [
      'bytes after STOP inside the frame',
      raw('\u{80}\u{4}}.\u{0}\u{0}'),
      MALFORMED,
      /pickle ends at byte 4 of a 6-byte frame/,
    ],
    [
      'FILE_DATA twice',
      Buffer.concat([raw('\u{80}\u{4}}('), u('FILE_DATA'), raw('C\u{1}a'), u('FILE_DATA'), raw('C\u{1}b'), raw('u.')]),
      MALFORMED,
      /duplicate/,
    ],
    [
      'a memo reference to the streamed FILE_DATA',
      Buffer.concat([raw('\u{80}\u{4}}('), u('FILE_DATA'), raw('C\u{1}a\u{94}'), u('X'), raw('h\u{0}u.')]),
      MALFORMED,
      /streamed/,
    ],
  ]
  for (const [name, pickle, code, details] of whole) list.push({name, pickle, code, details})
  for (const hostile of list) if (/truncated|no STOP/.test(hostile.name)) hostile.afterFirstRequest = true
  list.push({
    name: 'truncated as a first frame',
    pickle: message(u('x')).subarray(0, 30),
    code: TOO_LARGE,
    details: /limit/,
  })

  // Valid pickles, wrong types: answered E_MALFORMED and the connection goes on.
  const wrongTypes: Array<[string, Buffer]> = [
    ['COMMAND', raw('K\u{5}')],
    ['STATUS', raw('C\u{3}abc')],
    ['FILENAME', raw(']\u{94}')],
    ['FILE_DATA', u('not bytes')],
    ['VERSION', u('1')],
    ['DETAILS', raw('}\u{94}')],
    ['CODE', raw('\u{88}')],
    ['COMMANDS', u('PUT')],
  ]
  for (const [key, value] of wrongTypes) {
    const entries = new Map<string, Buffer>([
      ['COMMAND', u('LIST')],
      ['STATUS', u('REQUEST')],
      [key, value],
    ])
    const pickle = Buffer.concat([raw('\u{80}\u{4}}('), ...[...entries].flatMap(([k, v]) => [u(k), v]), raw('u.')])
    list.push({name: `wrong type for ${key}`, pickle, code: MALFORMED, keepsConnection: true, details: new RegExp(key)})
  }

  list.push({
    name: 'an int dict key in the message',
    pickle: Buffer.concat([raw('\u{80}\u{4}}('), u('COMMAND'), u('LIST'), raw('K\u{1}'), u('one'), raw('u.')]),
    code: MALFORMED,
    keepsConnection: true,
    details: /keys/,
  })
  return list
}

// ---- hostile names

type Expect = 'E_BAD_NAME' | 'E_UNSUPPORTED_TYPE' | 'OK' | 'E_DUPLICATE'

function hostileNames(tag: string): Array<[string, Expect, string]> {
  return [
    [`../${tag}-up.png`, 'E_BAD_NAME', 'traversal, forward slash'],
    [`..\\${tag}-up.png`, 'E_BAD_NAME', 'traversal, backslash'],
    [`../../../../../../tmp/${tag}-deep.png`, 'E_BAD_NAME', 'deep traversal'],
    [`..\\..\\..\\${tag}-deep.png`, 'E_BAD_NAME', 'deep traversal, backslash'],
    [`sub/../${tag}.png`, 'E_BAD_NAME', 'traversal inside a path'],
    [`${tmpdir()}/${tag}-abs.png`, 'E_BAD_NAME', 'absolute POSIX path'],
    [`C:\\${tag}-drive.png`, 'E_BAD_NAME', 'drive path'],
    [`C:${tag}-drive.png`, 'E_BAD_NAME', 'drive-relative path'],
    [`\\\\server\\share\\${tag}.png`, 'E_BAD_NAME', 'UNC path'],
    [`\\\\?\\C:\\${tag}.png`, 'E_BAD_NAME', 'Win32 device path'],
    ['..', 'E_BAD_NAME', 'parent directory'],
    ['.', 'E_BAD_NAME', 'current directory'],
    ['...png', 'E_BAD_NAME', 'dots then extension (hidden)'],
    ['.iss-tmp', 'E_BAD_NAME', "the store's own temp folder"],
    ['.iss-lock.png', 'E_BAD_NAME', 'hidden, like the lock file'],
    ['', 'E_BAD_NAME', 'empty'],
    ['x\u{0}.png', 'E_BAD_NAME', 'NUL'],
    ['x.png\u{0}.jpg', 'E_BAD_NAME', 'NUL truncation'],
    ['a\nb.png', 'E_BAD_NAME', 'newline'],
    ['a\rb.png', 'E_BAD_NAME', 'carriage return'],
    ['\u{1B}[2Jclear.png', 'E_BAD_NAME', 'ANSI escape'],
    ['a\u{7F}b.png', 'E_BAD_NAME', 'DEL'],
    ['a\u{85}b.png', 'E_BAD_NAME', 'C1 next line'],
    ['CON.png', 'E_BAD_NAME', 'Windows console'],
    ['nul.jpg', 'E_BAD_NAME', 'NUL device, lower case'],
    ['LPT1.jpeg', 'E_BAD_NAME', 'printer'],
    ['com9.PNG', 'E_BAD_NAME', 'serial port'],
    ['AUX .png', 'E_BAD_NAME', 'device with a trailing space in the stem'],
    ['x.png.', 'E_BAD_NAME', 'trailing dot'],
    ['x.png ', 'E_BAD_NAME', 'trailing space'],
    ['x.png. . .', 'E_BAD_NAME', 'trailing dots and spaces'],
    ['a'.repeat(252) + '.png', 'E_BAD_NAME', '256 bytes'],
    ['\u{E9}'.repeat(126) + '.png', 'E_BAD_NAME', '256 bytes of two-byte characters'],
    ['a'.repeat(4000) + '.png', 'E_BAD_NAME', 'far too long'],
    ['..\u{2215}..\u{2215}x.png', 'E_BAD_NAME', 'division slash look-alike traversal'],
    ['a\u{FF0F}b.png', 'E_BAD_NAME', 'fullwidth solidus'],
    ['a\u{FF3C}b.png', 'E_BAD_NAME', 'fullwidth reverse solidus'],
    ['a\u{2044}b.png', 'E_BAD_NAME', 'fraction slash'],
    ['a\u{29F5}b.png', 'E_BAD_NAME', 'reverse solidus operator'],
    ['a\u{338}b.png', 'E_BAD_NAME', 'combining solidus overlay'],
    ['x\u{202E}gnp.exe.png', 'E_BAD_NAME', 'right-to-left override'],
    ['x:stream.png', 'E_BAD_NAME', 'NTFS alternate data stream'],
    ['x*.png', 'E_BAD_NAME', 'wildcard'],
    ['x.exe', 'E_UNSUPPORTED_TYPE', 'executable'],
    ['x.png.sh', 'E_UNSUPPORTED_TYPE', 'double extension, script last'],
    ['x.svg', 'E_UNSUPPORTED_TYPE', 'SVG (scriptable)'],
    ['x', 'E_UNSUPPORTED_TYPE', 'no extension'],
    // Odd but harmless: stored as given (NFC), inside the store.
    ['\u{2024}\u{2024}.png', 'OK', 'one-dot leaders that look like ..'],
    ['\u{FF0E}\u{FF0E}.png', 'OK', 'fullwidth full stops'],
    ['x..png', 'OK', 'double dot before the extension'],
    ['\u{200B}zero-width.png', 'OK', 'zero-width space'],
    ['caf\u{E9}.png', 'OK', 'NFC e-acute'],
    ['cafe\u{301}.png', 'E_DUPLICATE', 'NFD e-acute: the same identity as the NFC one'],
    ['CAF\u{C9}.PNG', 'E_DUPLICATE', 'upper case of the same name'],
    ['\u{2126}hm.png', 'OK', 'OHM SIGN (NFC turns it into GREEK CAPITAL OMEGA)'],
    ['\u{3A9}hm.png', 'E_DUPLICATE', 'GREEK CAPITAL OMEGA: the same identity as the OHM SIGN'],
    ['\u{212B}ngstrom.png', 'OK', 'ANGSTROM SIGN'],
    ['A\u{30A}ngstrom.png', 'E_DUPLICATE', 'A + combining ring: NFC equals the ANGSTROM SIGN form'],
    ['\u{E9}'.repeat(125) + '.png', 'OK', '254 bytes of UTF-8: just fits'],
    ['IMG_0001.JPG', 'OK', 'upper-case extension'],
  ]
}

/** Every path under `dir`, relative, sorted. */
function tree(dir: string, prefix = ''): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir, {withFileTypes: true})) {
    const rel = prefix + entry.name
    out.push(rel)
    if (entry.isDirectory()) out.push(...tree(join(dir, entry.name), rel + '/'))
  }

  return out.sort()
}

describe('iss serve against hostile pickles and hostile names (live server)', function () {
  this.timeout(120_000)
  let parent: string
  let storage: string
  let canary: string
  let server: IssServer
  let port: number
  const logLines: Array<Record<string, unknown>> = []

  before(async () => {
    // The store's parent is the canary folder: nothing may appear in it but the store.
    parent = mkdtempSync(join(tmpdir(), 'iss-hostile-'))
    storage = join(parent, 'store')
    mkdirSync(storage)
    canary = join(parent, 'PWNED')
    const config = testConfig(storage)
    const capture = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line))
        callback()
      },
    })
    const logger = pino({level: 'info', base: undefined}, capture)
    server = await createIssServer({config, plugins: [corePlugin()], load: loadModule, lingerMs: 1000, logger})
    port = (await server.listen()).port
  })

  after(async () => {
    await server?.close()
    rmSync(parent, {recursive: true, force: true})
  })

  /**
   * The code logged for the last request `client` made since log line `since` (peers are matched by
   * local port, which the OS reuses, hence `since`).
   */
  async function loggedCode(client: RawClient, since: number): Promise<string | null | undefined> {
    const peer = `127.0.0.1:${client.socket.localPort}`
    const mine = () =>
      logLines.slice(since).filter((l) => l.msg === 'request' && l.peer === peer && l.status === 'ERROR')
    await eventually(() => mine().length > 0, 5000)
    return mine().at(-1)?.code as string | null | undefined
  }

  async function stillServes(): Promise<void> {
    const answer = await roundTrip(port, request('LIST', null, null, true))
    expect(answer.STATUS, 'LIST after hostile input').to.equal('OK')
  }

  it('refuses at least 30 hand-made hostile pickles, each with its code and reason, and keeps serving', async () => {
    const pickles = handMade(canary)
    expect(pickles.length).to.be.at.least(30)
    const counts: Record<string, number> = {}
    for (const [i, hostile] of pickles.entries()) {
      const client = await RawClient.connect(port)
      const since = logLines.length
      try {
        const byteOrder = i % 2 === 0 ? 'big' : 'little'
        if (hostile.afterFirstRequest) {
          client.send(request('LIST'), {byteOrder})
          expect((await client.read()).STATUS).to.equal('OK')
        }

        await client.write(Buffer.concat([frameHeader(hostile.pickle.length, byteOrder), hostile.pickle]))
        const answer = await client.read()
        expect(answer.STATUS, hostile.name).to.equal('ERROR')
        expect(answer.DETAILS, hostile.name).to.be.a('string')
        if (hostile.details) expect(answer.DETAILS, hostile.name).to.match(hostile.details)
        expect(await loggedCode(client, since), hostile.name).to.equal(hostile.code)
        if (hostile.keepsConnection) {
          client.send(request('LIST'), {byteOrder})
          expect((await client.read()).STATUS, `${hostile.name}: same connection`).to.equal('OK')
        } else {
          expect(await client.waitClosed(5000), `${hostile.name}: closed after a fatal error`).to.equal(true)
        }

        counts[hostile.code] = (counts[hostile.code] ?? 0) + 1
      } finally {
        client.close()
      }

      if (i % 10 === 9) await stillServes()
    }

    console.log(`      ${pickles.length} hand-made hostile pickles: ${JSON.stringify(counts)}`)
    expect(existsSync(canary), 'the canary a code-running pickle would create').to.equal(false)
    await stillServes()
  })

  it('refuses every hostile pickle CPython wrote (__reduce__ to os.system, eval, exec, Popen...; OrderedDict; instances; sets) at protocols 0 to 5', async () => {
    const hostile = cpythonCorpus(canary).filter((e) => e.kind === 'hostile')
    expect(hostile.length).to.be.at.least(60)
    for (const entry of hostile) {
      const label = `${entry.name} p${entry.protocol}`
      const client = await RawClient.connect(port)
      const since = logLines.length
      try {
        await client.write(Buffer.concat([frameHeader(entry.pickle.length), entry.pickle]))
        const answer = await client.read()
        expect(answer.STATUS, label).to.equal('ERROR')
        expect(answer.DETAILS, label).to.match(/^Malformed message: refused/)
        expect(await loggedCode(client, since), label).to.equal(MALFORMED)
        expect(await client.waitClosed(5000), label).to.equal(true)
      } finally {
        client.close()
      }
    }

    console.log(`      ${hostile.length} CPython-made hostile pickles refused`)
    expect(existsSync(canary)).to.equal(false)
    await stillServes()
  })

  it('a __proto__ key is plain data: no prototype pollution, the request is served', async () => {
    const pickle = Buffer.concat([
      raw('\u{80}\u{4}}('),
      u('COMMAND'),
      u('LIST'),
      u('STATUS'),
      u('REQUEST'),
      u('__proto__'),
      raw('}('),
      u('polluted'),
      raw('\u{88}u'),
      u('constructor'),
      raw('}('),
      u('prototype'),
      raw('}u'),
      raw('u.'),
    ])
    const client = await RawClient.connect(port)
    await client.write(Buffer.concat([frameHeader(pickle.length), pickle]))
    expect((await client.read()).STATUS).to.equal('OK')
    client.close()
    const fresh: Record<string, unknown> = {}
    expect(fresh.polluted).to.equal(undefined)
    expect(Object.prototype).to.not.have.property('polluted')
  })

  it('at least 40 hostile or odd names: an ERROR with the right code, or a file inside the store only', async () => {
    const tag = `iss-hostile-${process.pid}`
    const names = hostileNames(tag)
    expect(names.length).to.be.at.least(40)
    const parentBefore = tree(parent)
    const tmpBefore = new Set(readdirSync(tmpdir()))
    const stored: string[] = []
    const counts: Record<string, number> = {}
    const client = await RawClient.connect(port)
    for (const [i, [name, expected, why]] of names.entries()) {
      const data = /\.jpe?g$/i.test(name) ? jpeg(300, i) : png(300, i)
      client.send(request('PUT', name, data, true), {protocol: i % 2 === 0 ? 4 : 2})
      const answer = await client.read()
      const got = answer.STATUS === 'OK' ? 'OK' : answer.CODE
      expect(got, `${why}: ${JSON.stringify(name.slice(0, 60))} -> ${String(answer.DETAILS)}`).to.equal(expected)
      counts[expected] = (counts[expected] ?? 0) + 1
      if (got === 'OK') {
        stored.push(name.normalize('NFC'))
        // FILENAME in the answer is the stored (NFC) name, and GET by the name as sent gives the bytes back.
        expect(answer.FILENAME).to.equal(name.normalize('NFC'))
        client.send(request('GET', name, null, true))
        const get = await client.read()
        expect(get.STATUS).to.equal('OK')
        expect(Buffer.isBuffer(get.FILE_DATA) && get.FILE_DATA.equals(data), `GET ${why}`).to.equal(true)
      }
    }

    client.close()
    console.log(`      ${names.length} hostile or odd names: ${JSON.stringify(counts)}`)

    // Confined: the store holds exactly the accepted names; nothing else appeared next to it or in /tmp.
    const visible = readdirSync(storage).filter((n) => !n.startsWith('.'))
    expect(visible.sort()).to.deep.equal([...stored].sort())
    for (const name of stored) expect(readFileSync(join(storage, name)).length).to.equal(300)
    const parentAfter = tree(parent).filter((p) => !p.startsWith('store/'))
    expect(parentAfter).to.deep.equal(parentBefore.filter((p) => !p.startsWith('store/')))
    const newInTmp = readdirSync(tmpdir()).filter((n) => !tmpBefore.has(n) && n.includes(tag))
    expect(newInTmp).to.deep.equal([])
    for (const [name] of names) {
      if (!['', '.', '..'].includes(name) && name.length < 200 && !name.includes('\u{0}'))
        expect(existsSync(join(process.cwd(), name)), name).to.equal(false)
    }

    expect(existsSync(join(tmpdir(), `${tag}-abs.png`))).to.equal(false)
    expect(existsSync(canary)).to.equal(false)
    const list = await roundTrip(port, request('LIST', null, null, true))
    expect(list.DETAILS).to.have.members(stored)
  })

  it('keeps serving a normal PUT and GET on a new connection after all of it', async () => {
    const image = png(5000, 99)
    expect((await roundTrip(port, request('PUT', 'after-the-storm.png', image, true))).STATUS).to.equal('OK')
    const get = await roundTrip(port, request('GET', 'after-the-storm.png', null, true))
    expect(Buffer.isBuffer(get.FILE_DATA) && get.FILE_DATA.equals(image)).to.equal(true)
    expect(encodeFrame(request('LIST'), {protocol: 4}).length).to.be.greaterThan(4)
  })
})
