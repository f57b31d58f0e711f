#!/usr/bin/env bash
# Side-by-side UDP benchmark on 127.0.0.1: udpsvd (ipsvd), a one-process
# floor (hinetd-bench-udp-floor) and hinetd all serve the same static
# program (hinetd-bench-udp-reply: the datagram back to its sender), and
# hinetd-loadclient --udp measures each with BENCH_UDP_PEERS peers, each a
# fresh socket (a new source port) per request with one request in flight,
# a lost datagram sent again after BENCH_UDP_WAIT_MS and the request counted
# as lost after BENCH_UDP_TRIES tries.
#
# Two modes, each measured for every server in every round:
#   nowait  one child per datagram's peer: hinetd `wait = false`, the floor
#           without -w; udpsvd has no such mode and runs one child at a time
#           (ipsvd's udpsvd does not start a program while another one it
#           started still runs); the program answers one datagram and exits
#   wait    one long-lived child reads the listening socket (hinetd
#           `wait = true`, the floor's -w, udpsvd): the program answers every
#           datagram until BENCH_UDP_IDLE_MS without one
#
# usage: sudo bash bench/udp.sh [BUILD_DIR]     (default: build, relative to
#                                               the repository root)
# environment:
#   BENCH_SECONDS=5            measured seconds per run
#   BENCH_WARMUP=1             unmeasured warmup seconds per run
#   BENCH_ROUNDS=1             rounds (every server and mode once per round,
#                              interleaved); the summary gives the median
#   BENCH_UDP_MODES="nowait wait"
#   BENCH_UDP_SERVERS="udpsvd floor hinetd"
#   BENCH_UDP_PEERS=16         requests in flight, each from its own socket
#   BENCH_UDP_TRIES=3          datagrams per request at most
#   BENCH_UDP_WAIT_MS=200      wait for an answer before sending again
#   BENCH_UDP_IDLE_MS=2000     wait mode: the program exits after this long
#                              without a datagram
#   BENCH_UDP_PORT_BASE=18031  ports BASE .. BASE+7 (nowait: udpsvd, floor,
#                              hinetd; wait: the same, +3; baseline: +6, +7)
#   BENCH_SERVICES=1           services in hinetd's table: the measured one and
#                              N-1 idle internal echo services on 127.0.0.2,
#                              ports 20000 up (what a large table costs)
#   BENCH_BASELINE=DIR         also measure the hinetd of another build
#                              directory (e.g. of the commit before a change),
#                              as server "baseline", in the same rounds
# For every hinetd run it also prints the children it started, and the CPU
# time the monitor and the listener spent per child (nowait) or per answered
# datagram (wait), from /proc/PID/task/*/schedstat, warmup included.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly BUILD=${1:-build}
readonly SECONDS_PER_RUN=${BENCH_SECONDS:-5}
readonly WARMUP=${BENCH_WARMUP:-1}
readonly ROUNDS=${BENCH_ROUNDS:-1}
readonly MODES=${BENCH_UDP_MODES:-nowait wait}
SERVERS=${BENCH_UDP_SERVERS:-udpsvd floor hinetd}
[[ -z ${BENCH_BASELINE:-} ]] || SERVERS+=" baseline"
readonly SERVERS
readonly PEERS=${BENCH_UDP_PEERS:-16}
readonly TRIES=${BENCH_UDP_TRIES:-3}
readonly WAIT_MS=${BENCH_UDP_WAIT_MS:-200}
readonly IDLE_MS=${BENCH_UDP_IDLE_MS:-2000}
readonly PORT_BASE=${BENCH_UDP_PORT_BASE:-18031}
readonly SERVICES=${BENCH_SERVICES:-1}
readonly BASELINE=${BENCH_BASELINE:-}
readonly PAYLOAD='ping\n'  # Escaped: the load client unescapes it.

readonly LOADCLIENT=$BUILD/bin/hinetd-loadclient
readonly REPLY=$BUILD/bin/hinetd-bench-udp-reply
readonly FLOOR=$BUILD/bin/hinetd-bench-udp-floor
readonly HINETD=$BUILD/bin/hinetd

