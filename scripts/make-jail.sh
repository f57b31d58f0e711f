#!/usr/bin/env bash
# Builds a chroot jail for hinetd: copies each PROGRAM, the dynamic loader
# and the shared libraries it needs (as ldd reports them) into DIR at the
# same paths, and makes DIR and everything under it root-owned and not
# group/world-writable, as hinetd's chroot check requires.
#   make-jail.sh DIR PROGRAM...
# For a `chroot = DIR` you build by hand. A `jail = { ... }` table in
# hinetd.toml makes hinetd build the jail itself, with device nodes, accounts,
# helper programs and data too (README, "Jails"); this script stays for
# hand-made chroots and the shipped example (scripts/demo.sh).
set -euo pipefail
if (($# < 2)); then
  echo "usage: $0 DIR PROGRAM..." >&2
  exit 64
fi
dir=$1
shift
case "$dir" in
  /*) ;;
  *) echo "$0: DIR must be an absolute path" >&2; exit 64 ;;
esac

# Copy FILE to the same path inside the jail, following symlinks. A jail
# may be in use while this runs again (the demo serving, or two test runs
# on one machine): a file already identical is left alone, and a changed
# one is written beside it and renamed over it, so that an exec in the
# jail never finds it missing or half-written.
copy() {
  local src dst
  src=$(readlink -f "$1")
  dst=$dir$1
  if [[ -f $dst && ! -L $dst ]] && cmp -s -- "$src" "$dst" &&
    [[ $(stat -c %u:%g:%a -- "$dst") == 0:0:755 ]]; then
    return
  fi
  install -D -o root -g root -m 0755 "$src" "$dst.new.$$"
  mv -f -- "$dst.new.$$" "$dst"
}

install -d -o root -g root -m 0755 "$dir"
for prog in "$@"; do
  [[ -x $prog ]] || { echo "$0: $prog is not an executable file" >&2; exit 1; }
  copy "$prog"
  # ldd prints "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and
  # "/lib64/ld-linux-x86-64.so.2 (0x...)"; static programs print no path.
  while read -r lib; do
    copy "$lib"
  done < <(ldd "$prog" 2>/dev/null | grep -o '/[^ ]*' | sort -u)
done
# Every directory in the jail: root-owned, 0755.
find "$dir" -type d -exec chown root:root {} + -exec chmod 0755 {} +
echo "jail $dir holds: $(cd "$dir" && find . -type f | sed 's|^\.||' | sort | tr '\n' ' ')"
