'use strict'
// Turns section results into tables (plain text for the terminal, Markdown for docs) and checks
// them against the targets of issue 6.

const fmt = {
  num: (v, digits = 2) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '-'),
  int: (v) => (typeof v === 'number' && Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '-'),
  ratio: (v) => (typeof v === 'number' && Number.isFinite(v) ? `${v.toFixed(2)}x` : '-'),
  ms: (v) => (typeof v === 'number' && Number.isFinite(v) ? (v < 10 ? v.toFixed(2) : v.toFixed(1)) : '-'),
}

/** The start of an error: its first line and, for a server that would not start, its last log line. */
function firstLines(text) {
  const lines = String(text)
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
  const first = lines[0]?.replace(/^Error: /, '') ?? ''
  const error = lines.find((l, i) => i > 0 && /error|warning/i.test(l) && !l.startsWith('at '))
  return (error ? `${first} (${error})` : first).slice(0, 240)
}

function note(row) {
  if (row.skipped) return `skipped: ${row.skipped}`
  if (row.failed) return `FAILED: ${firstLines(row.failed)}`
  return null
}

function largeTable(large) {
  const title = `1. Large transfer: ${(large.sizeBytes / 2 ** 20).toFixed(0)} MiB PUT then GET over loopback (median of runs; ratio vs (a) with the same server fsync policy)`
  const headers = [
    'system',
    'fsync policy',
    'runs',
    'PUT GB/s',
    'PUT vs (a)',
    'GET GB/s',
    'GET vs (a)',
    'server peak MiB',
    'client peak MiB',
  ]
  const rows = large.rows.map((r) =>
    note(r)
      ? [r.label, r.policy ?? '', '-', '', '', '', '', '', '', note(r)]
      : [
          r.label,
          r.policy,
          String(r.runs),
          fmt.num(r.putGBps, 3),
          fmt.ratio(r.putRatio),
          fmt.num(r.getGBps, 3),
          fmt.ratio(r.getRatio),
          fmt.int(r.serverPeakMiB),
          fmt.int(r.clientPeakMiB),
        ],
  )
  return {title, headers, rows}
}

function smallTable(small) {
  const title = `2. Small operations: ${small.sizeBytes / 1024} KiB, ${small.connections} connections, ${small.durationMs / 1000} s windows after ${small.warmupMs / 1000} s warm-up (medians of runs)`
  const headers = [
    'case',
    'fsync policy',
    'runs',
    'ops/s',
    'vs nginx',
    'p50 ms',
    'p99 ms',
    'p99 vs nginx',
    'loadgen ceiling ops/s',
    'errors',
  ]
  const rows = small.rows.map((r) =>
    note(r)
      ? [r.label, r.policy ?? '', '-', '', '', '', '', '', '', note(r)]
      : [
          r.label,
          r.policy,
          String(r.runs),
          fmt.int(r.opsPerSec),
          fmt.ratio(r.ratio),
          fmt.ms(r.p50Ms),
          fmt.ms(r.p99Ms),
          fmt.ratio(r.p99Ratio),
          fmt.int(r.ceiling),
          r.errors ? `${r.errors} (${r.firstError})` : '0',
        ],
  )
  return {title, headers, rows}
}

function listTable(list) {
  const title = `3. LIST with ${list.count.toLocaleString('en-US')} stored images (fresh connection per request; median)`
  const headers = ['server', 'median ms', 'iss time / this', 'response bytes', 'names seen', 'notes']
  const rows = list.rows.map((r) => {
    if (note(r)) return [r.label, '-', '', '', '', note(r)]
    const notes = []
    if (r.serverStartMs !== undefined) notes.push(`start incl. index ${fmt.int(r.serverStartMs)} ms`)
    if (r.cliMedianMs)
      notes.push(`\`iss list\` prints all: ${fmt.int(r.cliMedianMs)} ms, peak ${fmt.int(r.cliPeakMiB)} MiB`)
    if (r.serverIdleMiB) notes.push(`server idle ${fmt.int(r.serverIdleMiB)} MiB`)
    if (r.serverPeakMiB) notes.push(`server peak ${fmt.int(r.serverPeakMiB)} MiB`)
    return [
      r.label,
      fmt.ms(r.medianMs),
      r.id === 'iss' ? '1.00x' : fmt.ratio(r.issTimeRatio),
      fmt.int(r.responseBytes),
      fmt.int(r.namesSeen),
      notes.join('; '),
    ]
  })
  return {title, headers, rows}
}

