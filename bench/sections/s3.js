'use strict'
// Section: the s3 store against Ceph RGW (issue 13). A single-node RGW (scripts/rgw.sh, memstore OSD)
// serves both cases: iss serve --storage s3://... and, as the anchor, a plain @aws-sdk/client-s3 client
// in this process (one PutObject / GetObject of the same bytes: what RGW itself gives). Rows: one large
// PUT and GET (1 GiB by default; --size), and 100 KiB PUTs and GETs over 8 connections. Ratios are
// anchor time / iss time (1 = as fast as talking to RGW directly). Server peak RSS is the iss server's
// VmHWM. Skipped when Ceph's packages are not installed.
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const {execFileSync, spawnSync} = require('node:child_process')
const {median} = require('../lib/stats.js')
const {pngHead, writePngLike} = require('../lib/files.js')
const {freePort} = require('../lib/procs.js')
const {issMissing, ROOT, runIss, startIss} = require('../lib/iss.js')
const {FrameSkipper, requestFrame, responseStatus} = require('../lib/iss-wire.js')

const SMALL_BYTES = 100 * 1024
const SMALL_LANES = 8
const MiB = 2 ** 20

function cephMissing() {
  const probe = spawnSync('sh', ['-c', 'command -v radosgw && command -v ceph-mon && command -v ceph-osd'])
  return probe.status === 0 ? null : 'Ceph RGW is not installed (apt-get install ceph-mon ceph-osd radosgw ceph-common)'
}

/** One connection's sequential requests; resolves with each request's status. */
async function lane(port, frames) {
  const socket = net.connect({port, host: '127.0.0.1'})
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve).once('error', reject)
  })
  const statuses = []
  let waiting = null
  const skipper = new FrameSkipper((_length, head, tail) => waiting(responseStatus(head, tail)))
  socket.on('data', (chunk) => skipper.push(chunk))
  for (const frame of frames) {
    const {promise: answered, resolve} = Promise.withResolvers()
    waiting = resolve
    for (const part of frame) socket.write(part)
    statuses.push(await answered)
  }
  socket.destroy()
  return statuses
}

/** `count` requests made by `make(i)`, over SMALL_LANES connections; ms for all, throws unless every one is OK. */
async function smallOps(port, count, make) {
  const started = performance.now()
  const perLane = Array.from({length: SMALL_LANES}, (_, l) =>
    Array.from({length: Math.ceil((count - l) / SMALL_LANES)}, (__, k) => make(l + k * SMALL_LANES)),
  )
  const results = (await Promise.all(perLane.map((frames) => lane(port, frames)))).flat()
  const bad = results.filter((status) => status !== 'OK').length
  if (bad > 0) throw new Error(`${bad} of ${count} small requests failed`)
  return performance.now() - started
}

async function sdkSmall(client, sdk, bucket, count, data, op) {
  const started = performance.now()
  let next = 0
  const worker = async () => {
    while (next < count) {
      const key = `anchor/small-${next++}.png`
      if (op === 'put') await client.send(new sdk.PutObjectCommand({Bucket: bucket, Key: key, Body: data}))
      else {
        const answer = await client.send(new sdk.GetObjectCommand({Bucket: bucket, Key: key}))
        // Read to the end, as a client would; the bytes are not kept.
        await require('node:stream/promises').pipeline(
          answer.Body,
          new (require('node:stream').Writable)({write: (_c, _e, done) => done()}),
        )
      }
    }
  }
  await Promise.all(Array.from({length: SMALL_LANES}, worker))
  return performance.now() - started
}