# Everything the EXIT trap undoes.
PIDS=()
TMP=""
JAIL_PARENT=""
# "mode server" -> "rate p50 p99 lost unanswered sent retried;" per round
declare -A ROUNDS_OF=()
# "mode server" -> "monitor_us listener_us;" per round (hinetd and baseline)
declare -A CPU_OF=()

log() { echo "udp.sh: $*" >&2; }

# --- cleanup ----------------------------------------------------------------

# Stops PID, then those of the children it had that still run the
# benchmark's program (udpsvd and the floor leave a running wait child
# behind; the exe check keeps a reused pid safe).
stop_server() {
  local pid=$1 kids child exe
  kids=$(ps -o pid= --ppid "$pid" 2>/dev/null || true)
  stop_pid "$pid"
  for child in $kids; do
    exe=$(readlink "/proc/$child/exe" 2>/dev/null) || continue
    [[ $exe == "$(readlink -f "$REPLY")" || $exe == */udp-reply ]] &&
      kill -TERM "$child" 2>/dev/null
  done
  return 0
}

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_server "$pid"; done
  [[ -n $TMP ]] && rm -rf -- "$TMP"
  [[ -n $JAIL_PARENT ]] && rm -rf -- "$JAIL_PARENT"
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM  # Turn signals into an exit so the trap runs.

# --- preparation -------------------------------------------------------------

require_root() {
  [[ $EUID -eq 0 ]] ||
    die "must run as root: hinetd needs root to chroot and drop privileges" \
      "(try: sudo bash bench/udp.sh)"
}

ensure_udpsvd() {
  [[ " $SERVERS " == *" udpsvd "* ]] || return 0
  command -v udpsvd >/dev/null && return 0
  log "udpsvd not found; installing ipsvd"
  apt-get install -y ipsvd >&2 ||
    { apt-get update >&2 && apt-get install -y ipsvd >&2; } ||
    die "could not install ipsvd"
}

ensure_built() {
  [[ -z $BASELINE || -x $BASELINE/bin/hinetd ]] || die "build first: $BASELINE/bin/hinetd"
  if ! [[ $SERVICES =~ ^[0-9]+$ ]] || ((SERVICES < 1 || SERVICES > 10000)); then
    die "BENCH_SERVICES must be 1..10000"
  fi
  [[ -x $LOADCLIENT && -x $REPLY && -x $FLOOR && -x $HINETD && -x $BUILD/bin/hinetd-listener ]] && return 0
  log "building the project in $BUILD"
  bash scripts/deps.sh build >&2
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DHINETD_BUILD_TESTS=OFF >&2
  cmake --build "$BUILD" -j"$(nproc)" >&2
  [[ -x $REPLY && -x $FLOOR && -x $HINETD ]] || die "the benchmark's binaries were not built"
}

# hinetd refuses a chroot unless it and every directory above it is owned by
# root and not group/world-writable, so the jail lives under /var/lib.
make_jail() {
  JAIL_PARENT=$(mktemp -d /var/lib/hinetd-bench-udp.XXXXXX)
  chmod 0755 "$JAIL_PARENT"
  install -d -m 0755 -o root -g root "$JAIL_PARENT/jail"
  install -m 0755 -o root -g root "$REPLY" "$JAIL_PARENT/jail/udp-reply"
  local dir=$JAIL_PARENT/jail
  while :; do
    [[ $(stat -c '%u' "$dir") == 0 && $(($(stat -c '0%a' "$dir") & 022)) == 0 ]] ||
      die "$dir must be root-owned and not group/world-writable for a chroot"
    [[ $dir == / ]] && break
    dir=$(dirname "$dir")
  done
}

# --- servers ------------------------------------------------------------------

# port MODE SERVER
port_of() {
  local base=$PORT_BASE
  [[ $1 == wait ]] && base=$((base + 3))
  case $2 in
    udpsvd) echo "$base" ;;
    floor) echo $((base + 1)) ;;
    hinetd) echo $((base + 2)) ;;
    baseline) if [[ $1 == wait ]]; then echo $((PORT_BASE + 7)); else echo $((PORT_BASE + 6)); fi ;;
    *) die "unknown server $2 (BENCH_UDP_SERVERS: udpsvd floor hinetd)" ;;
  esac
}

