#!/usr/bin/env bash
# Soak benchmark (issue 15 item 3): hinetd under mixed TCP/UDP/unix load for
# SOAK_SECONDS, reloaded every SOAK_RELOAD_EVERY seconds (alternating two
# tables, so that every reload changes plans), its listener killed every
# SOAK_LISTENER_KILL_EVERY seconds, with clients that stall, reset and send
# garbage besides well-behaved ones. Afterwards it checks that
#   - the monitor's and the listener's open fds, threads, children and
#     zombies are what they were at the start, their RSS within
#     SOAK_RSS_TOLERANCE_KB;
#   - no connection failed that a limit did not refuse (every refusal a
#     client saw is matched by an event=reject line);
#   - the log holds no line outside an allow-list of expected events.
# It exits 0 only if all three hold, else 1, saying what failed.
#
# usage: sudo bash bench/soak.sh [BUILD_DIR]     (default: build)
# environment:
#   SOAK_SECONDS=3600              length of the loaded run
#   SOAK_RELOAD_EVERY=10           seconds between reloads (SIGHUP)
#   SOAK_LISTENER_KILL_EVERY=300   seconds between SIGKILLs to the listener
#   SOAK_WARMUP=15                 seconds of load (and two reloads) before
#                                  the start sample
#   SOAK_SAMPLE_EVERY=60           seconds between rows of samples.csv
#   SOAK_RSS_TOLERANCE_KB=1024     allowed RSS growth of each process
#   SOAK_PORT_BASE=18100           TCP/UDP ports PORT_BASE .. PORT_BASE+6
#   SOAK_OUT=/var/tmp/hinetd-soak.DATE   results (log, CSV, client JSON,
#                                  summary); kept after the run
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO
cd "$REPO"

readonly BUILD=${1:-build}
readonly DURATION=${SOAK_SECONDS:-3600}
readonly RELOAD_EVERY=${SOAK_RELOAD_EVERY:-10}
readonly KILL_EVERY=${SOAK_LISTENER_KILL_EVERY:-300}
readonly WARMUP=${SOAK_WARMUP:-15}
readonly SAMPLE_EVERY=${SOAK_SAMPLE_EVERY:-60}
readonly RSS_TOLERANCE_KB=${SOAK_RSS_TOLERANCE_KB:-1024}
readonly PORT=${SOAK_PORT_BASE:-18100}
OUT=${SOAK_OUT:-/var/tmp/hinetd-soak.$(date -u +%Y%m%dT%H%M%SZ)}
readonly OUT

readonly LOADCLIENT=$BUILD/bin/hinetd-loadclient
readonly SERVICE=$BUILD/bin/hinetd-soak-service
readonly HINETD=$BUILD/bin/hinetd

# Everything the EXIT trap undoes.
DAEMON=""
CLIENTS=()
TMP=""
JAIL_PARENT=""
# Set while running.
LOG=""
VARIANT=a
RELOADS=0
KILLS=0
FAILED=()

