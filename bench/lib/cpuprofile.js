'use strict'
// Reads the .cpuprofile files that `node --cpu-prof` writes and names the functions where the
// time went (self time), which is what an optimisation needs to aim at.
const fs = require('node:fs')
const path = require('node:path')

/** The top `limit` functions by self time across every profile in dir, or null if there is none. */
function summarizeProfile(dir, limit = 12) {
  let files
  try {
    files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))
  } catch {
    return null
  }
  if (files.length === 0) return null
  const selfUs = new Map()
  let totalUs = 0
  for (const file of files) {
    const profile = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'))
    const byId = new Map(profile.nodes.map((node) => [node.id, node]))
    // Each sample is charged the delta that follows it (the profiler's own convention).
    for (let i = 0; i < profile.samples.length; i++) {
      const node = byId.get(profile.samples[i])
      const delta = profile.timeDeltas[i + 1] ?? 0
      if (!node || delta < 0) continue
      const frame = node.callFrame
      const where = frame.url ? `${shorten(frame.url)}:${frame.lineNumber + 1}` : ''
      const key = `${frame.functionName || '(anonymous)'}${where ? ' ' + where : ''}`
      selfUs.set(key, (selfUs.get(key) ?? 0) + delta)
      totalUs += delta
    }
  }
  // Idle is time spent waiting (for the disk, the peer, or the next request): shares are of busy time.
  const idleUs = selfUs.get('(idle)') ?? 0
  const busyUs = totalUs - idleUs
  const top = [...selfUs]
    .filter(([fn]) => fn !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([fn, us]) => ({fn, ms: Math.round(us / 1000), share: busyUs ? us / busyUs : 0}))
  return {
    files: files.map((f) => path.join(dir, f)),
    totalMs: Math.round(totalUs / 1000),
    idleMs: Math.round(idleUs / 1000),
    busyMs: Math.round(busyUs / 1000),
    top,
  }
}

function shorten(url) {
  const text = url.replace(/^file:\/\//, '')
  const at = text.search(/\/(dist|node_modules)\//)
  return at === -1 ? text : text.slice(at + 1)
}

module.exports = {summarizeProfile}
