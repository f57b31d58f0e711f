#!/usr/bin/env bash
# Creates the system accounts hinetd's processes run as, each one that is
# missing: no home, no login shell, a group of its own. With no argument,
# "hinetd" (the network-facing listener, [daemon] user) and
# "hinetd-internal" (the internal services' default user); otherwise the
# accounts named, e.g. one per wrapped service:
#   bash scripts/daemon-user.sh hinetd hinetd-internal hinetd-upper
# Running it again changes nothing. hinetd never creates accounts itself.
set -euo pipefail
if [[ $# -eq 0 ]]; then
  set -- hinetd hinetd-internal
fi
for name in "$@"; do
  if getent passwd "$name" >/dev/null; then
    continue
  fi
  if [[ $(id -u) -ne 0 ]]; then
    echo "the account '$name' is missing; run as root to create it" >&2
    exit 1
  fi
  # A group of the same name may be left from an earlier account: use it
  # rather than fail (useradd --user-group refuses an existing group).
  if getent group "$name" >/dev/null; then
    group=(--gid "$name")
  else
    group=(--user-group)
  fi
  useradd --system "${group[@]}" --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin --comment "hinetd service account" "$name"
  echo "created system account $name (uid $(id -u "$name"))"
done
