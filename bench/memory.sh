#!/usr/bin/env bash
# What an idle daemon keeps in memory: hinetd's monitor, listener and
# namespace maker (the monitor's fork that makes drops_privileges services'
# namespaces: a copy of the monitor's memory as it was at the fork), and
# tcpserver beside them, each serving the same static "hello\n" program
# (hinetd with its full sandbox, as in run.sh), measured from
# /proc/PID/smaps_rollup at three moments of each start:
#   idle     once the listener said it is ready (and a second more)
#   traffic  after BENCH_CONNECTIONS connections, one at a time, then a second
#   reload   hinetd only: after a SIGHUP, once the new listener is ready
# RSS (every page mapped and present), PSS (shared pages divided among the
# processes that map them) and private dirty (what only this process holds
# and could not drop: its own writes).
#
# usage: sudo bash bench/memory.sh [BUILD_DIR]   (default: build)
# environment:
#   BENCH_ROUNDS=3            starts of each server, interleaved; the
#                             summary gives each value's median
#   BENCH_CONNECTIONS=200     connections of the "traffic" moment
#   BENCH_TCPSERVER_PORT=18041, BENCH_HINETD_PORT=18042
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly BUILD=${1:-build}
readonly ROUNDS=${BENCH_ROUNDS:-3}
readonly CONNECTIONS=${BENCH_CONNECTIONS:-200}
readonly TCPSERVER_PORT=${BENCH_TCPSERVER_PORT:-18041}
readonly HINETD_PORT=${BENCH_HINETD_PORT:-18042}
readonly HINETD=$BUILD/bin/hinetd
readonly REPLY=$BUILD/bin/hinetd-bench-reply
readonly LOADCLIENT=$BUILD/bin/hinetd-loadclient

TMP=""
PID=""
log() { echo "memory.sh: $*" >&2; }
cleanup() {
  [[ -z $PID ]] || stop_pid "$PID"
  [[ -z $TMP ]] || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ $(id -u) == 0 ]] || die "run as root (hinetd binds, chroots and changes uids)"
[[ -x $HINETD && -x $REPLY && -x $LOADCLIENT ]] ||
  die "build first: $HINETD, $REPLY and $LOADCLIENT"
((ROUNDS >= 1 && ROUNDS <= 50)) || die "BENCH_ROUNDS must be 1..50"
((CONNECTIONS >= 1 && CONNECTIONS <= 100000)) || die "BENCH_CONNECTIONS must be 1..100000"
ensure_tcpserver

# hinetd reads a table only if it and every directory above it are
# root-owned and not group/world-writable, and chroots only into such a
# directory: under /var/lib, not /tmp.
TMP=$(mktemp -d /var/lib/hinetd-bench-memory.XXXXXX)
chmod 0755 "$TMP"
install -d -m 0755 "$TMP/sandbox" "$TMP/jail"
install -m 0644 sandbox/*.toml "$TMP/sandbox/"
install -m 0755 "$REPLY" "$TMP/jail/reply"
cat >"$TMP/hinetd.toml" <<EOF
[daemon]
sandbox_dir = "sandbox"

[[service]]
name = "bench"
listen = ["127.0.0.1:$HINETD_PORT"]
exec = ["/reply"]
user = "nobody"
group = "nogroup"
chroot = "$TMP/jail"
sandbox = "stdio"
EOF
chmod 0644 "$TMP/hinetd.toml"

# "rss_kb pss_kb private_dirty_kb" of process $1.
memory_of() {
  awk '/^Rss:/ { r = $2 } /^Pss:/ { p = $2 } /^Private_Dirty:/ { d = $2 }
       END { print r + 0, p + 0, d + 0 }' "/proc/$1/smaps_rollup"
}

# Waits (at most ~5 s) until $1 has logged event=listener-ready $2 times;
# prints that listener's pid.
wait_ready() {
  local logfile=$1 count=$2 line
  for _ in $(seq 50); do
    line=$(grep 'event=listener-ready' "$logfile" | sed -n "${count}p")
    if [[ $line =~ \ pid=([0-9]+) ]]; then
      echo "${BASH_REMATCH[1]}"
      return 0
    fi
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  show_log "$logfile"
  die "no listener-ready number $count"
}

traffic() {
  "$LOADCLIENT" --port "$1" --count "$CONNECTIONS" --warmup 0 --expect $'hello\n' \
    >"$TMP/load.txt" 2>&1 || { cat "$TMP/load.txt" >&2; die "the load client failed"; }
}

RESULTS=()  # "what moment rss pss dirty"
record() { RESULTS+=("$1 $2 $(memory_of "$3")"); }

# The namespace maker: the monitor's child that runs hinetd's own program.
maker_of() {
  local pid
  pid=$(pgrep -P "$1" -x hinetd | head -n 1)
  [[ -n $pid ]] || die "no namespace maker under the monitor (pid $1)"
  echo "$pid"
}

for ((round = 1; round <= ROUNDS; round++)); do
  log "round $round of $ROUNDS"
  sync
  require_port_free "$HINETD_PORT" BENCH_HINETD_PORT
  "$HINETD" -f -c "$TMP/hinetd.toml" </dev/null >"$TMP/hinetd.log" 2>&1 &
  PID=$!
  listener=$(wait_ready "$TMP/hinetd.log" 1)
  sleep 1
  maker=$(maker_of "$PID")
  record monitor idle "$PID"
  record listener idle "$listener"
  record maker idle "$maker"
  traffic "$HINETD_PORT"
  sleep 1
  record monitor traffic "$PID"
  record listener traffic "$listener"
  record maker traffic "$maker"
  kill -HUP "$PID"
  listener=$(wait_ready "$TMP/hinetd.log" 2)
  sleep 1
  record monitor reload "$PID"
  record listener reload "$listener"
  record maker reload "$maker"
  stop_pid "$PID"
  PID=""

  sync
  require_port_free "$TCPSERVER_PORT" BENCH_TCPSERVER_PORT
  tcpserver -c 1000 -H -R -l 0 127.0.0.1 "$TCPSERVER_PORT" "$REPLY" \
    </dev/null >"$TMP/tcpserver.log" 2>&1 &
  PID=$!
  wait_listening tcpserver "$PID" "$TCPSERVER_PORT" "$TMP/tcpserver.log"
  sleep 1
  record tcpserver idle "$PID"
  traffic "$TCPSERVER_PORT"
  sleep 1
  record tcpserver traffic "$PID"
  stop_pid "$PID"
  PID=""
done

for r in "${RESULTS[@]}"; do echo "$r"; done
echo
echo "median of $ROUNDS round(s), kB ($(uname -r), $(nproc) CPUs; traffic: $CONNECTIONS connections):"
printf '%-10s %-8s %8s %8s %14s\n' process moment rss pss private_dirty
for what in "monitor idle" "monitor traffic" "monitor reload" "listener idle" \
  "listener traffic" "listener reload" "maker idle" "maker traffic" "maker reload" \
  "tcpserver idle" "tcpserver traffic"; do
  line=$(printf '%s\n' "${RESULTS[@]}" | awk -v w="$what" '
    $1 " " $2 == w { n++; r[n] = $3; p[n] = $4; d[n] = $5 }
    function med(a,   i, j, t) {
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return a[int((n + 1) / 2)]
    }
    END { if (n) print med(r), med(p), med(d) }')
  # shellcheck disable=SC2086
  printf '%-10s %-8s %8s %8s %14s\n' $what $line
done
