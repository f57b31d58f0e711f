#!/usr/bin/env bash
# Build-time check (CMake runs it after building hinetd_child): the code that
# runs between clone and execve (src/spawn/child.cc) shares the parent's
# memory and runs on a borrowed stack, so it may make system calls and
# nothing else. Any symbol the archive needs from outside is a call into
# something that is not the kernel: the allocator, the logger, libstdc++, a
# compiler-inserted memcpy, or a sanitizer runtime (an instrumented child in
# the HINETD_SANITIZE build). Each one fails the build.
#   check-child-object.sh NM ARCHIVE
set -euo pipefail
nm=$1 archive=$2
# Architectures without a raw-syscall path in child.cc go through libc's
# syscall(2) and errno, which are async-signal-safe and touch no allocator.
allowed='^(syscall|__errno_location)$'
case "$(uname -m)" in x86_64|aarch64|riscv64) allowed='^$' ;; esac
bad=$("$nm" -u --format=posix "$archive" | awk '$1 !~ /:$/ {print $1}' | grep -Ev "$allowed" || true)
if [[ -n $bad ]]; then
  echo "error: $archive (src/spawn/child.cc) calls outside the kernel:" >&2
  sed 's/^/  /' <<<"$bad" >&2
  echo "the code between clone and execve may only make system calls: no allocator," >&2
  echo "logger, libstdc++, libc string functions or sanitizer instrumentation" >&2
  echo "(hinetd_no_sanitize in src/spawn/CMakeLists.txt keeps the sanitizers out)." >&2
  exit 1
fi
