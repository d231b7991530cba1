import type {PluginPlan} from '../plan.js'

/** README.md of the new plugin: what it adds, and the author's loop (build, test, link, publish). */
export function readme(plan: PluginPlan): string {
  const events = plan.withEvents
    ? `
## Event log

\`src/events/log-image-events.ts\` is declared for \`image.published\`, \`image.deleted\` and \`image.renamed\`
("iss.events" in package.json): the server appends one line per event to the file named by
\`${plan.logEnv}\` (default: \`${plan.name.replace(/^@[^/]+\//u, '')}-events.log\` in the server's working folder).
`
    : ''
  return `# ${plan.name}

An iss (image-sharing-service) command plugin. It adds one protocol command,
${plan.verb}, as a pair:

- \`iss ${plan.id} NAME\` on the client side (\`src/commands/${plan.id}.ts\`);
- the ${plan.verb} handler in \`iss serve\` (\`src/handlers/${plan.id}.ts\`), which needs the scope
  \`${plan.scope}\` (package.json, "iss.handlers").

It declares the iss SDK range \`${plan.sdkRange}\` ("iss.sdk"). The handler written for you answers the stored
name and size of an image: replace its body with what ${plan.verb} does, and the test with what it should do.
The guide is docs/plugins.md of iss; the reference is its \`npm run docs\`.

## Develop

\`\`\`sh
npm install                  # the SDK (dev dependency ${plan.sdkSpec}) and the build tools
npm test                     # builds, then runs test/ against a real server started in-process
iss plugins link --no-install .   # the client command, and the handler for iss serve on this machine
iss serve --port 9600 --storage /tmp/images &   # prints: serves ${plan.verb} (plugin ${plan.name})
iss put cat.png -p 9600
iss ${plan.id} cat.png -p 9600
\`\`\`

Rebuild (\`npm run build\`) after each change: both halves run from \`dist/\`. \`iss plugins unlink ${plan.name}\`
removes the link.
${events}
## Publish

\`npm publish\` (prepack builds and writes \`oclif.manifest.json\`); then \`iss plugins install ${plan.name}\`
where the clients run and where \`iss serve\` runs. Before publishing, replace the SDK dev dependency
\`${plan.sdkSpec}\` with a version range once iss is on your registry (it is only used to build and test).
`
}
