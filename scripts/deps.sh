#!/usr/bin/env bash
# Installs, on Debian 12, the packages hinetd needs when they are missing.
#   deps.sh build   compiler, CMake, libseccomp, libcap-ng, toml++
#   deps.sh test    the above, plus GoogleTest, mandoc (man page lint),
#                   netbase (/etc/services, for port names in listen),
#                   clang with its sanitizer and libFuzzer runtimes (fuzz/),
#                   and the real inetd programs and clients of tests/realprog
#                   (rsync, git, busybox, curl, fingerd, finger, tftpd-hpa,
#                   tftp-hpa, netcat-openbsd); their packages' own daemons are never started;
#                   for the package test (label package): debootstrap, dpkg-dev
#                   (dpkg-shlibdeps) and file, which cpack's DEB generator uses
#   deps.sh demo    the build set, plus netcat to try the services
set -euo pipefail

build=(g++ make cmake pkg-config libc6-dev libseccomp-dev libcap-ng-dev libtomlplusplus-dev)
case "${1:-build}" in
  build) want=("${build[@]}") ;;
  test) want=("${build[@]}" googletest libgtest-dev mandoc netbase clang libclang-rt-14-dev
              rsync git busybox curl fingerd finger tftpd-hpa tftp-hpa netcat-openbsd
              debootstrap dpkg-dev file) ;;
  demo) want=("${build[@]}" netcat-openbsd) ;;
  *) echo "usage: $0 build|test|demo" >&2; exit 64 ;;
esac

missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "missing packages: ${missing[*]}; run as root (or install them) first" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Packages such as rsync and tftpd-hpa start their own daemon on install
  # (tftpd-hpa on port 69); the tests run these programs under hinetd only.
  # A policy-rc.d that denies every start keeps invoke-rc.d from starting
  # them; one already in place (as in Debian's container images) is kept.
  own_policy=
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\n# hinetd scripts/deps.sh: no daemon starts while it installs\nexit 101\n' \
      >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [[ -n $own_policy ]]; then
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
  fi
fi
