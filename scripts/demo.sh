#!/usr/bin/env bash
# Builds hinetd and runs it in the foreground on the shipped etc/hinetd.toml:
# the five internal services and two wrapped programs on 127.0.0.1, ports
# 10007-10101. Run as root on Debian 12 from the repository; Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
  echo "run as root: hinetd chroots and changes the uid of each child" >&2
  exit 1
fi
bash scripts/deps.sh demo
# The accounts: the network-facing listener's ([daemon] user), the internal
# services' and one for each wrapped program (user in etc/hinetd.toml).
bash scripts/daemon-user.sh hinetd hinetd-internal hinetd-upper hinetd-hello
# The build type of scripts/test.sh, so that the two share build/ without
# rebuilding everything; the tests (and GoogleTest) are not needed here.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHINETD_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" --target hinetd hinetd-listener hinetd-internal >/dev/null
# The jail of the wrapped programs (see chroot in etc/hinetd.toml).
bash scripts/make-jail.sh /var/lib/hinetd/demo /usr/bin/tr /bin/sh

# hinetd loads a config or policy only if it, and every directory above it,
# is root-owned and not group- or world-writable (what they say runs as
# root). A clone that belongs to another user, or is group-writable, fails
# that: run a root-owned copy of the two instead, in the same layout.
trusted() {
  local p
  for p in "$@"; do
    p=$(realpath -- "$p")
    while :; do
      [[ $(stat -c %u -- "$p") == 0 && $((0$(stat -c %a -- "$p") & 022)) == 0 ]] || return 1
      [[ $p == / ]] && break
      p=$(dirname -- "$p")
    done
  done
}
config=etc/hinetd.toml
if ! trusted etc/hinetd.toml sandbox/*.toml; then
  copy=/var/lib/hinetd/demo-config
  install -d -o root -g root -m 0755 /var/lib/hinetd "$copy" "$copy/etc" "$copy/sandbox"
  install -o root -g root -m 0644 etc/hinetd.toml "$copy/etc/"
  install -o root -g root -m 0644 sandbox/*.toml "$copy/sandbox/"
  config=$copy/etc/hinetd.toml
  echo "etc/hinetd.toml or sandbox/ can be changed by someone other than root, so hinetd"
  echo "would refuse them: running a root-owned copy, $config"
fi
build/bin/hinetd check -c "$config" >/dev/null

cat <<'TRY'

hinetd is starting on 127.0.0.1. In another terminal, try:
  echo hello | nc -q1 127.0.0.1 10007      echo (RFC 862)
  echo hello | nc -u -w1 127.0.0.1 10007   echo over UDP: a child per peer
  echo hello | nc -q1 127.0.0.1 10009      discard (RFC 863): no answer
  nc 127.0.0.1 10019 | head -3             chargen (RFC 864)
  nc 127.0.0.1 10013                       daytime (RFC 867), UTC
  nc 127.0.0.1 10037 | od -An -tu1         time (RFC 868): 4 bytes
  echo hello | nc -q1 127.0.0.1 10100      /usr/bin/tr in a chroot: HELLO
  echo you | nc -q1 127.0.0.1 10101        /bin/sh in a chroot, with the peer's address
TRY
echo "  build/bin/hinetd check -c $config   what each child gets"
cat <<'TRY'
Each connection is an accept and an end line below; Ctrl-C stops hinetd.

TRY
exec build/bin/hinetd -f -c "$config"
