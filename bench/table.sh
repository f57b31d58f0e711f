#!/usr/bin/env bash
# What a large services table costs at start and at each reload: hinetd
# serves N internal echo services (127.0.0.2, ports 20000 up), and
# hinetd-bench-table times, from outside, the fork to the first
# event=listener-ready and each SIGHUP to the next one (the new listener
# serving the new table).
#
# usage: sudo bash bench/table.sh [BUILD_DIR]   (default: build)
# environment:
#   BENCH_SERVICES=1000   services in the table
#   BENCH_ROUNDS=7        hinetd starts (each one a "start" sample)
#   BENCH_RELOADS=3       reloads per start (each one a "reload" sample)
# Prints every sample, then the median and the largest of each.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly BUILD=${1:-build}
readonly SERVICES=${BENCH_SERVICES:-1000}
readonly ROUNDS=${BENCH_ROUNDS:-7}
readonly RELOADS=${BENCH_RELOADS:-3}
readonly HINETD=$BUILD/bin/hinetd
readonly TIMER=$BUILD/bin/hinetd-bench-table

TMP=""
log() { echo "table.sh: $*" >&2; }
cleanup() { [[ -z $TMP ]] || rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ $(id -u) == 0 ]] || die "run as root (hinetd binds, chroots and changes uids)"
[[ -x $HINETD && -x $TIMER ]] || die "build first: $HINETD and $TIMER"
((SERVICES >= 1 && SERVICES <= 40000)) || die "BENCH_SERVICES must be 1..40000"

# hinetd reads a table only if it and every directory above it are
# root-owned and not group/world-writable: under /var/lib, not /tmp.
TMP=$(mktemp -d /var/lib/hinetd-bench-table.XXXXXX)
chmod 0755 "$TMP"
install -d -m 0755 "$TMP/sandbox"
install -m 0644 sandbox/*.toml "$TMP/sandbox/"
{
  printf '[daemon]\nsandbox_dir = "sandbox"\n'
  for ((i = 0; i < SERVICES; i++)); do
    printf '\n[[service]]\nname = "s%d"\nlisten = "127.0.0.2:%d"\ninternal = "echo"\n' \
      "$i" $((20000 + i))
  done
} >"$TMP/hinetd.toml"
chmod 0644 "$TMP/hinetd.toml"

starts=()
reloads=()
for ((round = 1; round <= ROUNDS; round++)); do
  out=$("$TIMER" "$RELOADS" "$TMP/hinetd.log" -- "$HINETD" -f -c "$TMP/hinetd.toml") || {
    show_log "$TMP/hinetd.log"
    die "round $round failed"
  }
  while read -r kind ms; do
    case $kind in
      start) starts+=("$ms") ;;
      reload) reloads+=("$ms") ;;
    esac
  done <<<"$out"
  log "round $round: $(tr '\n' ' ' <<<"$out")"
done

summary() {
  printf '%s\n' "${@:2}" | sort -n |
    awk -v what="$1" '{ v[NR] = $1 } END {
      printf "%-7s %d samples: median %.1f ms, largest %.1f ms\n", what, NR, v[int((NR + 1) / 2)], v[NR] }'
}
echo "hinetd with $SERVICES services ($(nproc) CPUs, kernel $(uname -r)):"
summary start "${starts[@]}"
summary reload "${reloads[@]}"
