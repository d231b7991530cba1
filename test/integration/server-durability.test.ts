import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {encodeFrame} from '../../src/core/protocol/message-writer.js'
import {eventually, png, RawClient, request, roundTrip, type RunningServer, startServer} from './server-harness.js'
import {startChild} from './server-process.js'

function visible(dir: string): string[] {
  return readdirSync(dir).filter((name) => !name.startsWith('.'))
}

function tempFiles(dir: string): string[] {
  try {
    return readdirSync(join(dir, '.iss-tmp'))
  } catch {
    return []
  }
}

describe('iss serve: nothing partial, ever', function () {
  this.timeout(90_000)
  const cleanup: Array<() => Promise<void> | void> = []

  afterEach(async () => {
    for (const step of cleanup.splice(0).toReversed()) await step()
  })

  function tempStore(): string {
    const dir = mkdtempSync(join(tmpdir(), 'iss-durable-'))
    cleanup.push(() => {
      rmSync(dir, {recursive: true, force: true})
    })
    return dir
  }

  it('a client that disconnects mid-upload leaves nothing visible and no temporary file', async () => {
    const running: RunningServer = await startServer({maxSize: 8 * 1024 * 1024})
    cleanup.push(async () => running.stop())
    const client = await RawClient.connect(running.port)
    const frame = encodeFrame(request('PUT', 'half.png', png(4 * 1024 * 1024)), {protocol: 4})
    await client.write(frame.subarray(0, frame.length / 2))
    expect(await eventually(() => tempFiles(running.storage).length === 1)).to.equal(true)
    client.close()
    expect(await eventually(() => tempFiles(running.storage).length === 0)).to.equal(true)
    expect(visible(running.storage)).to.deep.equal([])
    const get = await roundTrip(running.port, request('GET', 'half.png', null, true))
    expect(get.CODE).to.equal('E_NOT_FOUND')
  })

  it('a server killed (SIGKILL) mid-upload and restarted shows no partial file', async () => {
    const storage = tempStore()
    const first = await startChild({storage})
    cleanup.push(() => {
      first.process.kill('SIGKILL')
    })
    const client = await RawClient.connect(first.port)
    const frame = encodeFrame(request('PUT', 'killed.png', png(8 * 1024 * 1024)), {protocol: 4})
    await client.write(frame.subarray(0, -1000))
    expect(await eventually(() => tempFiles(storage).length === 1)).to.equal(true)
    first.process.kill('SIGKILL')
    await first.exited
    client.close()

    const second = await startChild({storage})
    cleanup.push(() => {
      second.process.kill('SIGKILL')
    })
    const list = await roundTrip(second.port, request('LIST'))
    expect(list.DETAILS).to.equal('No files on server')
    expect(visible(storage)).to.deep.equal([])
    expect(tempFiles(storage)).to.deep.equal([])
    expect((await roundTrip(second.port, request('PUT', 'killed.png', png(1000)))).STATUS).to.equal('OK')
  })

  it('SIGTERM lets the request in flight finish, then exits 0', async () => {
    const storage = tempStore()
    const child = await startChild({storage})
    cleanup.push(() => {
      child.process.kill('SIGKILL')
    })
    const idle = await RawClient.connect(child.port)
    const client = await RawClient.connect(child.port)
    const image = png(2 * 1024 * 1024)
    const frame = encodeFrame(request('PUT', 'inflight.png', image), {protocol: 4})
    await client.write(frame.subarray(0, 1000))
    await new Promise((resolve) => setTimeout(resolve, 200))
    child.process.kill('SIGTERM')
    // The idle connection closes at once; the busy one finishes its request.
    expect(await idle.waitClosed(5000)).to.equal(true)
    await client.write(frame.subarray(1000))
    const answer = await client.read()
    expect(answer.STATUS).to.equal('OK')
    expect(await client.waitClosed(5000)).to.equal(true)
    expect(await child.exited).to.equal(0)
    expect(readFileSync(join(storage, 'inflight.png')).equals(image)).to.equal(true)
    expect(tempFiles(storage)).to.deep.equal([])
  })

  it('a full disk (real tmpfs) answers ERROR, stores nothing partial and keeps serving', async function () {
    const mountPoint = tempStore()
    const storage = join(mountPoint, 'store')
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mountPoint], {stdio: 'pipe'})
    } catch (error) {
      console.log(`      (skipped: cannot mount tmpfs: ${(error as Error).message.split('\n', 1)[0]})`)
      this.skip()
    }

    cleanup.push(() => {
      execFileSync('umount', [mountPoint])
    })
    mkdirSync(storage)
    const running = await startServer({storage, maxSize: 16 * 1024 * 1024})
    cleanup.push(async () => running.stop())
    const first = png(2 * 1024 * 1024, 1)
    expect((await roundTrip(running.port, request('PUT', 'first.png', first))).STATUS).to.equal('OK')
    const client = await RawClient.connect(running.port)
    client.send(request('PUT', 'second.png', png(3 * 1024 * 1024, 2), true))
    const full = await client.read()
    expect(full.STATUS).to.equal('ERROR')
    expect(full.CODE).to.equal('E_NO_SPACE')
    // Same connection, still served.
    client.send(request('LIST'))
    expect((await client.read()).DETAILS).to.deep.equal(['first.png'])
    client.close()
    expect(visible(storage)).to.deep.equal(['first.png'])
    expect(await eventually(() => tempFiles(storage).length === 0)).to.equal(true)
    expect(readFileSync(join(storage, 'first.png')).equals(first)).to.equal(true)
    expect((await roundTrip(running.port, request('PUT', 'small.png', png(1000)))).STATUS).to.equal('OK')
  })
})
