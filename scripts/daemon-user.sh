#!/usr/bin/env bash
# Creates the system account the network-facing listener runs as
# ([daemon] user in hinetd.toml, default "hinetd") when it is missing: no
# home, no login shell, a group of its own. hinetd never creates accounts
# itself; this is the set-up step the README's two commands run.
set -euo pipefail
name="${1:-hinetd}"
if getent passwd "$name" >/dev/null; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "the account '$name' is missing; run as root to create it" >&2
  exit 1
fi
useradd --system --user-group --no-create-home --home-dir /nonexistent \
  --shell /usr/sbin/nologin --comment "hinetd listener" "$name"
echo "created system account $name (uid $(id -u "$name"))"
