#!/usr/bin/env bash
# Side-by-side connection-rate benchmark on 127.0.0.1: a one-process vfork
# floor (hinetd-bench-floor: accept, vfork, execve, nothing else), tcpserver
# (ucspi-tcp) and hinetd all serve the same static "hello\n" program, and
# hinetd-loadclient measures each at concurrency 1 and 16.
#
# usage: sudo bash bench/run.sh [BUILD_DIR]     (default: build, relative to
#                                               the repository root)
# environment:
#   BENCH_SECONDS=5          measured seconds per run
#   BENCH_WARMUP=1           unmeasured warmup seconds per run
#   BENCH_CONCURRENCY="1 16" concurrency levels
#   BENCH_TCPSERVER_PORT=18021, BENCH_HINETD_PORT=18022
#   BENCH_TUNE_SYSCTL=0      leave the kernel's port settings alone
#   BENCH_NAMESPACES="pid"   hinetd variants, one run each: the service's
#                            `namespaces`, comma-separated ("none" for []),
#                            e.g. "none pid pid,ipc,uts pid,net"
#                            a "+drops" suffix adds drops_privileges = true
#                            (two setns per connection), e.g. "pid pid+drops"
#   BENCH_ROUNDS=1           repeat every measurement this many times (all
#                            servers once per round, interleaved) and report
#                            the median
#   BENCH_BASELINE=DIR       also measure the hinetd of another build
#                            directory (e.g. of the commit before a change),
#                            as "baseline[NS]", in the same rounds
#   BENCH_FLOOR_PORT=18023
#   BENCH_SERVICES=1         services in hinetd's table: the measured one and
#                            N-1 idle internal echo services on 127.0.0.2,
#                            ports 20000 up (what a large table costs)
#   BENCH_SYSCALLS=auto      count the monitor's and the listener's system
#                            calls per connection by name (perf's syscall
#                            tracepoints; "auto": where perf can, 0: never,
#                            1: required)
# For every hinetd run it also prints the CPU time the monitor and the
# listener spent per connection (from /proc/PID/task/*/schedstat, in ns)
# and their voluntary context switches per connection (each one a sleep
# and a wakeup), over the whole run, warmup included, divided by the
# connections hinetd logged (event=accept); and, with perf, each one's
# system calls per connection, in all and the most frequent by name (a
# count, unlike the CPU time, that the machine's noise does not move),
# from one more second of load after the measured run (tracing slows the
# traced process: the measured run is not traced).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly BUILD=${1:-build}
readonly SECONDS_PER_RUN=${BENCH_SECONDS:-5}
readonly WARMUP=${BENCH_WARMUP:-1}
readonly CONCURRENCY=${BENCH_CONCURRENCY:-1 16}
readonly TCPSERVER_PORT=${BENCH_TCPSERVER_PORT:-18021}
readonly HINETD_PORT=${BENCH_HINETD_PORT:-18022}
readonly TUNE_SYSCTL=${BENCH_TUNE_SYSCTL:-1}
readonly NAMESPACES=${BENCH_NAMESPACES:-pid}
readonly ROUNDS=${BENCH_ROUNDS:-1}
readonly BASELINE=${BENCH_BASELINE:-}
readonly FLOOR_PORT=${BENCH_FLOOR_PORT:-18023}
readonly SERVICES=${BENCH_SERVICES:-1}
SYSCALLS=${BENCH_SYSCALLS:-auto}
# The calls counted by name (perf's syscalls:sys_enter_NAME); every other
# one is in the total (raw_syscalls:sys_enter) only.
readonly SYSCALL_NAMES="accept4 recvmsg recvmmsg sendmsg sendmmsg recvfrom sendto epoll_wait
  epoll_ctl read write writev close pipe2 clone clone3 wait4 getsockname getpeername
  getsockopt setsockopt fcntl rt_sigprocmask kill connect ioctl openat futex"
# Above the default ports, so ephemeral client ports never collide with them.
readonly WIDE_PORT_RANGE="20000 64999"
readonly EXPECT='hello\n'  # Escaped: the load client unescapes it.

readonly LOADCLIENT=$BUILD/bin/hinetd-loadclient
readonly REPLY=$BUILD/bin/hinetd-bench-reply
readonly HINETD=$BUILD/bin/hinetd
readonly FLOOR=$BUILD/bin/hinetd-bench-floor

# Everything the EXIT trap undoes.
PIDS=()
PERF_PIDS=()
TMP=""
JAIL_PARENT=""
SYSCTL_RESTORE=()
declare -A RESULT=()  # "server c" -> "conn/s p50 p99 errors" (the median round)
declare -A ROUNDS_OF=()  # "server c" -> "conn/s p50 p99 errors;..." every round