# ss lists unconnected UDP sockets as listening; probing sends nothing.
port_bound() { [[ -n $(ss -Hlun "sport = :$1") ]]; }

# At most ~5 s; fails early if the server has already exited. hinetd is
# ready when its listener is (the monitor binds the sockets before that).
wait_ready() {
  local name=$1 pid=$2 port=$3 logfile=$4
  for _ in $(seq 50); do
    if ! kill -0 "$pid" 2>/dev/null; then
      show_log "$logfile"
      die "$name exited before binding port $port"
    fi
    if port_bound "$port" &&
      { [[ $name != hinetd && $name != baseline ]] ||
        grep -q 'event=listener-ready' "$logfile"; }; then
      return 0
    fi
    sleep 0.1
  done
  show_log "$logfile"
  die "$name is not ready on port $port after 5 s"
}

write_hinetd_config() {
  local mode=$1 port=$2 wait=false exec='["/udp-reply"]'
  if [[ $mode == wait ]]; then
    wait=true
    exec="[\"/udp-reply\", \"$IDLE_MS\"]"
  fi
  # The policies too (the checkout may belong to another user).
  install -d -m 0755 "$TMP/sandbox"
  install -m 0644 "$REPO"/sandbox/*.toml "$TMP/sandbox/"
  cat >"$TMP/hinetd.toml" <<EOF
[daemon]
sandbox_dir = "sandbox"

[[service]]
name = "udpbench"
listen = ["127.0.0.1:$port"]
protocol = "udp"
wait = $wait
exec = $exec
user = "nobody"
group = "nogroup"
chroot = "$JAIL_PARENT/jail"
sandbox = "stdio"
EOF
  local i
  for ((i = 1; i < SERVICES; i++)); do
    printf '\n[[service]]\nname = "idle%d"\nlisten = "127.0.0.2:%d"\ninternal = "echo"\n' \
      "$i" $((20000 + i)) >>"$TMP/hinetd.toml"
  done
  chmod 0644 "$TMP/hinetd.toml"  # whatever the umask: not group-writable
}

# start_server MODE SERVER PORT: starts it and appends its pid to PIDS.
start_server() {
  local mode=$1 server=$2 port=$3 logfile="$TMP/$2-$1.log" args=()
  port_bound "$port" && die "port $port is already in use; choose another BENCH_UDP_PORT_BASE"
  [[ $mode == wait ]] && args=("$IDLE_MS")
  case $server in
    udpsvd)
      # -l: no DNS lookup of the local name. It runs the program as root,
      # unconfined, as tcpserver does in run.sh.
      udpsvd -l localhost 127.0.0.1 "$port" "$REPLY" "${args[@]}" \
        </dev/null >"$logfile" 2>&1 &
      ;;
    floor)
      local flag=()
      [[ $mode == wait ]] && flag=(-w)
      "$FLOOR" "${flag[@]}" "$port" "$REPLY" "${args[@]}" </dev/null >"$logfile" 2>&1 &
      ;;
    hinetd | baseline)
      [[ -n $JAIL_PARENT ]] || make_jail
      write_hinetd_config "$mode" "$port"
      local bin=$HINETD
      [[ $server == baseline ]] && bin=$BASELINE/bin/hinetd
      # It logs two lines per child: keep that off the terminal.
      "$bin" -f -c "$TMP/hinetd.toml" </dev/null >"$logfile" 2>&1 &
      ;;
  esac
  PIDS+=("$!")
  wait_ready "$server" "$!" "$port" "$logfile"
}

stop_last_server() {
  local pid=${PIDS[-1]}
  kill -0 "$pid" 2>/dev/null || die "$1 died during the benchmark"
  stop_server "$pid"
  unset 'PIDS[-1]'
}

# --- measuring ----------------------------------------------------------------

# CPU time of every thread of PID in ns.
cpu_ns() {
  local t sum=0 ns
  for t in /proc/"$1"/task/*/schedstat; do
    [[ -r $t ]] || continue  # gone (a listener the monitor killed)
    read -r ns _ <"$t" || continue
    sum=$((sum + ns))
  done
  echo "$sum"
}