function cliTable(cli) {
  const title = ' 4. CLI start (wall time from spawn to exit, runs interleaved)'.trim()
  const headers = ['command', 'runs', 'median ms', 'p90 ms', 'min ms', 'over node -e 0']
  const rows = cli.rows.map((r) => [
    r.label,
    String(r.runs),
    fmt.ms(r.medianMs),
    fmt.ms(r.p90Ms),
    fmt.ms(r.minMs),
    r.id === 'node' ? '-' : `${r.overNodeMs >= 0 ? '+' : ''}${fmt.ms(r.overNodeMs)} ms`,
  ])
  return {title, headers, rows}
}

/** Null or undefined: a ratio or time that was not measured. */
function isMissing(value) {
  return value === null || value === undefined
}

/** Each target of issue 6 item 5: what was measured and whether it holds (null: not measured). */
function targets(sections) {
  const out = []
  const add = (target, measured, met) => {
    out.push({target, measured, met})
  }
  const large = sections.large
  const iss = large?.rows?.find((r) => r.id === 'iss-fsync' && !r.skipped && !r.failed)
  const size = large?.sizeBytes ? `${(large.sizeBytes / 2 ** 20).toFixed(0)} MiB` : '1 GiB'
  add(
    `${size} PUT >= 0.8x raw pipe (a)`,
    iss ? fmt.ratio(iss.putRatio) : 'not measured',
    isMissing(iss?.putRatio) ? null : iss.putRatio >= 0.8,
  )
  add(
    `${size} GET >= 0.8x raw pipe (a)`,
    iss ? fmt.ratio(iss.getRatio) : 'not measured',
    isMissing(iss?.getRatio) ? null : iss.getRatio >= 0.8,
  )
  const issRows = large?.rows?.filter((r) => r.id.startsWith('iss') && !r.skipped && !r.failed) ?? []
  const serverPeak = issRows.length > 0 ? Math.max(...issRows.map((r) => r.serverPeakMiB)) : null
  const clientPeak = issRows.length > 0 ? Math.max(...issRows.map((r) => r.clientPeakMiB)) : null
  add(
    'server peak RSS <= 128 MiB',
    serverPeak === null ? 'not measured' : `${fmt.int(serverPeak)} MiB`,
    serverPeak === null ? null : serverPeak <= 128,
  )
  add(
    'client peak RSS <= 128 MiB',
    clientPeak === null ? 'not measured' : `${fmt.int(clientPeak)} MiB`,
    clientPeak === null ? null : clientPeak <= 128,
  )
  const small = sections.small
  const row = (id) => small?.rows?.find((r) => r.id === id && !r.skipped && !r.failed)
  const get = row('iss-get')
  const put = row('iss-put')
  const putNoFsync = row('iss-put-nofsync')
  // Issue 14: ratios to nginx in the same run (64 connections, 100 KiB, closed loop).
  const atLeast = (label, r, floor) =>
    add(label, isMissing(r?.ratio) ? 'not measured' : fmt.ratio(r.ratio), isMissing(r?.ratio) ? null : r.ratio >= floor)
  atLeast('small GET >= 1.0x nginx GET ops/s', get, 1)
  add(
    'small GET p99 <= 1.5x nginx GET p99',
    isMissing(get?.p99Ratio) ? 'not measured' : fmt.ratio(get.p99Ratio),
    isMissing(get?.p99Ratio) ? null : get.p99Ratio <= 1.5,
  )
  atLeast('small PUT --no-fsync >= 1.0x nginx WebDAV PUT ops/s', putNoFsync, 1)
  atLeast('small PUT (default: fsync before OK) >= 0.6x nginx WebDAV PUT ops/s', put, 0.6)
  // Issue 10, item 6: a short command costs at most 120 ms more than starting Node at all.
  for (const id of ['list', 'put']) {
    const start = sections.cli?.rows?.find((r) => r.id === id)
    add(
      `\`iss ${id}\` <= \`node -e 0\` + 120 ms`,
      start ? `+${fmt.ms(start.overNodeMs)} ms` : 'not measured',
      start ? start.overNodeMs <= 120 : null,
    )
  }
  const listing = sections.list?.rows?.find((r) => r.id === 'iss' && !r.skipped && !r.failed)
  const count = sections.list?.count
  add(
    `LIST of ${(count ?? 100_000).toLocaleString('en-US')} names <= 300 ms${count && count !== 100_000 ? ' (target is for 100,000)' : ''}`,
    listing ? `${fmt.ms(listing.medianMs)} ms` : 'not measured',
    listing ? listing.medianMs <= 300 : null,
  )
  return out
}

