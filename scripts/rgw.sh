#!/usr/bin/env bash
# A single-node Ceph RGW on loopback, for the S3 store's tests, benchmarks and a developer's trials.
#
#   scripts/rgw.sh start DIR   starts one monitor, one memstore OSD and one radosgw with every path
#                              under DIR (created; nothing touches a real disk or a system path), then
#                              prints the S3 endpoint and keys as environment lines on stdout:
#                                eval "$(scripts/rgw.sh start /tmp/iss-rgw)"
#   scripts/rgw.sh stop DIR    stops the daemons started in DIR and removes DIR.
#   scripts/rgw.sh env DIR     prints the environment lines again.
#
# Needs Debian's ceph-mon, ceph-osd, radosgw and ceph-common (ceph 16). Ports are picked free.
# Auth is off: the cluster listens on 127.0.0.1 only and lives as long as the test run.
# Memory: the OSD keeps objects in RAM (RGW_MEMSTORE_BYTES, default 3 GiB, is its ceiling).
set -euo pipefail

usage() {
  echo "usage: $0 start DIR | stop DIR | env DIR" >&2
  exit 2
}

[[ $# -eq 2 ]] || usage
action=$1
dir=$2
log() { echo "rgw.sh: $(date +%T) $*" >&2; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# A run of N consecutive free ports (the OSD binds several messengers inside one range).
free_range() {
  python3 - "$1" <<'EOF'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(200):
    base = random.randint(20000, 60000 - n)
    socks = []
    try:
        for p in range(base, base + n):
            s = socket.socket(); s.bind(("127.0.0.1", p)); socks.append(s)
        print(base); break
    except OSError:
        pass
    finally:
        for s in socks: s.close()
else:
    sys.exit("no free port range")
EOF
}

print_env() {
  cat "$dir/env"
}

kill_daemons() {
  local pid
  for name in client.rgw osd.0 mon.a; do
    if [[ -f $dir/run/$name.pid ]]; then
      pid=$(cat "$dir/run/$name.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
}

stop() {
  [[ -d $dir ]] || return 0
  kill_daemons
  rm -rf "$dir"
}

wait_for() {
  local what=$1 tries=$2
  shift 2
  for _ in $(seq "$tries"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  log "$what did not come up; logs in $dir/log"
  tail -n 20 "$dir"/log/*.log >&2 || true
  return 1
}

start() {
  for tool in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool; do
    if ! command -v "$tool" >/dev/null; then
      log "$tool is missing: apt-get install --no-install-recommends ceph-mon ceph-osd radosgw ceph-common"
      exit 3
    fi
  done
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [[ -f $dir/env ]]; then
    log "already started in $dir"
    print_env
    return 0
  fi
  mkdir -p "$dir"/{run,log,mon,osd,rgw}
  local fsid mon_port rgw_port osd_base conf
  fsid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  mon_port=$(free_port)
  rgw_port=$(free_port)
  osd_base=$(free_range 24)
  conf=$dir/ceph.conf
  cat >"$conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
mon initial members = a
public addr = 127.0.0.1
ms bind ipv6 = false
ms bind port min = $osd_base
ms bind port max = $((osd_base + 23))
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc secure
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
osd objectstore = memstore
memstore device bytes = ${RGW_MEMSTORE_BYTES:-3221225472}
run dir = $dir/run
pid file = $dir/run/\$name.pid
admin socket = $dir/run/\$name.\$pid.asok
log file = $dir/log/\$name.log
mon data = $dir/mon/\$cluster-\$id
osd data = $dir/osd/\$cluster-\$id
rgw data = $dir/rgw/\$cluster-\$id
keyring = $dir/keyring
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
EOF

  log "monitor on 127.0.0.1:$mon_port"
  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
  ceph-mon -c "$conf" -i a --mkfs --monmap "$dir/monmap" --keyring "$dir/keyring"
  ceph-mon -c "$conf" -i a
  # A port poll, not `ceph mon stat`: the ceph CLI is Python and costs seconds on a busy machine.
  wait_for "the monitor" 120 python3 -c "import socket; socket.create_connection(('127.0.0.1', $mon_port), 1).close()"

  log "memstore OSD"
  local osd_uuid osd_id
  osd_uuid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  osd_id=$(timeout 120 ceph -c "$conf" osd new "$osd_uuid")
  mkdir -p "$dir/osd/ceph-$osd_id"
  ceph-osd -c "$conf" -i "$osd_id" --mkfs --osd-uuid "$osd_uuid" >>"$dir/log/start.log" 2>&1
  ceph-osd -c "$conf" -i "$osd_id" 2>>"$dir/log/start.log"
  # radosgw waits for the OSD by itself: its port opens once its pools exist.

  log "radosgw on 127.0.0.1:$rgw_port"
  radosgw -c "$conf" -n client.rgw 2>>"$dir/log/start.log"
  wait_for "radosgw" 400 python3 -c "import socket; socket.create_connection(('127.0.0.1', $rgw_port), 1).close()"

  local access secret
  access=$(python3 -c 'import secrets; print("ISS" + secrets.token_hex(8).upper())')
  secret=$(python3 -c 'import secrets; print(secrets.token_hex(20))')
  timeout 120 radosgw-admin -c "$conf" -n client.rgw user create --uid=iss --display-name=iss \
    --access-key="$access" --secret-key="$secret" >/dev/null
  cat >"$dir/env" <<EOF
ISS_S3_ENDPOINT=http://127.0.0.1:$rgw_port
ISS_S3_REGION=us-east-1
AWS_ACCESS_KEY_ID=$access
AWS_SECRET_ACCESS_KEY=$secret
EOF
  log "ready: http://127.0.0.1:$rgw_port (stop with: $0 stop $dir)"
  print_env
}

case $action in
  start)
    # On any failure, stop what was started and keep the logs (errexit does not apply inside `if ! start`).
    trap 'status=$?; if ((status)); then kill_daemons; log "failed; logs kept in $dir/log"; fi' EXIT
    trap 'exit 143' TERM INT
    start
    ;;
  stop) stop ;;
  env) print_env ;;
  *) usage ;;
esac