children_logged() { grep -c 'event=accept ' "$1" || true; }

measure() {
  local mode=$1 server=$2 port=$3 out="$TMP/$2-$1.json" logfile="$TMP/$2-$1.log"
  local monitor="" listener="" m0 l0
  if [[ $server == hinetd || $server == baseline ]]; then
    monitor=${PIDS[-1]}
    listener=$(awk '/event=listener-start/ { for (i = 1; i <= NF; i++) if ($i ~ /^pid=/) p = substr($i, 5) } END { print p }' "$logfile")
    [[ -n $listener ]] || die "no listener pid in $logfile"
    m0=$(cpu_ns "$monitor") l0=$(cpu_ns "$listener")
  fi
  log "measuring $server $mode (${WARMUP}s warmup + ${SECONDS_PER_RUN}s)"
  # The whole request is bounded by its tries; exit status 1 means nothing
  # was answered, and the numbers still tell why.
  local timeout
  timeout=$(awk -v t="$TRIES" -v w="$WAIT_MS" 'BEGIN { printf "%.3f", t * w / 1000 + 0.5 }')
  "$LOADCLIENT" --udp --host 127.0.0.1 --port "$port" --concurrency "$PEERS" \
    --duration "$SECONDS_PER_RUN" --warmup "$WARMUP" --send "$PAYLOAD" \
    --expect "$PAYLOAD" --udp-tries "$TRIES" --udp-wait "$WAIT_MS" \
    --timeout "$timeout" --json --label "$server-$mode" >"$out" || [[ $? == 1 ]] ||
    die "load client failed"
  local rate p50 p99 lost sent unanswered retried kinds
  rate=$(json_value "$out" conn_per_s)
  p50=$(json_value "$out" latency_p50_us)
  p99=$(json_value "$out" latency_p99_us)
  lost=$(json_value "$out" errors_total)
  sent=$(json_value "$out" datagrams_sent)
  unanswered=$(json_value "$out" datagrams_unanswered)
  retried=$(json_value "$out" retried_ok)
  kinds=$(json_error_kinds "$out")
  ROUNDS_OF["$mode $server"]+="$rate $p50 $p99 $lost $unanswered $sent $retried;"
  printf '%-7s %-7s %9s answered/s  p50 %6s us  p99 %6s us  lost %s%s  unanswered %s of %s datagrams  retried %s\n' \
    "$mode" "$server" "$rate" "$p50" "$p99" "$lost" "${kinds:+ ($kinds)}" \
    "$unanswered" "$sent" "$retried"
  if [[ -n $monitor ]]; then
    local children answered m1 l1 kills
    children=$(children_logged "$logfile")
    # A listener the monitor killed (refuse-request, listener-kill) was
    # replaced: its CPU is then partly missing, and the log says why.
    kills=$(grep -c 'event=listener-kill' "$logfile" || true)
    if ((kills > 0)); then
      printf '%-7s %-7s %d listener kills; first reason: %s\n' "$mode" "$server" "$kills" \
        "$(grep -m1 'event=refuse-request' "$logfile" | sed 's/.*reason="\([^"]*\)".*/\1/')"
    fi
    answered=$(json_value "$out" connections_ok)
    m1=$(cpu_ns "$monitor") l1=$(cpu_ns "$listener")
    # nowait: per child (the warmup's included); wait: per answered datagram
    # of the measured part (the warmup's CPU is included, so it is high).
    local per=$children what=child
    [[ $mode == wait ]] && per=$answered what="answered datagram"
    if [[ ! -d /proc/$listener ]]; then
      printf '%-7s %-7s %d children; the measured listener was replaced, no CPU figures\n' \
        "$mode" "$server" "$children"
    elif ((per > 0)); then
      awk -v mo="$mode" -v s="$server" -v n="$per" -v c="$children" -v w="$what" \
        -v m=$((m1 - m0)) -v l=$((l1 - l0)) 'BEGIN {
        printf "%-7s %-7s %d children; per %s: monitor %.1f us CPU, listener %.1f us CPU\n",
               mo, s, c, w, m / n / 1000, l / n / 1000 }'
      CPU_OF["$mode $server"]+="$(awk -v n="$per" -v m=$((m1 - m0)) -v l=$((l1 - l0)) \
        'BEGIN { printf "%.1f %.1f", m / n / 1000, l / n / 1000 }');"
    fi
  fi
}

# Median of field $2 of the ;-separated records $1.
median_field() {
  tr ';' '\n' <<<"$1" | awk -v f="$2" 'NF { print $f }' | sort -n |
    awk '{ r[NR] = $0 } END { if (NR) print r[int((NR + 1) / 2)] }'
}

print_summary() {
  local mode server worst
  declare -A result=()
  echo
  echo "median of $ROUNDS round(s) ($PEERS peers, at most $TRIES tries of ${WAIT_MS} ms each):"
  printf '%-7s %-7s %11s %8s %8s %6s %11s %9s %8s  %s\n' mode server answered/s \
    p50_us p99_us lost unanswered sent retried "worst round: lost unanswered"
  for mode in $MODES; do
    for server in $SERVERS; do
      result["$mode $server"]=$(median_round "${ROUNDS_OF["$mode $server"]}")
      worst=$(tr ';' '\n' <<<"${ROUNDS_OF["$mode $server"]}" |
        awk 'NF { if ($4 > l) l = $4; if ($5 > u) u = $5 } END { printf "%d %d", l, u }')
      # shellcheck disable=SC2086  # Split the stored fields on purpose.
      printf '%-7s %-7s %11s %8s %8s %6s %11s %9s %8s  %s\n' "$mode" "$server" \
        ${result["$mode $server"]} "$worst"
    done
  done
  echo
  local pair a b ra pa rb pb
  for mode in $MODES; do
    for pair in hinetd/udpsvd hinetd/floor udpsvd/floor hinetd/baseline; do
      a=${pair%/*} b=${pair#*/}
      [[ -n ${result["$mode $a"]:-} && -n ${result["$mode $b"]:-} ]] || continue
      read -r ra _ pa _ <<<"${result["$mode $a"]}"
      read -r rb _ pb _ <<<"${result["$mode $b"]}"
      awk -v m="$mode" -v p="$pair" -v ra="$ra" -v rb="$rb" -v pa="$pa" -v pb="$pb" 'BEGIN {
        printf "%s %s: answered/s %s, p99 %s\n", m, p,
               (rb > 0 ? sprintf("%.2f", ra / rb) : "n/a"),
               (pb > 0 ? sprintf("%.2f", pa / pb) : "n/a") }'
    done
    for server in hinetd baseline; do
      [[ -n ${CPU_OF["$mode $server"]:-} ]] || continue
      local per=child
      [[ $mode == wait ]] && per="answered datagram"
      echo "$mode $server CPU per $per (median of rounds):" \
        "monitor $(median_field "${CPU_OF["$mode $server"]}" 1) us," \
        "listener $(median_field "${CPU_OF["$mode $server"]}" 2) us"
    done
  done
}

main() {
  require_root
  ensure_udpsvd
  ensure_built
  # Not under /tmp: hinetd loads a config only from directories that root
  # alone can change.
  TMP=$(mktemp -d /run/hinetd-bench-udp.XXXXXX)
  echo "hinetd UDP benchmark: $(uname -r), $(nproc) CPUs, ${SECONDS_PER_RUN}s per run, $SERVICES service(s) in hinetd's table" \
    "after ${WARMUP}s warmup, $PEERS peers, service echoes one datagram"

  local round mode server port
  for round in $(seq "$ROUNDS"); do
    ((ROUNDS == 1)) || log "round $round of $ROUNDS"
    for mode in $MODES; do
      for server in $SERVERS; do
        port=$(port_of "$mode" "$server")
        start_server "$mode" "$server" "$port"
        measure "$mode" "$server" "$port"
        stop_last_server "$server"
      done
    done
  done
  print_summary
}

main "$@"
