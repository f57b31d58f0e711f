#!/usr/bin/env bash
# Installs, on Debian 12, the packages hinetd needs when they are missing.
#   deps.sh build   compiler, CMake, libseccomp, libcap-ng, toml++
#   deps.sh test    the above, plus GoogleTest, mandoc (man page lint),
#                   netbase (/etc/services, for port names in listen) and
#                   clang with its sanitizer and libFuzzer runtimes (fuzz/)
#   deps.sh demo    the build set, plus netcat to try the services
set -euo pipefail

build=(g++ make cmake pkg-config libc6-dev libseccomp-dev libcap-ng-dev libtomlplusplus-dev)
case "${1:-build}" in
  build) want=("${build[@]}") ;;
  test) want=("${build[@]}" googletest libgtest-dev mandoc netbase clang libclang-rt-14-dev) ;;
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
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
