import type {PluginPlan} from '../plan.js'

/** The image events the scaffold's subscriber is declared for. */
export const LOGGED_EVENTS = ['image.published', 'image.deleted', 'image.renamed'] as const

/** package.json: the SDK as an optional peer (the host provides it), the oclif and iss declarations. */
export function packageJson(plan: PluginPlan): string {
  const handler = `./dist/src/handlers/${plan.id}.js`
  const iss: Record<string, unknown> = {
    sdk: plan.sdkRange,
    handlers: {[plan.verb]: {module: handler, scope: plan.scope}},
  }
  if (plan.withEvents) {
    iss.events = Object.fromEntries(LOGGED_EVENTS.map((event) => [event, './dist/src/events/log-image-events.js']))
  }

  const pjson = {
    name: plan.name,
    version: '0.1.0',
    description: `iss command plugin: \`iss ${plan.id} NAME\` and the server's ${plan.verb} handler`,
    license: 'MIT',
    keywords: ['oclif-plugin', 'iss-plugin'],
    files: ['dist/src', 'oclif.manifest.json', 'README.md'],
    engines: {node: '>=22'},
    peerDependencies: {'image-sharing-service': '>=0.1.0'},
    peerDependenciesMeta: {'image-sharing-service': {optional: true}},
    devDependencies: {'image-sharing-service': plan.sdkSpec, ...plan.tools},
    scripts: {
      build:
        'tsc -p . && OCLIF_SKIP_NEW_VERSION_CHECK=true node --require image-sharing-service/register node_modules/oclif/bin/run.js manifest',
      test: "npm run build && node --require image-sharing-service/register node_modules/mocha/bin/mocha.js --timeout 30000 'dist/test/**/*.test.js'",
      prepack: 'npm run build',
    },
    oclif: {commands: './dist/src/commands', topicSeparator: ' '},
    iss,
  }
  return `${JSON.stringify(pjson, null, 2)}\n`
}

export function tsconfigJson(): string {
  const tsconfig = {
    compilerOptions: {
      target: 'es2023',
      lib: ['es2023'],
      module: 'nodenext',
      moduleResolution: 'nodenext',
      types: ['node', 'mocha'],
      rootDir: '.',
      outDir: 'dist',
      strict: true,
      skipLibCheck: true,
    },
    include: ['src/**/*.ts', 'test/**/*.ts'],
  }
  return `${JSON.stringify(tsconfig, null, 2)}\n`
}

export function gitignore(): string {
  return ['node_modules/', 'dist/', 'oclif.manifest.json', '*.tgz', '*.log', ''].join('\n')
}
