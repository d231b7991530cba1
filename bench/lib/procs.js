'use strict'
// Child processes for the bench: servers that must be started, watched and always stopped, and
// client commands timed from spawn to exit with their peak RSS.
const {spawn} = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const TIME_BIN = '/usr/bin/time'
const hasGnuTime = fs.existsSync(TIME_BIN)
const live = new Set()

// Whatever happens to the bench, no server it started outlives it.
process.on('exit', () => {
  for (const child of live) {
    try {
      child.kill('SIGKILL')
    } catch {}
  }
})

/** Ends every child this process still has running (a section that ran out of time). */
function killAll() {
  for (const child of live) {
    for (const pid of descendants(child.pid)) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
    }
    try {
      child.kill('SIGKILL')
    } catch {}
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address()
      server.close(() => resolve(port))
    })
  })
}

function sleep(ms) {
  return new Promise((resolve) => {
    setTimeout(resolve, ms)
  })
}

/** Resolves once something accepts connections on the port; rejects after timeoutMs. */
async function waitForPort(port, timeoutMs, child) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`exited with code ${child.exitCode} before listening`)
    const ok = await new Promise((resolve) => {
      const socket = net.connect({host: '127.0.0.1', port})
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    await sleep(50)
  }
  throw new Error(`nothing listened on 127.0.0.1:${port} within ${timeoutMs} ms`)
}

/** A field of /proc/<pid>/status in KiB (VmHWM is the peak resident set), or null. */
function procStatusKiB(pid, field) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)
    return match ? Number(match[1]) : null
  } catch {
    return null
  }
}

/** Child pids of a process (from /proc/<pid>/task/<pid>/children), recursively. */
function descendants(pid) {
  const out = []
  let children = []
  try {
    children = fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number)
  } catch {}
  for (const child of children) out.push(child, ...descendants(child))
  return out
}

/** Resets VmHWM to the current RSS (Linux clear_refs 5), so a peak can be taken per phase. */
function resetPeak(pid) {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

/**
 * Starts a long-running server and waits for its port. `stop()` ends it (SIGTERM, then SIGKILL after
 * a grace period); `peakKiB()` is the largest VmHWM among the process and its children (nginx's
 * workers), `resetPeak()` starts a new phase.
 */
async function startServer({name, command, args, port, env, cwd, logDir, readyTimeoutMs = 30_000}) {
  const logPath = path.join(logDir ?? os.tmpdir(), `${name.replaceAll(/[^\w.-]/g, '_')}-${process.pid}.log`)
  const log = fs.openSync(logPath, 'w')
  const child = spawn(command, args, {cwd, env: {...process.env, ...env}, stdio: ['ignore', log, log]})
  fs.closeSync(log)
  live.add(child)
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child)
      resolve({code, signal})
    })
  })
  child.once('error', () => {})
  const server = {
    name,
    child,
    pid: child.pid,
    port,
    logPath,
    pids: () => [child.pid, ...descendants(child.pid)],
    peakKiB() {
      const peaks = server.pids().map((pid) => procStatusKiB(pid, 'VmHWM') ?? 0)
      return Math.max(0, ...peaks)
    },
    resetPeak() {
      for (const pid of server.pids()) resetPeak(pid)
    },
    log() {
      try {
        return fs.readFileSync(logPath, 'utf8')
      } catch {
        return ''
      }
    },
    async stop(graceMs = 5000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
        await exited
        clearTimeout(timer)
      }
      fs.rmSync(logPath, {force: true})
    },
  }
  try {
    await waitForPort(port, readyTimeoutMs, child)
  } catch (error) {
    const text = server.log().slice(-2000)
    await server.stop(500)
    throw new Error(`${name}: ${error.message}\n${text}`, {cause: error})
  }
  return server
}

/**
 * Runs a command to completion: wall time from spawn to exit in ms, exit code, output, and the
 * peak RSS in KiB (GNU time's %M when present, else VmHWM sampled every 20 ms).
 */
function runTimed(command, args, {env, cwd, timeoutMs = 120_000, measureRss = true, input} = {}) {
  return new Promise((resolve) => {
    const rssFile =
      measureRss && hasGnuTime ? path.join(os.tmpdir(), `bench-rss-${process.pid}-${Math.random()}`) : null
    const [cmd, argv] = rssFile ? [TIME_BIN, ['-f', '%M', '-o', rssFile, command, ...args]] : [command, args]
    const started = process.hrtime.bigint()
    const child = spawn(cmd, argv, {
      cwd,
      env: {...process.env, ...env},
      stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    })
    live.add(child)
    const out = []
    const err = []
    let outBytes = 0
    child.stdout.on('data', (chunk) => {
      // Keep enough to parse a result, never a whole listing of 100,000 names twice over.
      if (outBytes < 8 << 20) out.push(chunk)
      outBytes += chunk.length
    })
    child.stderr.on('data', (chunk) => {
      err.push(chunk)
    })
    if (input) child.stdin.end(input)
    let sampled = 0
    const sampler =
      measureRss && !rssFile
        ? setInterval(() => {
            sampled = Math.max(sampled, procStatusKiB(child.pid, 'VmHWM') ?? 0)
          }, 20)
        : null
    const timer = setTimeout(() => {
      // Under GNU time the command is a grandchild: end it too, not only the wrapper.
      for (const pid of descendants(child.pid)) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {}
      }
      child.kill('SIGKILL')
    }, timeoutMs)
    child.once('error', (error) => {
      err.push(Buffer.from(String(error)))
    })
    child.once('close', (code, signal) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6
      live.delete(child)
      clearTimeout(timer)
      if (sampler) clearInterval(sampler)
      let rssKiB = measureRss ? sampled || null : null
      if (rssFile) {
        try {
          const text = fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop()
          rssKiB = Number(text) || null
        } catch {}
        fs.rmSync(rssFile, {force: true})
      }
      resolve({
        ms,
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stdoutBytes: outBytes,
        stderr: Buffer.concat(err).toString('utf8'),
        rssKiB,
        timedOut: signal === 'SIGKILL',
      })
    })
  })
}

/** Runs a command and fails loudly if it fails. */
async function runChecked(command, args, options) {
  const result = await runTimed(command, args, {measureRss: false, ...options})
  if (result.code !== 0) {
    throw new Error(
      `${path.basename(command)} ${args.join(' ')} exited ${result.code ?? result.signal}: ${result.stderr.slice(-1500)}`,
    )
  }
  return result
}

module.exports = {
  descendants,
  freePort,
  killAll,
  hasGnuTime,
  procStatusKiB,
  resetPeak,
  runChecked,
  runTimed,
  sleep,
  startServer,
  waitForPort,
}
