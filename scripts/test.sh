#!/usr/bin/env bash
# Builds hinetd and runs the whole test suite (unit, integration, e2e)
# through CTest. Run as root on Debian 12: the sandbox tests need it (they
# skip, saying why, without it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh test
# The accounts the tests run hinetd with: the listener's, the internal
# services', and those of the shipped etc/hinetd.toml. As root they must
# exist (a missing one would only skip tests); without root the tests that
# need them skip anyway, and say why.
accounts=(hinetd hinetd-internal hinetd-upper hinetd-hello)
if [[ $(id -u) -eq 0 ]]; then
  bash scripts/daemon-user.sh "${accounts[@]}"
else
  bash scripts/daemon-user.sh "${accounts[@]}" ||
    echo "(the tests that need them skip without them)" >&2
fi
# The same build directory and type as scripts/demo.sh, with the tests on
# (demo.sh turns them off): switching between the two rebuilds nothing.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHINETD_BUILD_TESTS=ON >/dev/null
cmake --build build -j"$(nproc)"
cd build
# --no-tests=error: a build without tests must fail, not pass with none run.
ctest --output-on-failure -j"$(nproc)" --timeout 300 --no-tests=error
cd ..
# Second pass: the whole suite again on a build with AddressSanitizer and
# UBSan (HINETD_SANITIZE; the child path and the static helpers stay
# uninstrumented, which the build checks). HINETD_SKIP_SANITIZE=1 skips it
# for a quick local run; CI always runs it.
if [[ ${HINETD_SKIP_SANITIZE:-0} != 1 ]]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHINETD_BUILD_TESTS=ON \
    -DHINETD_BUILD_BENCH=OFF -DHINETD_SANITIZE=ON >/dev/null
  cmake --build build-asan -j"$(nproc)"
  # The package test (label package) builds and installs a Release .deb of
  # its own: nothing of this build's to check, so it runs in the first pass only.
  (cd build-asan && ctest --output-on-failure -j"$(nproc)" --timeout 300 --no-tests=error \
    -LE package)
fi
# The fuzz targets' smoke run (README "Fuzzing"): each for 60 s from its
# seed corpus, three at a time, in a clang build of their own (build-fuzz).
# HINETD_SKIP_FUZZ=1 skips it, for a quick local run.
if [[ ${HINETD_SKIP_FUZZ:-0} != 1 ]]; then
  HINETD_FUZZ_JOBS=${HINETD_FUZZ_JOBS:-3} bash scripts/fuzz.sh 60
fi