log() { echo "soak.sh: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# --- cleanup ----------------------------------------------------------------

stop_pid() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local pid
  for pid in "${CLIENTS[@]}"; do stop_pid "$pid"; done
  [[ -n $DAEMON ]] && stop_pid "$DAEMON"
  [[ -n $TMP ]] && rm -rf -- "$TMP"
  [[ -n $JAIL_PARENT ]] && rm -rf -- "$JAIL_PARENT"
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- preparation --------------------------------------------------------------

require_root() {
  [[ $EUID -eq 0 ]] ||
    die "must run as root: hinetd needs root to chroot and drop privileges" \
      "(try: sudo bash bench/soak.sh)"
}

ensure_built() {
  [[ -x $LOADCLIENT && -x $SERVICE && -x $HINETD && -x $BUILD/bin/hinetd-internal &&
     -x $BUILD/bin/hinetd-listener ]] &&
    return 0
  log "building the project in $BUILD"
  bash scripts/deps.sh build >&2
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHINETD_BUILD_TESTS=OFF >&2
  cmake --build "$BUILD" -j"$(nproc)" >&2
  [[ -x $HINETD && -x $SERVICE && -x $LOADCLIENT ]] || die "$BUILD was not built"
}

require_ports_free() {
  local p
  for p in $(seq "$PORT" $((PORT + 6))); do
    [[ -z $(ss -Hlntu "sport = :$p") ]] ||
      die "port $p is already in use; choose another base with SOAK_PORT_BASE"
  done
}

# A chroot must be root-owned all the way up, so the jail lives under
# /var/lib, not /tmp (see bench/README.md).
make_jail() {
  JAIL_PARENT=$(mktemp -d /var/lib/hinetd-soak.XXXXXX)
  chmod 0755 "$JAIL_PARENT"
  install -d -m 0755 -o root -g root "$JAIL_PARENT/jail"
  install -m 0755 -o root -g root "$SERVICE" "$JAIL_PARENT/jail/soak-service"
}

# Two tables that differ in every service's plan (env, timeout) and in the
# limits, so that each reload replaces plans, limits and the udp wait child.
write_config() {
  local variant=$1 timeout=3s held=2 rate=20/s wait_timeout=60s
  if [[ $variant == b ]]; then
    timeout=4s held=3 rate=25/s wait_timeout=61s
  fi
  cat >"$TMP/hinetd.toml.new" <<EOF
# soak.sh table, variant $variant
[daemon]
sandbox_dir = "sandbox"

[defaults]
user = "nobody"
group = "nogroup"
chroot = "$JAIL_PARENT/jail"
sandbox = "stdio"
timeout = "$timeout"
env = { SOAK_VARIANT = "$variant" }

# well-behaved request/response clients
[[service]]
name = "plain"
listen = ["127.0.0.1:$PORT"]
exec = ["/soak-service"]

# more clients than instances: the others wait in the backlog
[[service]]
name = "held"
listen = ["127.0.0.1:$((PORT + 1))"]
exec = ["/soak-service"]
max_instances = $held

# clients faster than the rate: the service pauses
[[service]]
name = "rated"
listen = ["127.0.0.1:$((PORT + 2))"]
exec = ["/soak-service"]
rate = "$rate"
backoff = "1s"

# a second connection from the same source is refused
[[service]]
name = "pair"
listen = ["127.0.0.1:$((PORT + 3))"]
exec = ["/soak-service"]
per_source = 1

# clients that stall, reset and send garbage
[[service]]
name = "misc"
listen = ["127.0.0.1:$((PORT + 4))"]
exec = ["/soak-service"]

[[service]]
name = "udp"
listen = ["127.0.0.1:$((PORT + 5))"]
protocol = "udp"
exec = ["/soak-service"]

[[service]]
name = "udpwait"
listen = ["127.0.0.1:$((PORT + 6))"]
protocol = "udp"
wait = true
exec = ["/soak-service"]
# It serves until 2 s without a datagram, or until a reload makes it stale;
# a timeout would end it unsuccessfully, which drops a datagram (README UDP).
timeout = "$wait_timeout"

[[service]]
name = "local"
listen = ["unix:$TMP/sock/soak.sock"]
socket_mode = "0600"
exec = ["/soak-service"]
EOF
  chmod 0644 "$TMP/hinetd.toml.new"
  mv -f "$TMP/hinetd.toml.new" "$TMP/hinetd.toml"
}

# --- the daemon ---------------------------------------------------------------

log_count() { grep -c -- "$1" "$LOG" || true; }

# The pid of the newest listener that said it serves.
listener_pid() {
  grep -o 'event=listener-ready pid=[0-9]*' "$LOG" | tail -n 1 | sed 's/.*pid=//'
}

# Waits (at most $2 s) until the log holds $3 lines matching $1.
wait_log() {
  local pattern=$1 seconds=$2 want=$3
  for _ in $(seq $((seconds * 10))); do
    (($(log_count "$pattern") >= want)) && return 0
    kill -0 "$DAEMON" 2>/dev/null || die "hinetd exited; see $LOG"
    sleep 0.1
  done
  return 1
}

start_daemon() {
  install -d -m 0755 "$TMP/sandbox" "$TMP/sock"
  install -m 0644 "$REPO"/sandbox/*.toml "$TMP/sandbox/"
  write_config a
  "$HINETD" -f -c "$TMP/hinetd.toml" </dev/null 2>"$LOG" >&2 &
  DAEMON=$!
  wait_log 'event=listener-ready' 10 1 || {
    tail -n 20 "$LOG" >&2
    die "hinetd does not serve after 10 s"
  }
}

reload() {
  VARIANT=$([[ $VARIANT == a ]] && echo b || echo a)
  write_config "$VARIANT"
  local before
  before=$(log_count 'event=reload ')
  kill -HUP "$DAEMON"
  RELOADS=$((RELOADS + 1))
  wait_log 'event=reload \|event=reload-failed' 10 $((before + 1)) ||
    log "warning: reload $RELOADS not logged within 10 s"
}

kill_listener() {
  local pid
  pid=$(listener_pid)
  [[ -n $pid && $(awk '/^PPid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) == "$DAEMON" ]] ||
    { log "warning: no listener to kill"; return 0; }
  # The monitor restarts it; wait for the new one so that the next sample
  # and the next reload see it.
  local want=$(($(log_count 'event=listener-ready') + 1))
  kill -KILL "$pid"
  KILLS=$((KILLS + 1))
  wait_log 'event=listener-ready' 10 "$want" || log "warning: no new listener 10 s after kill $KILLS"
}

# --- samples ------------------------------------------------------------------

status_field() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null; }

# "fds rss_kb threads children zombies" of process $1.
sample_process() {
  local pid=$1 fds rss threads children=0 zombies=0 c
  fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  rss=$(status_field "$pid" VmRSS)
  threads=$(status_field "$pid" Threads)
  for c in $(cat "/proc/$pid/task/"*/children 2>/dev/null); do
    children=$((children + 1))
    [[ $(status_field "$c" State) == Z ]] && zombies=$((zombies + 1))
  done
  echo "$fds ${rss:-0} ${threads:-0} $children $zombies"
}

