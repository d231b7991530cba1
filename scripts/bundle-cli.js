#!/usr/bin/env node
'use strict'
// `npm run build` step after tsc: bundles @oclif/core and the client commands (from dist/src/commands) into
// dist/bundle/cli.js with esbuild. Node then reads one file and takes it from its compile cache instead of
// resolving, reading and checking some 130 modules: about a third of what `iss list` costs over `node -e 0`
// (docs/performance.md). bin/run.js uses the bundle when it is newer than the compiled files.
//
// The bundle exports oclif's `execute` and `settings`, and COMMANDS, the client commands for oclif's "explicit" command
// discovery, generated here from the compiled command files so that a new command needs no list to be kept;
// each is a getter, so only the command that runs is evaluated. The root plugin's hooks are bundled the same way
// (a hook loaded from dist/src would bring a second @oclif/core). dist/bundle/cli.json names the commands and
// the hooks' exports for bin/run.js, which starts every other command (`serve`, plugins' commands, help, `plugins`) from dist/src and
// node_modules as before: a command class built on another copy of @oclif/core than the one running it would
// have its `this.exit()` reported as an error (oclif recognises its ExitError with instanceof).
//
// bin/run.js starts the bundled commands without oclif's core plugins (package.json oclif.plugins): their
// commands and hooks never run for a client command. That holds while none declares a hook oclif runs around
// every command, which is checked here, so that an upgrade adding one fails the build instead of being skipped.
const fs = require('node:fs')
const path = require('node:path')
const esbuild = require('esbuild')

const ROOT = path.resolve(__dirname, '..')
const COMMANDS_DIR = path.join(ROOT, 'dist', 'src', 'commands')
const OUT = path.join(ROOT, 'dist', 'bundle', 'cli.js')
/** What bin/run.js needs to start the bundle: the bundled command ids and the root's hooks in the bundle. */
const INFO = path.join(ROOT, 'dist', 'bundle', 'cli.json')
/** esbuild's list of what went into the bundle, outside the packed folder (test/e2e/start-up.test.ts reads it). */
const META = path.join(ROOT, 'dist', 'bundle-meta.json')
/** Commands left out: the server (its logger, DI container, stores and plugins' handlers) and `store copy` (the stores). */
const UNBUNDLED = new Set(['serve', 'store:copy'])

/** oclif hooks that run around every command: a core plugin declaring one must be loaded for the client commands. */
const EVERY_COMMAND_HOOKS = new Set(['finally', 'init', 'postrun', 'preparse', 'prerun'])

/** Throws when a core plugin declares a hook that runs around every command. */
function checkCorePlugins() {
  const pjson = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
  for (const name of pjson.oclif?.plugins ?? []) {
    const plugin = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8'))
    const hooks = Object.keys(plugin.oclif?.hooks ?? {}).filter((hook) => EVERY_COMMAND_HOOKS.has(hook))
    if (hooks.length > 0 || (plugin.oclif?.plugins?.length ?? 0) > 0)
      throw new Error(
        `core plugin ${name} declares ${hooks.length > 0 ? `the hook(s) ${hooks.join(', ')}` : 'plugins of its own'}, ` +
          'which bin/run.js would skip for the bundled commands: load it there (bin/run.js) or leave the command out',
      )
  }
}

/** Command ids (oclif's: folders joined by ':', index.js names its folder) to their file under dist/src/commands. */
function commandFiles(dir = COMMANDS_DIR, prefix = []) {
  return fs.readdirSync(dir, {withFileTypes: true}).flatMap((entry) => {
    if (entry.isDirectory()) return commandFiles(path.join(dir, entry.name), [...prefix, entry.name])
    if (!entry.name.endsWith('.js')) return []
    const name = entry.name.slice(0, -'.js'.length)
    const id = (name === 'index' ? prefix : [...prefix, name]).join(':')
    return [[id, `./${path.relative(ROOT, path.join(dir, entry.name)).split(path.sep).join('/')}`]]
  })
}

/**
 * The root plugin's hooks (package.json oclif.hooks) as [event, file under ROOT, export]: bundled too, since a
 * hook from dist/src would load a second copy of oclif for every command.
 */
function rootHooks() {
  const {hooks = {}} = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).oclif ?? {}
  return Object.entries(hooks).flatMap(([event, declared]) =>
    [declared].flat().map((hook) => {
      const {target, identifier = 'default'} = typeof hook === 'string' ? {target: hook} : hook
      return [event, `./${path.posix.normalize(target)}`, identifier]
    }),
  )
}

function entrySource(commands, hooks) {
  const lines = [
    "'use strict'",
    "const {execute, settings} = require('@oclif/core')",
    'exports.execute = execute',
    'exports.settings = settings',
    'const commands = {}',
  ]
  // Getters: a module is evaluated when oclif reads its command or hook, that is when it runs.
  const getter = (object, key, file, name) =>
    `Object.defineProperty(${object}, ${JSON.stringify(key)}, ` +
    `{enumerable: true, get: () => require(${JSON.stringify(file)})[${JSON.stringify(name)}]})`
  for (const [id, file] of commands) lines.push(getter('commands', id, file, 'default'))
  lines.push('exports.COMMANDS = commands')
  for (const [index, [, file, identifier]] of hooks.entries())
    lines.push(getter('exports', `hook${index}`, file, identifier))
  return lines.join('\n') + '\n'
}

async function main() {
  fs.rmSync(OUT, {force: true})
  checkCorePlugins()
  const commands = commandFiles().filter(([id]) => !UNBUNDLED.has(id))
  const hooks = rootHooks()
  const result = await esbuild.build({
    stdin: {contents: entrySource(commands, hooks), resolveDir: ROOT, sourcefile: 'iss-cli-entry.js', loader: 'js'},
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node22',
    outfile: OUT,
    // oclif loads TypeScript only to run a linked plugin's sources in development, from node_modules.
    external: ['typescript'],
    sourcemap: 'linked',
    logLevel: 'warning',
    metafile: true,
  })
  fs.writeFileSync(META, JSON.stringify(result.metafile))
  const target = path.relative(ROOT, OUT).split(path.sep).join('/')
  const bundledHooks = {}
  for (const [index, [event]] of hooks.entries()) {
    bundledHooks[event] = [...(bundledHooks[event] ?? []), {target, identifier: `hook${index}`}]
  }
  fs.writeFileSync(INFO, JSON.stringify({commands: commands.map(([id]) => id), hooks: bundledHooks}) + '\n')
  const inputs = Object.keys(result.metafile.inputs).length
  process.stdout.write(
    `bundled ${inputs} modules into ${path.relative(ROOT, OUT)} for ${commands.map(([id]) => id).join(', ')}\n`,
  )
}

main().catch((error) => {
  process.stderr.write(`bundle-cli: ${error?.stack ?? error}\n`)
  process.exit(1)
})
