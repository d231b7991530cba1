#!/usr/bin/env bash
# The README, as a new user follows it: a fresh clone, only the machine's (older) Node on the PATH, and the
# README's commands as written (Quick start, the clients through npx, the delete plugin from the checkout,
# a global install). Each step prints PASS or FAIL with what it checked; the exit code is the number of
# failures. Usage: scripts/walkthrough.sh [REPOSITORY]   (default: this checkout's committed HEAD)
# Needs git, npm and network access to the npm registry npm is configured with (npm ci, npm install -g).
set -uo pipefail

main() {
repo=${1:-$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)}
work=$(mktemp -d "${TMPDIR:-/tmp}/iss-walkthrough-XXXXXX")
server_pid=
failures=0

# The process and its descendants, by PID (npm runs the start script in a process group of its own).
tree() {
  local child
  echo "$1"
  for child in $(pgrep -P "$1"); do tree "$child"; done
}

cleanup() {
  [[ -n $server_pid ]] && stop_server
  rm -rf "$work"
}
trap cleanup EXIT

pass() { printf 'PASS  %s\n' "$1"; }
fail() {
  printf 'FAIL  %s\n' "$1"
  [[ -n ${2:-} ]] && sed 's/^/      | /' <<<"$2" | head -20
  failures=$((failures + 1))
}

# Only the machine's own Node and npm on the PATH: nothing of this checkout's node_modules.
machine_node=$(command -v node) || { echo 'no node on PATH'; exit 1; }
export PATH="$(dirname "$machine_node"):/usr/local/bin:/usr/bin:/bin"
node_major=$(node -p 'process.versions.node.split(".")[0]')
echo "machine Node: $(node --version), npm $(npm --version); work folder: $work"
((node_major < 22)) || echo 'note: this Node is already 22 or newer; the walk-through proves less'

# Isolated user data: the default store and the plugins go under $work, not the user's home.
export ISS_DATA_DIR="$work/data" ISS_CONFIG_DIR="$work/config" ISS_CACHE_DIR="$work/cache"
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
export ISS_PORT=$port

git clone -q "$repo" "$work/iss" || { echo "cannot clone $repo"; exit 1; }
cd "$work/iss" || exit 1

# --- Quick start -------------------------------------------------------------------------------------------
out=$(npm ci 2>&1)
if [[ $? -eq 0 ]]; then pass 'npm ci (installs and builds)'; else fail 'npm ci' "$out"; fi
engine=$(grep -c EBADENGINE <<<"$out")
if [[ $engine -eq 0 ]]; then pass "npm ci prints no EBADENGINE lines ($(wc -l <<<"$out") lines in all)"
else fail "npm ci printed $engine EBADENGINE lines" "$out"; fi

start_server() {
  npm start -- --port "$port" >"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 120); do
    grep -q 'listening on' "$work/server.log" && return 0
    kill -0 "$server_pid" 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}
stop_server() { # SIGTERM to npm and iss serve alike, as Ctrl-C would, then wait until all are gone
  local pids
  pids=$(tree "$server_pid")
  kill -TERM $pids 2>/dev/null
  for _ in $(seq 1 100); do
    kill -0 $pids 2>/dev/null || break
    sleep 0.2
  done
  wait "$server_pid" 2>/dev/null
  server_pid=
}

started=$(date +%s)
if start_server; then pass "npm start -- --port $port: iss serve listens ($(($(date +%s) - started)) s)"
else fail 'npm start' "$(cat "$work/server.log")"; fi
if grep -qi 'update available' "$work/server.log"; then fail 'npm start shows an oclif update notice' "$(cat "$work/server.log")"
else pass 'npm start shows no update notice'; fi

# A JPEG as far as `iss put` checks: start of image, then a complete JFIF APP0 segment, then data.
node -e 'const b=require("crypto").randomBytes(50000);b.set([0xff,0xd8,0xff,0xe0,0,16,0x4a,0x46,0x49,0x46,0,1,1,0,0,1,0,1,0,0]);require("fs").writeFileSync("cat.jpg",b)'