log() { echo "run.sh: $*" >&2; }

# --- cleanup ----------------------------------------------------------------

cleanup() {
  local pid setting
  for pid in "${PIDS[@]}" "${PERF_PIDS[@]}"; do stop_pid "$pid"; done
  for setting in "${SYSCTL_RESTORE[@]}"; do
    sysctl -q -w "$setting" >/dev/null || log "could not restore $setting"
  done
  [[ -n $TMP ]] && rm -rf -- "$TMP"
  [[ -n $JAIL_PARENT ]] && rm -rf -- "$JAIL_PARENT"
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM  # Turn signals into an exit so the trap runs.

# --- preparation -------------------------------------------------------------

require_root() {
  [[ $EUID -eq 0 ]] ||
    die "must run as root: hinetd needs root to chroot and drop privileges," \
      "and the run may tune sysctls (try: sudo bash bench/run.sh)"
}

ensure_built() {
  [[ -x $LOADCLIENT && -x $REPLY && -x $HINETD && -x $FLOOR && -x $BUILD/bin/hinetd-internal &&
     -x $BUILD/bin/hinetd-listener ]] &&
    return 0
  log "building the project in $BUILD"
  bash scripts/deps.sh build >&2
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHINETD_BUILD_TESTS=OFF >&2
  cmake --build "$BUILD" -j"$(nproc)" >&2
  [[ -x $HINETD ]] || die "$HINETD was not built"
}

# Many short connections leave sockets in TIME_WAIT; on a small ephemeral
# port range the client then fails with EADDRNOTAVAIL (reported as
# addr_not_avail). Widen the range and allow TIME_WAIT reuse for the run only.
# SO_LINGER {1,0} would avoid TIME_WAIT too, but by sending RST, which changes
# what the servers see, so the client does not do that.
set_sysctl() {
  local key=$1 value=$2 old
  old=$(sysctl -n "$key" | tr -s '[:space:]' ' ')
  old=${old% }
  [[ $old == "$value" ]] && return 0
  if sysctl -q -w "$key=$value" >/dev/null; then
    SYSCTL_RESTORE+=("$key=$old")
    log "set $key=$value for this run (was $old)"
  else
    log "warning: could not set $key=$value"
  fi
}

tune_sysctls() {
  [[ $TUNE_SYSCTL == 1 ]] || return 0
  local lo hi
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
  ((hi - lo >= 40000)) || set_sysctl net.ipv4.ip_local_port_range \
    "$WIDE_PORT_RANGE"
  # 2 (the default since Linux 4.19) already means "on for loopback".
  [[ $(sysctl -n net.ipv4.tcp_tw_reuse) != 0 ]] ||
    set_sysctl net.ipv4.tcp_tw_reuse 1
}

# --- servers ------------------------------------------------------------------

start_tcpserver() {
  require_port_free "$TCPSERVER_PORT" BENCH_TCPSERVER_PORT
  # -H -R -l 0: no DNS or ident lookups per connection; -c 1000: allow far
  # more simultaneous children than the load client ever has in flight.
  tcpserver -c 1000 -H -R -l 0 127.0.0.1 "$TCPSERVER_PORT" "$REPLY" \
    </dev/null >"$TMP/tcpserver.log" 2>&1 &
  PIDS+=("$!")
  wait_listening tcpserver "$!" "$TCPSERVER_PORT" "$TMP/tcpserver.log"
}

start_floor() {
  require_port_free "$FLOOR_PORT" BENCH_FLOOR_PORT
  "$FLOOR" "$FLOOR_PORT" "$REPLY" </dev/null >"$TMP/floor.log" 2>&1 &
  PIDS+=("$!")
  wait_listening floor "$!" "$FLOOR_PORT" "$TMP/floor.log"
}

# hinetd refuses a chroot unless it and every directory above it is owned by
# root and not group/world-writable (like OpenSSH's ChrootDirectory), so the
# jail lives under /var/lib, not /tmp.
make_jail() {
  JAIL_PARENT=$(mktemp -d /var/lib/hinetd-bench.XXXXXX)
  chmod 0755 "$JAIL_PARENT"
  install -d -m 0755 -o root -g root "$JAIL_PARENT/jail"
  install -m 0755 -o root -g root "$REPLY" "$JAIL_PARENT/jail/reply"
  local dir=$JAIL_PARENT/jail
  while :; do
    [[ $(stat -c '%u' "$dir") == 0 && $(($(stat -c '0%a' "$dir") & 022)) == 0 ]] ||
      die "$dir must be root-owned and not group/world-writable for a chroot"
    [[ $dir == / ]] && break
    dir=$(dirname "$dir")
  done
}

# hinetd[NS]: the label of the variant with `namespaces` NS.
hinetd_label() { echo "hinetd[$1]"; }

write_hinetd_config() {
  local ns=$1 list="" drops=false
  if [[ $ns == *+drops ]]; then
    drops=true
    ns=${ns%+drops}
  fi
  if [[ $ns != none ]]; then
    list=$(sed 's/[^,][^,]*/"&"/g; s/,/, /g' <<<"$ns")
  fi
  # The policies too (the checkout may belong to another user).
  install -d -m 0755 "$TMP/sandbox"
  install -m 0644 "$REPO"/sandbox/*.toml "$TMP/sandbox/"
  cat >"$TMP/hinetd.toml" <<EOF
[daemon]
sandbox_dir = "sandbox"

[[service]]
name = "bench"
listen = ["127.0.0.1:$HINETD_PORT"]
exec = ["/reply"]
user = "nobody"
group = "nogroup"
chroot = "$JAIL_PARENT/jail"
sandbox = "stdio"
namespaces = [$list]
drops_privileges = $drops
EOF
  local i
  for ((i = 1; i < SERVICES; i++)); do
    printf '\n[[service]]\nname = "idle%d"\nlisten = "127.0.0.2:%d"\ninternal = "echo"\n' \
      "$i" $((20000 + i)) >>"$TMP/hinetd.toml"
  done
  chmod 0644 "$TMP/hinetd.toml"  # whatever the umask: not group-writable
}

# start_hinetd NS [BINARY]
start_hinetd() {
  require_port_free "$HINETD_PORT" BENCH_HINETD_PORT
  [[ -n $JAIL_PARENT ]] || make_jail
  write_hinetd_config "$1"
  # It logs one line per connection: keep that off the terminal.
  "${2:-$HINETD}" -f -c "$TMP/hinetd.toml" </dev/null >"$TMP/hinetd.log" 2>&1 &
  PIDS+=("$!")
  wait_listening hinetd "$!" "$HINETD_PORT" "$TMP/hinetd.log"
}

stop_last_server() {
  local pid=${PIDS[-1]}
  kill -0 "$pid" 2>/dev/null || die "$1 died during the benchmark"
  stop_pid "$pid"
  unset 'PIDS[-1]'
}

# --- measuring ----------------------------------------------------------------

# CPU time of every thread of PID in ns, and its voluntary context switches.
cpu_ns() {
  local t sum=0 ns
  for t in /proc/"$1"/task/*/schedstat; do
    read -r ns _ <"$t" || continue
    sum=$((sum + ns))
  done
  echo "$sum"
}
ctx_switches() {
  local t sum=0 n
  for t in /proc/"$1"/task/*/status; do
    n=$(awk '/^voluntary_ctxt_switches/ { print $2 }' "$t")
    sum=$((sum + ${n:-0}))
  done
  echo "$sum"
}

# Whether perf can count syscall tracepoints of a process here (decides
# SYSCALLS once: auto becomes 1 or 0).
check_syscall_counting() {
  [[ $SYSCALLS == 0 ]] && return 0
  if command -v perf >/dev/null &&
    perf stat -e raw_syscalls:sys_enter,syscalls:sys_enter_close -x , -o /dev/null -- true \
      >/dev/null 2>&1; then
    SYSCALLS=1
  elif [[ $SYSCALLS == 1 ]]; then
    die "BENCH_SYSCALLS=1: perf cannot count syscall tracepoints here" \
      "(install linux-perf; tracefs and root are needed)"
  else
    log "no system call counts: perf cannot count syscall tracepoints here" \
      "(install linux-perf, or BENCH_SYSCALLS=0 to silence this)"
    SYSCALLS=0
  fi
}

# start_syscall_count PID OUT: counts PID's system calls (not its
# children's) into OUT until stop_syscall_count.
start_syscall_count() {
  local events=raw_syscalls:sys_enter name
  for name in $SYSCALL_NAMES; do events+=",syscalls:sys_enter_$name"; done
  perf stat --no-inherit -x , -e "$events" -p "$1" -o "$2" 2>/dev/null &
  local perf=$! want i
  PERF_PIDS+=("$perf")
  # Counting from now on: once perf has opened every event (at most ~2 s).
  want=$(($(wc -w <<<"$SYSCALL_NAMES") + 1))
  for i in $(seq 200); do
    (($(find "/proc/$perf/fd" -lname 'anon_inode:*perf_event*' 2>/dev/null | wc -l) >= want)) &&
      return 0
    sleep 0.01
  done
  log "perf did not start counting for $1 in time; its counts miss the start"
}

stop_syscall_count() {
  local pid
  for pid in "${PERF_PIDS[@]}"; do
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PERF_PIDS=()
}

# syscall_summary FILE N: "S calls (name n, ...)" per connection, the names
# by count, those at 0.05 or more a connection.
syscall_summary() {
  awk -F, -v n="$2" '
    $3 == "raw_syscalls:sys_enter" { total = $1 / n; next }
    $3 ~ /^syscalls:sys_enter_/ && $1 ~ /^[0-9]+$/ {
      name = substr($3, 20); v = $1 / n
      if (v >= 0.05) { names[name] = v }
    }
    END {
      out = ""
      while (1) {
        best = ""; for (k in names) if (best == "" || names[k] > names[best]) best = k
        if (best == "") break
        out = out (out == "" ? "" : ", ") sprintf("%s %.2f", best, names[best]); delete names[best]
      }
      printf "%.1f calls (%s)", total, out
    }' "$1"
}

measure() {
  local server=$1 port=$2 c=$3 out="$TMP/$1-c$3.json"
  local monitor="" listener="" m0 l0 mc0 lc0 accepts0
  if [[ $server == hinetd* || $server == baseline* ]]; then
    monitor=${PIDS[-1]}
    listener=$(awk '/^event=listener-start/ { for (i = 1; i <= NF; i++) if ($i ~ /^pid=/) p = substr($i, 5) } END { print p }' "$TMP/hinetd.log")
    m0=$(cpu_ns "$monitor") l0=$(cpu_ns "$listener")
    mc0=$(ctx_switches "$monitor") lc0=$(ctx_switches "$listener")
    accepts0=$(grep -c '^event=accept ' "$TMP/hinetd.log" || true)
  fi
  log "measuring $server at concurrency $c (${WARMUP}s warmup + ${SECONDS_PER_RUN}s)"
  # Exit status 1 means nothing succeeded; the numbers still tell why.
  # --close-reset: no TIME_WAIT is left behind (tens of thousands after a
  # c=16 run), whose expiry a minute later would land on whichever server
  # runs then (it tripled hinetd's p99 at c=1 when it was hinetd's turn).
  "$LOADCLIENT" --host 127.0.0.1 --port "$port" --concurrency "$c" \
    --duration "$SECONDS_PER_RUN" --warmup "$WARMUP" --expect "$EXPECT" \
    --close-reset --json --label "$server" >"$out" || [[ $? == 1 ]] ||
    die "load client failed"
  local rate p50 p99 errors kinds
  rate=$(json_value "$out" conn_per_s)
  p50=$(json_value "$out" latency_p50_us)
  p99=$(json_value "$out" latency_p99_us)
  errors=$(json_value "$out" errors_total)
  kinds=$(json_error_kinds "$out")
  ROUNDS_OF["$server $c"]+="$rate $p50 $p99 $errors;"
  printf '%-20s c=%-3s %10s conn/s  p50 %6s us  p99 %6s us  errors %s%s\n' \
    "$server" "$c" "$rate" "$p50" "$p99" "$errors" "${kinds:+ ($kinds)}"
  if [[ -n $monitor ]]; then
    local n m1 l1 mc1 lc1
    n=$(($(grep -c '^event=accept ' "$TMP/hinetd.log" || true) - accepts0))
    m1=$(cpu_ns "$monitor") l1=$(cpu_ns "$listener")
    mc1=$(ctx_switches "$monitor") lc1=$(ctx_switches "$listener")
    if ((n > 0)); then
      awk -v s="$server" -v c="$c" -v n="$n" -v m=$((m1 - m0)) -v l=$((l1 - l0)) \
        -v mc=$((mc1 - mc0)) -v lc=$((lc1 - lc0)) 'BEGIN {
        printf "%-20s c=%-3s per connection: monitor %.1f us CPU, %.2f sleeps; listener %.1f us CPU, %.2f sleeps (%d connections)\n",
               s, c, m / n / 1000, mc / n, l / n / 1000, lc / n, n }'
    fi
  fi
}

# count_syscalls SERVER PORT C MONITOR LISTENER: one more second of load,
# not measured (tracing slows the traced process), with the monitor's and
# the listener's system calls counted.
count_syscalls() {
  local server=$1 port=$2 c=$3 monitor=$4 listener=$5 a0 n
  start_syscall_count "$monitor" "$TMP/monitor.syscalls"
  start_syscall_count "$listener" "$TMP/listener.syscalls"
  a0=$(grep -c '^event=accept ' "$TMP/hinetd.log" || true)
  "$LOADCLIENT" --host 127.0.0.1 --port "$port" --concurrency "$c" --duration 1 \
    --expect "$EXPECT" --close-reset >/dev/null || [[ $? == 1 ]] || die "load client failed"
  stop_syscall_count
  n=$(($(grep -c '^event=accept ' "$TMP/hinetd.log" || true) - a0))
  ((n > 0)) || return 0
  printf '%-20s c=%-3s system calls per connection: monitor %s\n' "$server" "$c" \
    "$(syscall_summary "$TMP/monitor.syscalls" "$n")"
  printf '%-20s c=%-3s system calls per connection: listener %s\n' "$server" "$c" \
    "$(syscall_summary "$TMP/listener.syscalls" "$n")"
}

bench_server() {
  local server=$1 port=$2 c listener
  for c in $CONCURRENCY; do
    measure "$server" "$port" "$c"
    if [[ $SYSCALLS == 1 && ($server == hinetd* || $server == baseline*) ]]; then
      listener=$(awk '/^event=listener-start/ { for (i = 1; i <= NF; i++) if ($i ~ /^pid=/) p = substr($i, 5) } END { print p }' "$TMP/hinetd.log")
      count_syscalls "$server" "$port" "$c" "${PIDS[-1]}" "$listener"
    fi
  done
}

print_summary() {
  local servers=(tcpserver floor) server c ns
  for ns in $NAMESPACES; do servers+=("$(hinetd_label "$ns")"); done
  if [[ -n $BASELINE ]]; then
    for ns in $NAMESPACES; do servers+=("baseline[$ns]"); done
  fi
  for server in "${servers[@]}"; do
    for c in $CONCURRENCY; do
      RESULT["$server $c"]=$(median_round "${ROUNDS_OF["$server $c"]}")
    done
  done
  echo
  echo "median of $ROUNDS round(s):"
  printf '%-20s %5s %10s %9s %9s %7s\n' server conc conn/s p50_us p99_us errors
  for server in "${servers[@]}"; do
    for c in $CONCURRENCY; do
      # shellcheck disable=SC2086  # Split the stored fields on purpose.
      printf '%-20s %5s %10s %9s %9s %7s\n' "$server" "$c" \
        ${RESULT["$server $c"]}
    done
  done
  echo
  local against
  for against in tcpserver floor; do
    for server in "${servers[@]}"; do
      [[ $server == "$against" || ($against == tcpserver && $server == floor) ]] && continue
      for c in $CONCURRENCY; do
        local h t hp tp
        read -r h _ hp _ <<<"${RESULT["$server $c"]}"
        read -r t _ tp _ <<<"${RESULT["$against $c"]}"
        awk -v s="$server" -v a="$against" -v c="$c" -v h="$h" -v t="$t" -v hp="$hp" \
          -v tp="$tp" 'BEGIN {
          printf "%s/%s at c=%s: conn/s %s, p99 %s\n", s, a, c,
                 (t > 0 ? sprintf("%.2f", h / t) : "n/a"),
                 (tp > 0 ? sprintf("%.2f", hp / tp) : "n/a") }'
      done
    done
  done
}

main() {
  require_root
  ensure_tcpserver
  ensure_built
  # Not under /tmp: hinetd loads a config only from directories that root
  # alone can change.
  TMP=$(mktemp -d /run/hinetd-bench.XXXXXX)
  tune_sysctls
  check_syscall_counting
  echo "hinetd benchmark: $(uname -r), $(nproc) CPUs," \
    "${SECONDS_PER_RUN}s per run after ${WARMUP}s warmup, service prints hello"

  local round ns
  for round in $(seq "$ROUNDS"); do
    ((ROUNDS == 1)) || log "round $round of $ROUNDS"
    start_tcpserver
    bench_server tcpserver "$TCPSERVER_PORT"
    stop_last_server tcpserver
    start_floor
    bench_server floor "$FLOOR_PORT"
    stop_last_server floor
    for ns in $NAMESPACES; do
      start_hinetd "$ns"
      bench_server "$(hinetd_label "$ns")" "$HINETD_PORT"
      stop_last_server hinetd
      if [[ -n $BASELINE ]]; then
        start_hinetd "$ns" "$BASELINE/bin/hinetd"
        bench_server "baseline[$ns]" "$HINETD_PORT"
        stop_last_server hinetd
      fi
    done
  done
  print_summary
}

main "$@"