function targetsTable(list) {
  return {
    title: 'Targets (issue 6 item 5, issue 10 item 6)',
    headers: ['target', 'measured', 'met'],
    rows: list.map((t) => [t.target, t.measured, t.met === null ? 'n/a' : t.met ? 'yes' : 'NO']),
  }
}

function renderText({title, headers, rows}) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i] ?? '').length)))
  const line = (cells) =>
    cells
      .map((c, i) => String(c ?? '').padEnd(widths[i]))
      .join('  ')
      .trimEnd()
  return [title, line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

function renderMarkdown({title, headers, rows}) {
  const cell = (c) => String(c ?? '').replaceAll('|', '\\|')
  return [
    `**${title}**`,
    '',
    `| ${headers.map(cell).join(' | ')} |`,
    `|${headers.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n')
}

function tables(sections) {
  const out = []
  if (sections.large?.rows) out.push(largeTable(sections.large))
  if (sections.small?.rows) out.push(smallTable(sections.small))
  if (sections.list?.rows) out.push(listTable(sections.list))
  if (sections.cli?.rows) out.push(cliTable(sections.cli))
  // A section may bring its own table (title, headers, rows of strings).
  for (const section of Object.values(sections)) if (section?.table) out.push(section.table)
  for (const [name, section] of Object.entries(sections)) {
    if (!section?.skipped && !section?.failed) continue
    const why = section.skipped ? `skipped: ${section.skipped}` : `FAILED: ${firstLines(section.failed)}`
    out.push({title: `${name}: ${why}`, headers: [], rows: []})
  }
  return out
}

function profileText(profile) {
  if (!profile) return null
  if (profile.failed) return `Profile: FAILED: ${profile.failed}`
  const lines = [`Profile (--cpu-prof, self time; files in ${profile.dir})`]
  for (const [phase, data] of Object.entries(profile.phases)) {
    for (const side of ['server', 'client']) {
      const summary = data[side]
      if (!summary) {
        lines.push(`  ${phase} ${side}: no profile written`)
        continue
      }
      lines.push(
        `  ${phase} ${side}: ${summary.totalMs} ms sampled, ${summary.idleMs} ms idle; busy time by function (self):`,
      )
      for (const entry of summary.top.slice(0, 8))
        lines.push(`    ${(entry.share * 100).toFixed(1).padStart(5)}%  ${entry.ms} ms  ${entry.fn}`)
    }
  }
  return lines.join('\n')
}

module.exports = {profileText, renderMarkdown, renderText, tables, targets, targetsTable}