run() { # run LABEL COMMAND... : passes when the command exits 0
  local label=$1; shift
  local output
  output=$("$@" 2>&1)
  if [[ $? -eq 0 ]]; then pass "$label"; else fail "$label" "$output"; fi
  last_output=$output
}

run 'npx iss put cat.jpg' npx iss put cat.jpg
run 'npx iss list' npx iss list
if grep -qx 'cat.jpg' <<<"$last_output"; then pass 'iss list shows cat.jpg'; else fail 'iss list shows cat.jpg' "$last_output"; fi
mkdir -p "$work/out"
run "npx iss get cat.jpg -o $work/out" npx iss get cat.jpg -o "$work/out"
if cmp -s cat.jpg "$work/out/cat.jpg"; then pass 'the downloaded image is the uploaded one'; else fail 'downloaded image differs'; fi
run 'npx iss --help' npx iss --help
out=$(npx iss lsit 2>&1)
if [[ $out == *"did you mean 'iss list'"* ]]; then pass 'npx iss lsit suggests iss list'; else fail 'typo suggestion' "$out"; fi
if grep -q '"msg":"request"' "$work/server.log"; then pass 'the server logs JSON lines when piped'
else fail 'no JSON request line in the piped server log' "$(cat "$work/server.log")"; fi

# --- A second start builds nothing -------------------------------------------------------------------------
stop_server
started=$(date +%s)
if start_server; then pass "a second npm start: listening after $(($(date +%s) - started)) s"
else fail 'second npm start' "$(cat "$work/server.log")"; fi
if grep -q 'wrote manifest' "$work/server.log"; then fail 'the second npm start rebuilt the manifests' "$(cat "$work/server.log")"
else pass 'the second npm start rebuilt nothing'; fi

# --- The delete plugin, from the checkout ------------------------------------------------------------------
run 'npx iss plugins install ./plugins/iss-plugin-delete' npx iss plugins install ./plugins/iss-plugin-delete
stop_server
start_server || fail 'restart after the plugin install' "$(cat "$work/server.log")"
if grep -q 'serves DELETE (plugin iss-plugin-delete)' "$work/server.log"; then pass 'iss serve serves DELETE'
else fail 'iss serve does not serve DELETE' "$(cat "$work/server.log")"; fi
run 'npx iss delete cat.jpg' npx iss delete cat.jpg
run 'npx iss plugins uninstall iss-plugin-delete' npx iss plugins uninstall iss-plugin-delete
out=$(npx iss plugins install ./no-such-plugin 2>&1)
if [[ $out == *'no such file or folder'* && $out != *github* ]]; then pass 'a missing local plugin path is refused in one line'
else fail 'missing local plugin path' "$out"; fi
stop_server

# --- Global install ----------------------------------------------------------------------------------------
run 'npm pack' npm pack
prefix="$work/global"
run 'npm install -g ./image-sharing-service-0.1.0.tgz (into a temporary prefix)' \
  npm install -g --prefix "$prefix" ./image-sharing-service-0.1.0.tgz
if ((node_major < 22)); then
  out=$("$prefix/bin/iss" --version 2>&1)
  code=$?
  if [[ $code -eq 2 && $(wc -l <<<"$out") -eq 1 && $out == *'needs Node.js 22'* ]]; then
    pass "the global iss on Node $(node --version) says it needs Node 22, in one line (exit 2)"
  else fail 'the global iss on an old Node' "$out (exit $code)"; fi
fi
# Node 22 or newer first on the PATH, as the README asks for a global install (the checkout's own Node 22).
out=$(PATH="$work/iss/node_modules/node/bin:$PATH" "$prefix/bin/iss" --version 2>&1)
if [[ $? -eq 0 && $out == image-sharing-service/* ]]; then pass "the global iss runs on Node 22: $out"
else fail 'the global iss on Node 22' "$out"; fi

echo "$failures failure(s)"
exit "$failures"
}

main "$@"
exit
