#!/usr/bin/env bash
# What an idle hinetd costs on a host that forks a lot (a build server, a
# shell loop) and logs to the kernel (a firewall's LOG rule, a driver): the
# monitor hears of every fork and exit on the system (the kernel's process
# events, for attributing seccomp kills of grandchildren) and reads the
# kernel's log and audit records (for the kill records themselves).
# hinetd serves one internal echo service and no connection; meanwhile a
# shell loop of /bin/true (fork, exec, wait) runs for BENCH_SECONDS, with
# BENCH_KMSG=1 writing a line to /dev/kmsg after each; the monitor's
# wakeups (voluntary context switches) and CPU time over that window are
# read from /proc.
#
# usage: sudo bash bench/forks.sh [BUILD_DIR]   (default: build)
# environment:
#   BENCH_SECONDS=10    length of each storm
#   BENCH_ROUNDS=3      storms per build (the median is printed)
#   BENCH_BASELINE=DIR  a second build dir, measured in alternation with
#                       the first (e.g. a worktree of an older commit)
#   BENCH_KMSG=1        each fork also writes a kernel log line
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly BUILD=${1:-build}
readonly SECONDS_EACH=${BENCH_SECONDS:-10}
readonly ROUNDS=${BENCH_ROUNDS:-3}
readonly BASELINE=${BENCH_BASELINE:-}
readonly KMSG=${BENCH_KMSG:-0}

TMP=""
HPID=""
RESULT=""
log() { echo "forks.sh: $*" >&2; }
devkmsg_before=""
cleanup() {
  [[ -z $HPID ]] || stop_pid "$HPID"
  [[ -z $TMP ]] || rm -rf "$TMP"
  [[ -z $devkmsg_before ]] || echo "$devkmsg_before" >/proc/sys/kernel/printk_devkmsg
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ $(id -u) == 0 ]] || die "run as root (hinetd binds, chroots and changes uids)"
builds=("$BUILD")
[[ -z $BASELINE ]] || builds+=("$BASELINE")
for b in "${builds[@]}"; do
  [[ -x $b/bin/hinetd ]] || die "build first: $b/bin/hinetd"
done
((SECONDS_EACH >= 1 && SECONDS_EACH <= 600)) || die "BENCH_SECONDS must be 1..600"
((ROUNDS >= 1 && ROUNDS <= 50)) || die "BENCH_ROUNDS must be 1..50"
[[ $KMSG == 0 || $KMSG == 1 ]] || die "BENCH_KMSG must be 0 or 1"
if [[ $KMSG == 1 ]]; then
  exec {kmsg}>/dev/kmsg || die "cannot write /dev/kmsg"
  # The kernel rate-limits what user space writes there (10 lines in 5 s):
  # lifted for the run, as a driver's or a firewall rule's lines are not.
  devkmsg_before=$(cat /proc/sys/kernel/printk_devkmsg)
  echo on >/proc/sys/kernel/printk_devkmsg
fi

# hinetd reads a table only if it and every directory above it are
# root-owned and not group/world-writable: under /var/lib, not /tmp.
TMP=$(mktemp -d /var/lib/hinetd-bench-forks.XXXXXX)
chmod 0755 "$TMP"
install -d -m 0755 "$TMP/sandbox"
install -m 0644 sandbox/*.toml "$TMP/sandbox/"
port=$((30000 + RANDOM % 20000))
printf '[daemon]\nsandbox_dir = "sandbox"\n\n[[service]]\nname = "echo"\nlisten = "127.0.0.1:%d"\ninternal = "echo"\n' \
  "$port" >"$TMP/hinetd.toml"
chmod 0644 "$TMP/hinetd.toml"

# Field `name` of /proc/PID/status.
status_field() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
# utime + stime of PID, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# One storm against a fresh hinetd of build $1; sets RESULT to
# "forks wakeups cpu_ms" (in this shell, so that cleanup sees HPID).
storm() {
  local bin=$1/bin/hinetd
  "$bin" -f -c "$TMP/hinetd.toml" </dev/null >"$TMP/hinetd.log" 2>&1 &
  HPID=$!
  local i
  for ((i = 0; i < 100; i++)); do  # 10 s at most
    grep -qs 'event=listener-ready' "$TMP/hinetd.log" && break
    kill -0 "$HPID" 2>/dev/null || break
    sleep 0.1
  done
  grep -q 'event=listener-ready' "$TMP/hinetd.log" || {
    show_log "$TMP/hinetd.log"
    die "$bin did not become ready"
  }
  local w0 c0 w1 c1 forks=0 end
  w0=$(status_field "$HPID" voluntary_ctxt_switches)
  c0=$(cpu_ticks "$HPID")
  end=$((SECONDS + SECONDS_EACH))
  while ((SECONDS < end)); do
    /bin/true
    forks=$((forks + 1))
    if [[ $KMSG == 1 ]]; then echo "forks.sh: host noise $forks" >&"$kmsg"; fi
  done
  w1=$(status_field "$HPID" voluntary_ctxt_switches)
  c1=$(cpu_ticks "$HPID")
  stop_pid "$HPID"
  HPID=""
  RESULT="$forks $((w1 - w0)) $(((c1 - c0) * 1000 / $(getconf CLK_TCK)))"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A wakes cpus rates
for ((round = 1; round <= ROUNDS; round++)); do
  for b in "${builds[@]}"; do
    storm "$b"
    read -r forks woke cpu <<<"$RESULT"
    log "round $round, $b: $forks forks in ${SECONDS_EACH} s, monitor woke $woke times, ${cpu} ms CPU"
    wakes[$b]+="$woke "
    cpus[$b]+="$cpu "
    rates[$b]+="$((forks / SECONDS_EACH)) "
  done
done

[[ $KMSG == 0 ]] || log "each fork also wrote a kernel log line"
printf '%-28s %12s %16s %14s\n' build "forks/s" "monitor wakeups" "monitor CPU"
for b in "${builds[@]}"; do
  r=$(tr ' ' '\n' <<<"${rates[$b]}" | grep . | median)
  w=$(tr ' ' '\n' <<<"${wakes[$b]}" | grep . | median)
  c=$(tr ' ' '\n' <<<"${cpus[$b]}" | grep . | median)
  printf '%-28s %12s %16s %14s\n' "$b" "$r" "$w in ${SECONDS_EACH} s" "$c ms"
done
