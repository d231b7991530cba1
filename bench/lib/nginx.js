'use strict'
// nginx from Debian as the HTTP anchor: found or installed (apt-get), configured in a temporary
// folder with WebDAV PUT and static GET, and run in the foreground on 127.0.0.1.
const {spawnSync} = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const {runTimed, startServer} = require('./procs.js')

function which(name) {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin', '/sbin']) {
    const candidate = path.join(dir, name)
    try {
      fs.accessSync(candidate, fs.constants.X_OK)
      return candidate
    } catch {}
  }
  return null
}

function hasDav(binary) {
  // nginx -V writes its build options to stderr.
  const result = spawnSync(binary, ['-V'], {encoding: 'utf8', timeout: 5000})
  return `${result.stdout}${result.stderr}`.includes('http_dav_module')
}

/**
 * The nginx binary, installing Debian's package when missing and allowed. Never throws: returns
 * {binary} or {binary: null, reason}.
 */
async function ensureNginx({allowInstall, log}) {
  let binary = which('nginx')
  if (!binary && allowInstall) {
    if (process.getuid?.() !== 0)
      return {binary: null, reason: 'nginx is not installed and the bench is not root (apt-get install nginx)'}
    if (!which('apt-get')) return {binary: null, reason: 'nginx is not installed and there is no apt-get'}
    log('nginx not found: apt-get update && apt-get install -y nginx (bounded to 5 minutes)')
    const env = {DEBIAN_FRONTEND: 'noninteractive'}
    const update = await runTimed('apt-get', ['update'], {env, timeoutMs: 150_000, measureRss: false})
    if (update.code !== 0)
      return {binary: null, reason: `apt-get update failed: ${update.stderr.trim().split('\n').pop()}`}
    const install = await runTimed('apt-get', ['install', '-y', '--no-install-recommends', 'nginx'], {
      env,
      timeoutMs: 150_000,
      measureRss: false,
    })
    if (install.code !== 0)
      return {binary: null, reason: `apt-get install nginx failed: ${install.stderr.trim().split('\n').pop()}`}
    binary = which('nginx')
  }
  if (!binary)
    return {binary: null, reason: 'nginx is not installed (run with --install-nginx, or apt-get install nginx)'}
  if (!hasDav(binary)) return {binary: null, reason: `${binary} lacks http_dav_module`}
  return {binary}
}

/**
 * Starts nginx on 127.0.0.1:port serving `root` (GET, WebDAV PUT, JSON autoindex), everything else
 * under `dir`. One worker: iss serves from one event loop, and the load generator needs the other
 * core. Access log on, as iss logs each request. No fsync: nginx has no such option.
 */
async function startNginx({binary, dir, root, port, workers = 1}) {
  fs.mkdirSync(dir, {recursive: true})
  fs.mkdirSync(root, {recursive: true})
  const user = process.getuid?.() === 0 ? 'user root;\n' : ''
  const temp = (name) => path.join(dir, name)
  const conf = `${user}daemon off;
master_process on;
worker_processes ${workers};
pid ${temp('nginx.pid')};
error_log ${temp('error.log')} warn;
events { worker_connections 4096; }
http {
  access_log ${temp('access.log')};
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  client_body_temp_path ${temp('client_body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};
  types { image/png png; image/jpeg jpg jpeg; }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    client_max_body_size 0;
    location / {
      dav_methods PUT;
      dav_access user:rw group:r all:r;
      autoindex on;
      autoindex_format json;
    }
  }
}
`
  const confPath = temp('nginx.conf')
  fs.writeFileSync(confPath, conf)
  return startServer({
    name: 'nginx',
    command: binary,
    args: ['-c', confPath, '-e', temp('error.log')],
    port,
    logDir: dir,
  })
}

module.exports = {ensureNginx, startNginx, which}
