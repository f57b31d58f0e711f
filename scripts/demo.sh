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
# The account the network-facing listener runs as ([daemon] user).
bash scripts/daemon-user.sh hinetd
# The build type of scripts/test.sh, so that the two share build/ without
# rebuilding everything; the tests (and GoogleTest) are not needed here.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHINETD_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" --target hinetd hinetd-internal >/dev/null
# The jail of the wrapped programs (see chroot in etc/hinetd.toml).
bash scripts/make-jail.sh /var/lib/hinetd/demo /usr/bin/tr /bin/sh
build/bin/hinetd check -c etc/hinetd.toml >/dev/null

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
  build/bin/hinetd check -c etc/hinetd.toml   what each child gets
Each connection is an accept and an end line below; Ctrl-C stops hinetd.

TRY
exec build/bin/hinetd -f -c etc/hinetd.toml
