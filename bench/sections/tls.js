'use strict'
// Section: one large image PUT then GET through iss over TLS, beside the same through plain iss (the
// anchor), in the same run, interleaved, same server settings (fsync on, as users get). The certificate
// is self-signed, made by the product's own maker; the client pins its fingerprint. Ratio: TLS
// throughput / plain throughput (1.00 = TLS costs nothing). Run alone with `--sections tls`.
const fs = require('node:fs')
const path = require('node:path')
const {median, ratio} = require('../lib/stats.js')
const {freeBytes, sameEnds, writePngLike} = require('../lib/files.js')
const {freePort, startServer} = require('../lib/procs.js')
const {BIN, ROOT, issMissing, runIss} = require('../lib/iss.js')

const MiB = 1024 * 1024

async function makeCertificate(dir) {
  const {makeSelfSigned} = require(path.join(ROOT, 'dist', 'src', 'core', 'tls', 'self-signed.js'))
  const {fingerprintOfPem} = require(path.join(ROOT, 'dist', 'src', 'core', 'tls', 'fingerprint.js'))
  const {cert, key} = await makeSelfSigned(['localhost', '127.0.0.1'])
  const certFile = path.join(dir, 'bench-tls-cert.pem')
  const keyFile = path.join(dir, 'bench-tls-key.pem')
  fs.writeFileSync(certFile, cert)
  fs.writeFileSync(keyFile, key, {mode: 0o600})
  return {certFile, keyFile, fingerprint: fingerprintOfPem(cert)}
}

async function runTls(ctx) {
  const missing = issMissing()
  if (missing) return {skipped: missing}
  const size = ctx.opts.largeSize
  const needed = 3 * size + 256 * MiB
  const free = freeBytes(ctx.tmp)
  if (free < needed) {
    return {
      skipped: `needs ${(needed / 2 ** 30).toFixed(2)} GiB free in ${ctx.tmp}, has ${(free / 2 ** 30).toFixed(2)} GiB`,
    }
  }
  const certificate = await makeCertificate(ctx.tmp)
  const source = path.join(ctx.tmp, 'tls-source.png')
  ctx.log(`tls: writing a ${(size / MiB).toFixed(0)} MiB source file`)
  writePngLike(source, size)
  const cases = [
    {id: 'plain', label: 'iss (plain TCP, anchor)', server: [], client: []},
    {
      id: 'tls',
      label: 'iss --tls (TLS 1.3, self-signed, --fingerprint)',
      server: ['--tls-cert', certificate.certFile, '--tls-key', certificate.keyFile],
      client: ['--fingerprint', certificate.fingerprint],
    },
  ]
  const states = new Map()
  try {
    for (const kase of cases) {
      const dir = path.join(ctx.tmp, `tls-store-${kase.id}`)
      fs.rmSync(dir, {recursive: true, force: true})
      const port = await freePort()
      const server = await startServer({
        name: `iss serve ${kase.id}`,
        command: process.execPath,
        args: [
          BIN,
          'serve',
          '--host',
          '127.0.0.1',
          '--port',
          String(port),
          '--storage',
          dir,
          '--max-size',
          String(size + MiB),
          ...kase.server,
        ],
        port,
        logDir: ctx.tmp,
        readyTimeoutMs: 120_000,
      })
      states.set(kase.id, {server, port, dir, samples: [], failed: null})
    }
    for (let run = 0; run < ctx.opts.largeRuns && (run === 0 || !ctx.expired()); run++) {
      for (const kase of cases) {
        const state = states.get(kase.id)
        if (state.failed) continue
        ctx.log(`tls: round ${run + 1}/${ctx.opts.largeRuns}: ${kase.label}`)
        const name = `tls-${kase.id}-${run}.png`
        const file = path.join(ctx.tmp, name)
        const out = path.join(ctx.tmp, `out-${name}`)
        fs.rmSync(file, {force: true})
        fs.linkSync(source, file)
        try {
          const at = ['--port', String(state.port), ...kase.client]
          const put = await runIss(['put', file, ...at], {timeoutMs: 900_000})
          if (put.code !== 0) throw new Error(`PUT exited ${put.code}: ${put.stderr.slice(-500)}`)
          const get = await runIss(['get', name, '-o', out, '--max-size', String(size + MiB), ...at], {
            timeoutMs: 900_000,
          })
          if (get.code !== 0) throw new Error(`GET exited ${get.code}: ${get.stderr.slice(-500)}`)
          if (!sameEnds(source, out)) throw new Error('the downloaded file differs from the upload')
          state.samples.push({putMs: put.ms, getMs: get.ms})
        } catch (error) {
          state.failed = String(error.message ?? error)
          ctx.log(`tls: ${kase.label}: FAILED: ${state.failed.split('\n', 1)[0]}`)
        } finally {
          fs.rmSync(file, {force: true})
          fs.rmSync(out, {force: true})
          fs.rmSync(path.join(state.dir, name), {force: true})
        }
      }
    }
  } finally {
    for (const state of states.values()) {
      await state.server.stop()
      fs.rmSync(state.dir, {recursive: true, force: true})
    }
    fs.rmSync(source, {force: true})
  }

  const rows = cases.map((kase) => {
    const {samples, failed} = states.get(kase.id) ?? {samples: [], failed: 'did not start'}
    const putMs = samples.length > 0 ? median(samples.map((s) => s.putMs)) : null
    const getMs = samples.length > 0 ? median(samples.map((s) => s.getMs)) : null
    return {
      id: kase.id,
      label: kase.label,
      runs: samples.length,
      failed: samples.length === 0 ? failed : null,
      putGBps: putMs ? size / 1e9 / (putMs / 1000) : null,
      getGBps: getMs ? size / 1e9 / (getMs / 1000) : null,
      samples,
    }
  })
  const [plain, tls] = rows
  for (const row of rows) {
    row.putRatio = ratio(row.putGBps, plain.putGBps)
    row.getRatio = ratio(row.getGBps, plain.getGBps)
  }
  const cell = (value, digits = 2) => (value === null || value === undefined ? '' : value.toFixed(digits))
  const table = {
    title: `TLS: one ${(size / MiB).toFixed(0)} MiB PUT then GET, whole CLI command (medians); ratio = this / plain iss`,
    headers: ['case', 'runs', 'PUT MB/s', 'PUT ratio', 'GET MB/s', 'GET ratio'],
    rows: rows.map((r) =>
      r.failed
        ? [r.label, '0', `FAILED: ${r.failed.split('\n', 1)[0]}`, '', '', '']
        : [
            r.label,
            String(r.runs),
            cell(r.putGBps * 1000, 0),
            cell(r.putRatio),
            cell(r.getGBps * 1000, 0),
            cell(r.getRatio),
          ],
    ),
  }
  return {sizeBytes: size, rows, table, tlsPutRatio: tls.putRatio ?? null, tlsGetRatio: tls.getRatio ?? null}
}

module.exports = {runTls}
