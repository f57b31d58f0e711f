#!/usr/bin/env bash
# Builds hinetd and runs the whole test suite (unit, integration, e2e)
# through CTest. Run as root on Debian 12: the sandbox tests need it (they
# skip, saying why, without it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh test
# The listener account the end-to-end tests run hinetd with.
bash scripts/daemon-user.sh hinetd || echo "(the end-to-end tests skip without it)" >&2
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
cd build
ctest --output-on-failure -j"$(nproc)" --timeout 300
