// Resource exhaustion against `iss serve` (the built CLI in its own process, so its memory is its own):
// a flood of idle connections plus a slow sender, a header announcing 4 GiB - 1, and a disk that fills up.
// Covered elsewhere, not repeated here: E_BUSY with every connection busy (server-limits.test.ts), the
// minimum rate (server-limits.test.ts), a full disk at the store level (fs-store-disk-full.test.ts).
import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {frameHeader} from '../../src/core/protocol/frame-header.js'
import {encodeFrame} from '../../src/core/protocol/message-writer.js'
import {Op} from '../../src/core/protocol/opcodes.js'
import {removeDir, startIssServer, tempDir, type RunningServer as CliServer} from '../e2e/cli-harness.js'
import {eventually, png, RawClient, request, roundTrip, startServer} from './server-harness.js'

const MiB = 1024 * 1024

/** A process's resident set now and at its peak, from /proc (bytes). */
function rssOf(pid: number): {rss: number; peak: number} {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024
  return {rss: field('VmRSS'), peak: field('VmHWM')}
}

function visible(dir: string): string[] {
  return readdirSync(dir).filter((name) => !name.startsWith('.'))
}

describe('exhaustion: connections, announced sizes, disk space', function () {
  this.timeout(120_000)
  const cleanup: Array<() => Promise<void> | void> = []

  afterEach(async () => {
    for (const step of cleanup.splice(0).toReversed()) await step()
  })

  async function cliServer(args: string[]): Promise<{server: CliServer; storage: string}> {
    const storage = tempDir('exhaust')
    cleanup.push(() => {
      removeDir(storage)
    })
    const server = await startIssServer(storage, ['--min-free', '0', '--log-level', 'warn', ...args])
    cleanup.push(async () => server.stop())
    return {server, storage}
  }

  it('1,000 idle connections and a slow sender do not keep a normal client from being served within 2 s', async () => {
    // --max-connections under 1,000, so that the longest-idle connections are closed to make room.
    const {server} = await cliServer(['--max-connections', '400'])
    const slow = await RawClient.connect(server.port)
    cleanup.push(() => {
      slow.close()
    })
    const slowFrame = encodeFrame(request('PUT', 'slow.png', png(50_000)), {protocol: 4})
    await slow.write(slowFrame.subarray(0, 100))
    let trickled = 100
    const trickle = setInterval(() => {
      if (!slow.closed && trickled < slowFrame.length) void slow.write(slowFrame.subarray(trickled, ++trickled))
    }, 100)
    cleanup.push(() => {
      clearInterval(trickle)
    })

    const idle: RawClient[] = []
    cleanup.push(() => {
      for (const client of idle) client.close()
    })
    for (let batch = 0; batch < 10; batch++) {
      idle.push(...(await Promise.all(Array.from({length: 100}, async () => RawClient.connect(server.port)))))
    }

    expect(idle).to.have.length(1000)
    // The server made room: the oldest idle connections were closed, the newest kept.
    expect(await eventually(() => idle.filter((c) => c.closed).length >= 1000 - 400, 10_000)).to.equal(true)
    expect(
      idle.slice(-300).every((c) => !c.closed),
      'the newest idle connections stay',
    ).to.equal(true)

    const timings: number[] = []
    for (const command of ['LIST', 'PUT', 'GET'] as const) {
      const image = png(100_000, 3)
      const started = Date.now()
      const answer = await roundTrip(
        server.port,
        request(command, command === 'LIST' ? null : 'normal.png', command === 'PUT' ? image : null, true),
      )
      timings.push(Date.now() - started)
      expect(answer.STATUS, `${command}: ${String(answer.DETAILS)}`).to.equal('OK')
      if (command === 'GET') expect((answer.FILE_DATA as Buffer).equals(image)).to.equal(true)
    }

    console.log(`      LIST, PUT, GET next to 1,000 idle connections and a slow sender: ${timings.join(', ')} ms`)
    for (const ms of timings) expect(ms).to.be.below(2000)
    // The slow sender had a request in flight: it was not evicted to make room.
    expect(slow.closed, 'the slow sender is not evicted as idle').to.equal(false)
  })

  it('a header announcing 4 GiB - 1 draws an ERROR at once, without that allocation, in either byte order', async () => {
    const {server} = await cliServer(['--max-size', '256MiB'])
    const before = rssOf(server.process.pid!)
    for (const header of [
      Buffer.from('ffffffff', 'hex'),
      Buffer.from('fffffffe', 'hex'),
      Buffer.from('feffffff', 'hex'),
    ]) {
      const client = await RawClient.connect(server.port)
      await client.write(Buffer.concat([header, Buffer.from([Op.PROTO, 4, Op.EMPTY_DICT])]))
      const started = Date.now()
      const answer = await client.read(5000)
      expect(answer.STATUS).to.equal('ERROR')
      expect(answer.DETAILS).to.match(/over the limit/)
      expect(Date.now() - started).to.be.below(2000)
      client.close()
    }

    const after = rssOf(server.process.pid!)
    console.log(
      `      server RSS ${Math.round(before.rss / MiB)} MiB before, peak ${Math.round(after.peak / MiB)} MiB after`,
    )
    expect(after.peak - before.peak).to.be.below(64 * MiB)
    expect((await roundTrip(server.port, request('LIST'))).STATUS).to.equal('OK')
  })

  it('with --max-size 2GiB a 4 GiB - 1 frame is allowed, but the values it announces are never allocated', async () => {
    const {server, storage} = await cliServer(['--max-size', '2GiB'])
    const before = rssOf(server.process.pid!)
    const key = (s: string) => Buffer.concat([Buffer.from([Op.SHORT_BINUNICODE, s.length]), Buffer.from(s)])
    const u32 = (n: number) => {
      const b = Buffer.alloc(4)
      b.writeUInt32LE(n)
      return b
    }

    const u64 = (n: bigint) => {
      const b = Buffer.alloc(8)
      b.writeBigUInt64LE(n)
      return b
    }

    const bodies: Array<[string, Buffer, RegExp]> = [
      // A str of 4 GiB - 16 in DETAILS: over the 1 MiB str limit, refused from its length field.
      [
        'str',
        Buffer.concat([
          Buffer.from([Op.PROTO, 4, Op.EMPTY_DICT]),
          key('DETAILS'),
          Buffer.from([Op.BINUNICODE]),
          u32(0xffff_fff0),
          Buffer.from('abc'),
        ]),
        /over the limit/,
      ],
      // A FILE_DATA of 2^62 bytes: over --max-size, refused from its length field.
      [
        'FILE_DATA',
        Buffer.concat([
          Buffer.from([Op.PROTO, 4, Op.EMPTY_DICT]),
          key('FILE_DATA'),
          Buffer.from([Op.BINBYTES8]),
          u64(1n << 62n),
          Buffer.from('abc'),
        ]),
        /over the limit/,
      ],
      // A FILE_DATA of 3 GiB: over --max-size too.
      [
        'FILE_DATA 3 GiB',
        Buffer.concat([
          Buffer.from([Op.PROTO, 4, Op.EMPTY_DICT]),
          key('FILE_DATA'),
          Buffer.from([Op.BINBYTES8]),
          u64(3n << 30n),
          Buffer.from('\u{89}PNG'),
        ]),
        /over the limit/,
      ],
    ]
    for (const [what, body, details] of bodies) {
      const client = await RawClient.connect(server.port)
      await client.write(Buffer.concat([frameHeader(0xffff_ffff), body]))
      const answer = await client.read(5000)
      expect(answer.STATUS, what).to.equal('ERROR')
      expect(answer.DETAILS, what).to.match(details)
      client.close()
    }

    const after = rssOf(server.process.pid!)
    expect(after.peak - before.peak).to.be.below(64 * MiB)
    expect(visible(storage)).to.deep.equal([])
    expect((await roundTrip(server.port, request('LIST'))).STATUS).to.equal('OK')
  })

  it('a disk filled by someone else (real tmpfs): ERROR, nothing partial, and served again once space is freed', async function () {
    const mountPoint = tempDir('exhaust-tmpfs')
    cleanup.push(() => {
      removeDir(mountPoint)
    })
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mountPoint], {stdio: 'pipe'})
    } catch (error) {
      console.log(`      (skipped: cannot mount tmpfs here: ${(error as Error).message.split('\n', 1)[0]})`)
      this.skip()
    }

    cleanup.push(() => {
      execFileSync('umount', ['-l', mountPoint])
    })
    const storage = join(mountPoint, 'store')
    mkdirSync(storage)
    const running = await startServer({storage, maxSize: 16 * MiB, storageOptions: {minFree: 0, fsync: false}})
    cleanup.push(async () => running.stop())
    const first = png(MiB, 1)
    expect((await roundTrip(running.port, request('PUT', 'first.png', first, true))).STATUS).to.equal('OK')
    // Another program fills the disk, outside the store.
    const filler = join(mountPoint, 'filler')
    writeFileSync(filler, Buffer.alloc(5 * MiB + 512 * 1024))
    const image = png(3 * MiB, 2)
    for (const protocol of [2, 4] as const) {
      const client = await RawClient.connect(running.port)
      client.send(request('PUT', 'second.png', image, true), {protocol})
      const answer = await client.read()
      expect(answer.STATUS, `protocol ${protocol}`).to.equal('ERROR')
      expect(answer.CODE, `protocol ${protocol}`).to.equal('E_NO_SPACE')
      client.close()
      expect(visible(storage)).to.deep.equal(['first.png'])
      expect(await eventually(() => readdirSync(join(storage, '.iss-tmp')).length === 0), 'temp file removed').to.equal(
        true,
      )
    }

    rmSync(filler)
    expect((await roundTrip(running.port, request('PUT', 'second.png', image, true))).STATUS).to.equal('OK')
    expect(readFileSync(join(storage, 'second.png')).equals(image)).to.equal(true)
    expect(readFileSync(join(storage, 'first.png')).equals(first)).to.equal(true)
  })
})
