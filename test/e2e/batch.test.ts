import {expect} from 'chai'
import {mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {jpegBytes, pngBytes, removeDir, runCli, type RunningServer, startIssServer, tempDir} from './cli-harness.js'

interface Summary {
  sent: number
  identical: number
  skipped: number
  failed: number
  bytes: number
  seconds: number
  bytesPerSecond: number
}

interface Item {
  status: string
  code: string | null
  file?: string
  name: string | null
  message: string | null
}

/** Runs a command with --json and returns its exit code and document. */
async function json(
  args: string[],
): Promise<{code: number | null; doc: {results: Item[]; summary: Summary}; stderr: string}> {
  const result = await runCli([...args, '--json'], {timeoutMs: 240_000})
  return {
    code: result.code,
    doc: JSON.parse(result.stdout) as {results: Item[]; summary: Summary},
    stderr: result.stderr,
  }
}

// Issue 16 item 4: folders, patterns and --parallel, against a real `iss serve`.
describe('iss put DIR / iss get --all and PATTERN, over parallel connections', function () {
  this.timeout(480_000)
  const COUNT = 500
  let work: string
  let source: string
  let server: RunningServer
  let port: string
  /** Every image written into the source tree: base name to bytes. */
  const images = new Map<string, Buffer>()

  before(async () => {
    work = tempDir('batch')
    source = path.join(work, 'photos')
    mkdirSync(path.join(source, 'trip'), {recursive: true})
    for (let index = 0; index < COUNT; index++) {
      // Small files of varied sizes and both kinds; 20 of them in a subfolder.
      const name = index % 5 === 0 ? `shot-${index}.JPG` : `shot-${index}.png`
      const data = index % 5 === 0 ? jpegBytes(200 + index * 7) : pngBytes(300 + index * 11)
      writeFileSync(path.join(source, index < 20 ? 'trip' : '', name), data)
      images.set(name, data)
    }
    writeFileSync(path.join(source, 'notes.txt'), 'not an image')
    writeFileSync(path.join(source, 'trip', 'route.gpx'), '<gpx/>')
    writeFileSync(path.join(source, '.hidden.png'), pngBytes(400))
    const storage = path.join(work, 'store')
    mkdirSync(storage)
    server = await startIssServer(storage, ['--log-level', 'warn'])
    port = String(server.port)
  })

  after(async () => {
    await server?.stop()
    removeDir(work)
  })

  it('put DIR without --recursive sends the top folder only and says what it left', async () => {
    const only = path.join(work, 'only')
    mkdirSync(path.join(only, 'sub'), {recursive: true})
    writeFileSync(path.join(only, 'top-one.png'), pngBytes(500))
    writeFileSync(path.join(only, 'sub', 'below.png'), pngBytes(500))
    const result = await runCli(['put', only, '-p', port])
    expect(result.code, result.stderr).to.equal(0)
    expect(result.stdout).to.match(/top-one\.png: uploaded as top-one\.png/u)
    expect(result.stderr).to.include('1 subfolder(s) not sent (add --recursive to send them)')
    expect(result.stderr).to.match(/^1 sent, 0 skipped, 0 failed: 500 B in [\d.]+ s/mu)
  })

  it(`put DIR --recursive --parallel 4: ${COUNT} files sent, non-images and hidden files skipped and counted`, async () => {
    const {code, doc, stderr} = await json(['put', source, '--recursive', '--parallel', '4', '-p', port])
    expect(code, stderr).to.equal(0)
    let totalBytes = 0
    for (const data of images.values()) totalBytes += data.length
    expect(doc.summary).to.include({sent: COUNT, identical: 0, skipped: 3, failed: 0, bytes: totalBytes})
    const skipped = doc.results.filter((item) => item.status === 'skipped').map((item) => path.basename(item.file!))
    expect(skipped.sort()).to.deep.equal(['.hidden.png', 'notes.txt', 'route.gpx'])
    expect(new Set(doc.results.filter((item) => item.status === 'ok').map((item) => item.name))).to.deep.equal(
      new Set(images.keys()),
    )
  })

  it('the server lists every name once', async () => {
    const listed = await runCli(['list', '-p', port])
    const names = listed.stdout.split('\n').filter((line) => line !== '')
    expect(names.filter((name) => name.startsWith('shot-')).sort()).to.deep.equal([...images.keys()].sort())
  })

  it(`get --all --parallel 4 brings back all ${COUNT} with the same names and bytes`, async () => {
    const out = path.join(work, 'all')
    mkdirSync(out)
    const {code, doc, stderr} = await json(['get', '--all', '-o', out, '--parallel', '4', '-p', port])
    expect(code, stderr).to.equal(0)
    expect(doc.summary).to.include({sent: COUNT + 1, skipped: 0, failed: 0}) // and top-one.png
    for (const [name, data] of images) {
      expect(readFileSync(path.join(out, name)).equals(data), name).to.equal(true)
    }
    expect(readdirSync(out).length).to.equal(COUNT + 1)
  })

  it('get PATTERN matches against LIST case-insensitively; a pattern that matches nothing is exit 1', async () => {
    const out = path.join(work, 'pattern')
    mkdirSync(out)
    // shot-1, shot-10..19, shot-100..199: 111 names; shot-1?? matches 100..199.
    const result = await runCli(['get', 'SHOT-1??.*', 'nothing-*.png', '-o', out, '-p', port], {timeoutMs: 240_000})
    expect(result.code).to.equal(1)
    expect(result.stderr).to.include('nothing-*.png: no stored image matches this pattern')
    expect(result.stderr).to.match(/^100 received, 0 skipped, 1 failed: /mu)
    const expected = [...images.keys()].filter((name) => /^shot-1\d\d\./u.test(name))
    expect(readdirSync(out).sort()).to.deep.equal(expected.sort())
    for (const name of expected) expect(readFileSync(path.join(out, name)).equals(images.get(name)!)).to.equal(true)
  })

  it('two files that would become one name are both refused with a clear error; the others go', async () => {
    const clash = path.join(work, 'clash')
    mkdirSync(path.join(clash, 'a'), {recursive: true})
    mkdirSync(path.join(clash, 'b'), {recursive: true})
    writeFileSync(path.join(clash, 'a', 'Cat.png'), pngBytes(600))
    writeFileSync(path.join(clash, 'b', 'cAT.PNG'), pngBytes(700))
    writeFileSync(path.join(clash, 'b', 'dog.png'), pngBytes(800))
    const result = await runCli(['put', clash, '-r', '-p', port])
    expect(result.code).to.equal(2)
    expect(result.stderr).to.include(
      `${path.join(clash, 'a', 'Cat.png')}: would be stored as Cat.png, as would ${path.join(clash, 'b', 'cAT.PNG')}`,
    )
    expect(result.stderr).to.match(/^1 sent, 0 skipped, 2 failed: /mu)
    const listed = (await runCli(['list', '-p', port])).stdout.split('\n')
    expect(listed).to.include('dog.png')
    expect(listed.filter((name) => name.toLowerCase() === 'cat.png')).to.deep.equal([])
  })
})