async function runS3(ctx) {
  const missing = issMissing() ?? cephMissing()
  if (missing) return {skipped: missing}
  const rgwDir = path.join(ctx.tmp, 'rgw')
  const env = {}
  const lines = execFileSync(path.join(ROOT, 'scripts', 'rgw.sh'), ['start', rgwDir], {
    encoding: 'utf8',
    timeout: 450_000,
  })
  for (const line of lines.trim().split('\n')) env[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1)
  process.env.AWS_ACCESS_KEY_ID = env.AWS_ACCESS_KEY_ID
  process.env.AWS_SECRET_ACCESS_KEY = env.AWS_SECRET_ACCESS_KEY
  const sdk = require('@aws-sdk/client-s3')
  const client = new sdk.S3Client({
    endpoint: env.ISS_S3_ENDPOINT,
    region: env.ISS_S3_REGION,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  })
  const bucket = 'bench-anchor'
  const size = ctx.opts.largeSize
  const runs = ctx.opts.mode === 'quick' ? 1 : ctx.opts.mode === 'long' ? 5 : 3
  const smallCount = ctx.opts.mode === 'quick' ? 80 : 400
  const big = path.join(ctx.tmp, 's3-big.png')
  writePngLike(big, size)
  const times = {
    issPut: [],
    issGet: [],
    sdkPut: [],
    sdkGet: [],
    issSmallPut: [],
    issSmallGet: [],
    sdkSmallPut: [],
    sdkSmallGet: [],
  }
  let peakKiB = 0
  try {
    await client.send(new sdk.CreateBucketCommand({Bucket: bucket}))
    const small = fs.readFileSync(big).subarray(0, SMALL_BYTES)
    pngHead().copy(small)
    for (let run = 0; run < runs && (run === 0 || !ctx.expired()); run++) {
      const port = await freePort()
      const storage = `s3://bench-iss/run${run}?endpoint=${encodeURIComponent(env.ISS_S3_ENDPOINT)}`
      const server = await startIss({storage, port, maxSize: size + MiB, logDir: ctx.tmp, name: `iss serve s3 ${run}`})
      try {
        const target = ['--host', '127.0.0.1', '--port', String(port)]
        const put = await runIss(['put', big, ...target], {measureRss: false, timeoutMs: 900_000})
        if (put.code !== 0) throw new Error(`iss put exited ${put.code}: ${put.stderr.slice(-300)}`)
        times.issPut.push(put.ms)
        const out = path.join(ctx.tmp, 's3-back.png')
        const get = await runIss(['get', 's3-big.png', '-o', out, '--force', ...target], {
          measureRss: false,
          timeoutMs: 900_000,
        })
        if (get.code !== 0) throw new Error(`iss get exited ${get.code}: ${get.stderr.slice(-300)}`)
        times.issGet.push(get.ms)
        fs.rmSync(out, {force: true})
        times.issSmallPut.push(
          await smallOps(port, smallCount, (i) =>
            requestFrame({command: 'PUT', filename: `small-${i}.png`, data: small}),
          ),
        )
        times.issSmallGet.push(
          await smallOps(port, smallCount, (i) => requestFrame({command: 'GET', filename: `small-${i}.png`})),
        )
        peakKiB = Math.max(peakKiB, server.peakKiB())
      } finally {
        await server.stop()
      }

      let started = performance.now()
      await client.send(
        new sdk.PutObjectCommand({
          Bucket: bucket,
          Key: `anchor/big-${run}.png`,
          Body: fs.createReadStream(big),
          ContentLength: size,
        }),
      )
      times.sdkPut.push(performance.now() - started)
      started = performance.now()
      const answer = await client.send(new sdk.GetObjectCommand({Bucket: bucket, Key: `anchor/big-${run}.png`}))
      await require('node:stream/promises').pipeline(
        answer.Body,
        fs.createWriteStream(path.join(ctx.tmp, 's3-anchor.png')),
      )
      times.sdkGet.push(performance.now() - started)
      fs.rmSync(path.join(ctx.tmp, 's3-anchor.png'), {force: true})
      times.sdkSmallPut.push(await sdkSmall(client, sdk, bucket, smallCount, small, 'put'))
      times.sdkSmallGet.push(await sdkSmall(client, sdk, bucket, smallCount, small, 'get'))
      ctx.log(
        `s3 run ${run + 1}: iss PUT ${(times.issPut.at(-1) / 1000).toFixed(1)} s, SDK PUT ${(times.sdkPut.at(-1) / 1000).toFixed(1)} s`,
      )
    }
  } finally {
    client.destroy()
    fs.rmSync(big, {force: true})
    spawnSync(path.join(ROOT, 'scripts', 'rgw.sh'), ['stop', rgwDir], {stdio: 'ignore', timeout: 60_000})
  }

  const m = (values) => median([...values].sort((a, b) => a - b))
  const row = (id, label, issTimes, anchorTimes, bytes, ops) => {
    const ms = m(issTimes)
    const anchor = m(anchorTimes)
    return {
      id,
      label,
      runs: issTimes.length,
      medianMs: ms,
      anchorMs: anchor,
      mibPerSec: (bytes * 1000) / ms / MiB,
      opsPerSec: ops ? (ops * 1000) / ms : null,
      ratio: anchor / ms,
    }
  }
  const rows = [
    row('put-large', `PUT ${(size / MiB).toFixed(0)} MiB (iss put)`, times.issPut, times.sdkPut, size),
    row('get-large', `GET ${(size / MiB).toFixed(0)} MiB (iss get)`, times.issGet, times.sdkGet, size),
    row(
      'put-small',
      `PUT ${smallCount} x 100 KiB, ${SMALL_LANES} connections`,
      times.issSmallPut,
      times.sdkSmallPut,
      smallCount * SMALL_BYTES,
      smallCount,
    ),
    row(
      'get-small',
      `GET ${smallCount} x 100 KiB, ${SMALL_LANES} connections`,
      times.issSmallGet,
      times.sdkSmallGet,
      smallCount * SMALL_BYTES,
      smallCount,
    ),
  ]
  const table = {
    title: `s3 store on Ceph RGW (single node, memstore) vs a plain @aws-sdk/client-s3 client (anchor); vs anchor = anchor time / iss time; iss server peak RSS ${(peakKiB / 1024).toFixed(0)} MiB`,
    headers: ['case', 'runs', 'iss median s', 'anchor median s', 'iss MiB/s', 'ops/s', 'vs anchor'],
    rows: rows.map((r) => [
      r.label,
      String(r.runs),
      (r.medianMs / 1000).toFixed(2),
      (r.anchorMs / 1000).toFixed(2),
      r.mibPerSec.toFixed(1),
      r.opsPerSec === null ? '' : r.opsPerSec.toFixed(0),
      `${r.ratio.toFixed(2)}x`,
    ]),
  }
  return {rows, peakRssMiB: peakKiB / 1024, table}
}

module.exports = {runS3}
