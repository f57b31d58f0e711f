# What the bench scripts (run.sh, udp.sh, table.sh, forks.sh, memory.sh) share,
# sourced first by each (not run on its own): the repository's top as
# REPO and as the working directory, so that a BUILD_DIR argument and
# every path they use are the repository's; and the functions below.
# shellcheck shell=bash

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO
cd "$REPO"

die() {
  log "error: $*"
  exit 1
}

# SIGTERM, then SIGKILL after ~3 s, so a wedged process cannot hang the exit.
stop_pid() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 30); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

show_log() {
  log "last lines of $1:"
  tail -n 20 "$1" >&2 || true
}

# The load client's --json output has one "key": value per line.
json_value() {
  awk -v key="\"$2\":" '$1 == key { v = $2; gsub(/[",]/, "", v); print v; exit }' "$1"
}

# "timeout=3 wrong_response=1" from the nonzero entries of "errors".
json_error_kinds() {
  awk '/"errors": \{/ { inside = 1; next }
       inside && /}/ { exit }
       inside { k = $1; v = $2; gsub(/[",:]/, "", k); gsub(/,/, "", v)
                if (v != 0) { printf "%s%s=%s", sep, k, v; sep = " " } }' "$1"
}

# The round with the median rate, whole (its latencies and losses with it).
median_round() {
  tr ';' '\n' <<<"$1" | awk 'NF' | sort -n -k1,1 |
    awk '{ r[NR] = $0 } END { print r[int((NR + 1) / 2)] }'
}

ensure_tcpserver() {
  command -v tcpserver >/dev/null && return 0
  log "tcpserver not found; installing ucspi-tcp"
  apt-get install -y ucspi-tcp >&2 ||
    { apt-get update >&2 && apt-get install -y ucspi-tcp >&2; } ||
    die "could not install ucspi-tcp"
}

# ss looks at the listen table without connecting, so probing does not spawn
# (and, for hinetd, log) a service instance.
port_listening() {
  if command -v ss >/dev/null; then
    [[ -n $(ss -Hltn "sport = :$1") ]]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

require_port_free() {
  ! port_listening "$1" ||
    die "port $1 is already in use; choose another with $2"
}

# At most ~5 s; fails early if the server has already exited.
wait_listening() {
  local name=$1 pid=$2 port=$3 logfile=$4
  for _ in $(seq 50); do
    if ! kill -0 "$pid" 2>/dev/null; then
      show_log "$logfile"
      die "$name exited before listening on port $port"
    fi
    port_listening "$port" && return 0
    sleep 0.1
  done
  show_log "$logfile"
  die "$name is not listening on port $port after 5 s"
}