# How many processes are below the daemon (listener, namespace maker,
# service children and what they started); with an argument, only those
# whose real uid is that.
descendants() {
  local uid=${1:-} todo=("$DAEMON") n=0 p c
  while ((${#todo[@]} > 0)); do
    p=${todo[-1]}
    unset 'todo[-1]'
    for c in $(cat "/proc/$p/task/"*/children 2>/dev/null); do
      todo+=("$c")
      [[ -z $uid || $(status_field "$c" Uid) == "$uid" ]] && n=$((n + 1))
    done
  done
  echo "$n"
}

# Services run as nobody: drained when no process of that uid is left below
# the daemon, and no child is still being set up (as root): the count of
# descendants is back to the listener and the namespace maker. At most $1 s.
wait_drained() {
  local seconds=$1 nobody
  nobody=$(id -u nobody)
  for _ in $(seq $((seconds * 10))); do
    (($(descendants "$nobody") == 0 && $(descendants) <= 2)) && return 0
    sleep 0.1
  done
  return 1
}

csv_row() {
  local t=$1 l
  l=$(listener_pid)
  echo "$t,$(sample_process "$DAEMON" | tr ' ' ','),$l,$(sample_process "$l" | tr ' ' ','),$(descendants),$(cut -d' ' -f1 /proc/loadavg)" \
    >>"$OUT/samples.csv"
}

# --- load ---------------------------------------------------------------------

# kind port-or-path concurrency interval timeout extra-args...
start_client() {
  local kind=$1 target=$2 c=$3 interval=$4 timeout=$5 seconds=$6 phase=$7
  shift 7
  local where=(--port "$target")
  [[ $target == /* ]] && where=(--unix "$target")
  "$LOADCLIENT" "${where[@]}" --concurrency "$c" --interval "$interval" \
    --timeout "$timeout" --duration "$seconds" --warmup 0 --json --label "$kind" \
    "$@" >"$OUT/$phase-$kind.json" 2>"$OUT/$phase-$kind.err" &
  CLIENTS+=("$!")
}

readonly REQ='req hello\n'
readonly ANS='ready\nans hello\n'
readonly KINDS="plain held rated pair stall reset garbage udp udpwait unix"

start_load() {
  local seconds=$1 phase=$2
  start_client plain "$PORT" 2 50 15 "$seconds" "$phase" --send "$REQ" --expect "$ANS"
  start_client held $((PORT + 1)) 4 20 15 "$seconds" "$phase" --send "$REQ" --expect "$ANS"
  start_client rated $((PORT + 2)) 2 10 15 "$seconds" "$phase" --send "$REQ" --expect "$ANS"
  # The soak phase's sources follow the warm-up's: each refusal is logged
  # only once per source a minute.
  local first=0
  [[ $phase == soak ]] && first=30000
  start_client pair $((PORT + 3)) 1 100 15 "$seconds" "$phase" --pair --pair-first "$first" \
    --send "$REQ" --expect "$ANS"
  # Sends nothing: its child waits for a request until the service's timeout.
  start_client stall $((PORT + 4)) 2 0 15 "$seconds" "$phase" --expect 'ready\n'
  start_client reset $((PORT + 4)) 1 50 15 "$seconds" "$phase" --reset
  start_client garbage $((PORT + 4)) 1 50 15 "$seconds" "$phase" --garbage 300 \
    --expect 'ready\nbad\n'
  start_client udp $((PORT + 5)) 1 50 15 "$seconds" "$phase" --udp --send 'req u\n' \
    --expect 'ans u\n'
  start_client udpwait $((PORT + 6)) 2 50 15 "$seconds" "$phase" --udp --send 'req w\n' \
    --expect 'ans w\n'
  start_client unix "$TMP/sock/soak.sock" 2 50 15 "$seconds" "$phase" --send "$REQ" \
    --expect "$ANS"
}

# Waits for every client (each ends by its --duration plus at most its
# 15 s timeout; 60 s is the bound).
wait_load() {
  local pid deadline=$((SECONDS + 60))
  for pid in "${CLIENTS[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      FAILED+=("load client $pid did not end within 60 s of its duration")
      stop_pid "$pid"
    fi
    wait "$pid" 2>/dev/null || true
  done
  CLIENTS=()
}

# --- analysis -----------------------------------------------------------------

json_value() {
  awk -v key="\"$2\":" '$1 == key { v = $2; gsub(/[",]/, "", v); print v; exit }' "$1"
}

# "reset=3 timeout=1" from the nonzero entries of the "errors" object.
json_error_kinds() {
  awk '/"errors": \{/ { inside = 1; next }
       inside && /}/ { exit }
       inside { k = $1; v = $2; gsub(/[",:]/, "", k); gsub(/,/, "", v)
                if (v != 0 && k != "refused") { printf "%s%s=%s", sep, k, v; sep = " " } }' "$1"
}

# Sums of both phases for one kind: "ok refused errors kinds".
client_figures() {
  local kind=$1 ok=0 refused=0 errors=0 kinds="" f
  for f in "$OUT/warmup-$kind.json" "$OUT/soak-$kind.json"; do
    [[ -s $f ]] || {
      FAILED+=("$kind client wrote no result ($f; see ${f%.json}.err)")
      continue
    }
    ok=$((ok + $(json_value "$f" connections_ok)))
    errors=$((errors + $(json_value "$f" errors_total)))
    refused=$((refused + $(awk '$1 == "\"refused\":" { gsub(/,/, "", $2); print $2 }' "$f")))
    local k
    k=$(json_error_kinds "$f")
    [[ -n $k ]] && kinds+="${kinds:+ }${f##*/}: $k"
  done
  echo "$ok $refused $errors $kinds"
}

# Every line's event against the allow-list; prints what is not on it.
# Expected, and why:
#   start, listener-start, listener-ready: start, each reload, each restart
#   accept, end: each connection; end statuses: exit:0 (answered); exit:1
#     (a reset client: read failed); timeout (a stalled client, or a udp
#     nowait child whose peer was gone); signal:TERM/KILL (udpwait ended as
#     stale after a reload)
#   reject reason=per_source on "pair": the refusals the pair client causes
#   pause/resume reason=rate on "rated", reason=max_instances on "held"
#   refuse-request "connection closed before it was served" on misc: a reset
#     client closed before its child started
#   reload: every SIGHUP; stale-stop on udpwait (its plan changed)
#   listener-exit: our kills (status=signal:KILL) and the listener replaced
#     at each reload
#   stderr on "misc": the service's "garbage request" line; stderr-suppressed
#   status: the SIGUSR1 dump at the end; stop lines after SIGTERM
classify_log() {
  awk -v stop_line="$1" '
    function val(key,   i, n, parts) {
      n = split($0, parts, " ")
      for (i = 1; i <= n; i++) if (index(parts[i], key "=") == 1) return substr(parts[i], length(key) + 2)
      return ""
    }
    {
      line = $0; sub(/^<[0-9]>/, "", line); $0 = line
      ev = val("event"); svc = val("service"); ok = 0
      if (ev == "start" || ev == "listen" || ev == "listener-start" || ev == "listener-ready" ||
          ev == "accept" || ev == "reload" || ev == "status") ok = 1
      else if (ev == "end") {
        st = val("status")
        ok = (st == "exit:0" || (svc == "misc" && (st == "exit:1" || st == "timeout")) ||
              (svc == "udp" && st == "timeout") ||
              (svc == "udpwait" && (st == "signal:TERM" || st == "signal:KILL")))
      }
      else if (ev == "reject") ok = (svc == "pair" && val("reason") == "per_source")
      else if (ev == "pause" || ev == "resume")
        ok = ((svc == "rated" && val("reason") == "rate") ||
              (svc == "held" && val("reason") == "max_instances"))
      # A reset client closed its connection before its child could start
      # (service 4 is "misc", where the reset clients go).
      else if (ev == "refuse-request")
        ok = (index($0, "reason=\"connection closed before it was served\" service=4 ") > 0)
      else if (ev == "stale-stop") ok = (svc == "udpwait")
      else if (ev == "listener-exit") ok = 1
      else if (ev == "stderr") ok = (svc == "misc" && index($0, "line=\"soak-service: garbage request of ") > 0)
      else if (ev == "stderr-suppressed") ok = (svc == "misc")
      if (NR > stop_line && stop_line > 0) ok = 1
      if (!ok) print $0
    }' "$LOG"
}

compare() {
  local name=$1 start=$2 end=$3 what=(fds rss_kb threads children zombies) i
  read -r -a s <<<"$start"
  read -r -a e <<<"$end"
  for i in 0 2 3 4; do
    ((s[i] == e[i])) || FAILED+=("$name ${what[i]}: ${s[i]} at the start, ${e[i]} at the end")
  done
  ((e[1] - s[1] <= RSS_TOLERANCE_KB)) ||
    FAILED+=("$name RSS grew by $((e[1] - s[1])) kB (> $RSS_TOLERANCE_KB kB): ${s[1]} -> ${e[1]} kB")
}

main() {
  require_root
  ensure_built
  command -v ss >/dev/null || die "ss (iproute2) is needed"
  require_ports_free
  mkdir -p "$OUT"
  LOG=$OUT/hinetd.log
  # hinetd loads a table only from directories root alone can change.
  TMP=$(mktemp -d /run/hinetd-soak.XXXXXX)
  chmod 0755 "$TMP"
  make_jail
  log "results in $OUT; ${DURATION}s, reload every ${RELOAD_EVERY}s," \
    "listener killed every ${KILL_EVERY}s"
  start_daemon
  echo "elapsed_s,mon_fds,mon_rss_kb,mon_threads,mon_children,mon_zombies,listener_pid,lis_fds,lis_rss_kb,lis_threads,lis_children,lis_zombies,descendants,load1" \
    >"$OUT/samples.csv"

  # Warm-up: every kind of client and two reloads (back to variant a), so
  # that what is allocated once (buffers, caches, the second table) is there
  # before the start sample.
  start_load "$WARMUP" warmup
  sleep "$((WARMUP / 3))"
  reload
  sleep "$((WARMUP / 3))"
  reload
  wait_load
  wait_drained 60 || FAILED+=("service children did not drain within 60 s after the warm-up")
  local start_mon start_lis
  start_mon=$(sample_process "$DAEMON")
  start_lis=$(sample_process "$(listener_pid)")
  csv_row 0
  log "start: monitor $start_mon, listener $start_lis (fds rss_kb threads children zombies)"

  start_load "$DURATION" soak
  local t0=$SECONDS elapsed=0 next_reload=$RELOAD_EVERY next_sample=$SAMPLE_EVERY
  local next_kill=$((KILL_EVERY + RELOAD_EVERY / 2))  # between two reloads
  while ((elapsed < DURATION)); do
    sleep 0.5
    elapsed=$((SECONDS - t0))
    kill -0 "$DAEMON" 2>/dev/null || die "hinetd exited during the run; see $LOG"
    if ((elapsed >= next_reload)); then
      reload
      next_reload=$((next_reload + RELOAD_EVERY))
    fi
    if ((elapsed >= next_kill)); then
      kill_listener
      next_kill=$((next_kill + KILL_EVERY))
    fi
    if ((elapsed >= next_sample)); then
      csv_row "$elapsed"
      next_sample=$((next_sample + SAMPLE_EVERY))
    fi
  done
  wait_load
  # Compare like with like: end on the table the start sample saw.
  [[ $VARIANT == a ]] || reload
  wait_drained 60 || FAILED+=("service children did not drain within 60 s after the load")
  local end_mon end_lis
  end_mon=$(sample_process "$DAEMON")
  end_lis=$(sample_process "$(listener_pid)")
  csv_row "$((SECONDS - t0))"
  log "end:   monitor $end_mon, listener $end_lis"
  compare monitor "$start_mon" "$end_mon"
  compare listener "$start_lis" "$end_lis"

  # The counters, then stop.
  local n
  n=$(log_count 'event=status ')
  kill -USR1 "$DAEMON"
  wait_log 'event=status ' 10 $((n + 9)) || log "warning: status dump incomplete"
  local stop_line
  stop_line=$(wc -l <"$LOG")
  stop_pid "$DAEMON"
  local status=0
  wait "$DAEMON" 2>/dev/null || status=$?
  DAEMON=""

  # Clients: every failure is a loss unless a limit refused it, and each
  # refusal the pair client saw must have its event=reject line (one per
  # fresh source address).
  local kind ok refused errors kinds total_loss=0
  local rejects
  rejects=$(grep -c 'event=reject service=pair .*reason=per_source' "$LOG" || true)
  # Not in a pipeline (a subshell): FAILED and total_loss must survive.
  exec 3>"$OUT/summary.txt"
  {
    echo "hinetd soak: $(uname -r), $(nproc) CPUs, ${DURATION}s (+${WARMUP}s warm-up)," \
      "$RELOADS reloads, $KILLS listener kills"
    printf '%-8s %9s %8s %7s  %s\n' kind ok refused lost "error kinds"
    for kind in $KINDS; do
      read -r ok refused errors kinds <<<"$(client_figures "$kind")"
      total_loss=$((total_loss + errors))
      printf '%-8s %9s %8s %7s  %s\n' "$kind" "$ok" "$refused" "$errors" "$kinds"
      if [[ $kind == pair ]] && ((refused > rejects)); then
        total_loss=$((total_loss + refused - rejects))
        FAILED+=("pair: $refused connections closed before a byte, only $rejects event=reject lines")
      fi
    done
    echo "event=reject reason=per_source lines: $rejects"
    echo "pause lines (rated): $(log_count 'event=pause service=rated')," \
      "stale-stop lines: $(log_count 'event=stale-stop')," \
      "listener-exit lines: $(log_count 'event=listener-exit')"
    echo "monitor  start $start_mon  end $end_mon  (fds rss_kb threads children zombies)"
    echo "listener start $start_lis  end $end_lis"
    grep 'event=status ' "$LOG" | tail -n 9 | sed 's/^<[0-9]>//'
  } >&3
  exec 3>&-
  cat "$OUT/summary.txt"
  ((total_loss == 0)) || FAILED+=("$total_loss connection(s) lost (see the table)")

  local unexpected
  unexpected=$(classify_log "$stop_line")
  if [[ -n $unexpected ]]; then
    echo "$unexpected" >"$OUT/unexpected.txt"
    FAILED+=("$(wc -l <"$OUT/unexpected.txt") unexpected log line(s), in $OUT/unexpected.txt; the first: $(head -n 5 "$OUT/unexpected.txt")")
  fi
  echo "unexpected log lines: $(if [[ -n $unexpected ]]; then wc -l <"$OUT/unexpected.txt"; else echo 0; fi)" |
    tee -a "$OUT/summary.txt"
  ((status == 0)) || FAILED+=("hinetd exited with status $status at the stop")

  if ((${#FAILED[@]} > 0)); then
    local f
    for f in "${FAILED[@]}"; do echo "FAIL: $f"; done | tee -a "$OUT/summary.txt"
    exit 1
  fi
  echo "PASS" | tee -a "$OUT/summary.txt"
}

main "$@"
