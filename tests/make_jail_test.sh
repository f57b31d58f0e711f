#!/usr/bin/env bash
# scripts/make-jail.sh run again on a jail in use (the demo serving, or the
# shipped-config test of another run on the same machine) must not pull a
# file from under an exec: identical files are not touched at all (same
# inode, same ctime), a changed one is restored, with no temporary file left
# (the rename that replaces it is atomic; that window is not raced here).  make_jail_test.sh SOURCE_DIR
set -euo pipefail
src=$1
if [[ $(id -u) -ne 0 ]]; then
  echo "skip: needs root (the jail is root-owned)" >&2
  exit 77
fi
work=$(mktemp -d /tmp/hinetd-make-jail-XXXXXX)
trap 'rm -rf -- "$work"' EXIT
jail=$work/jail
fail() { echo "FAIL: $*" >&2; exit 1; }

bash "$src/scripts/make-jail.sh" "$jail" /usr/bin/tr /bin/sh >/dev/null
[[ $(echo hi | chroot "$jail" /usr/bin/tr a-z A-Z) == HI ]] || fail "tr does not run in the jail"
before=$(stat -c %i:%z "$jail/usr/bin/tr" "$jail/bin/sh")

# Again, nothing changed: the very same files.
bash "$src/scripts/make-jail.sh" "$jail" /usr/bin/tr /bin/sh >/dev/null
[[ $(stat -c %i:%z "$jail/usr/bin/tr" "$jail/bin/sh") == "$before" ]] || fail "an identical file was rewritten"

# A file that differs (or lost its mode) is replaced by a new inode, and no
# temporary file is left behind.
echo broken >"$jail/usr/bin/tr"
chmod 0700 "$jail/bin/sh"
bash "$src/scripts/make-jail.sh" "$jail" /usr/bin/tr /bin/sh >/dev/null
cmp -s /usr/bin/tr "$jail/usr/bin/tr" || fail "a changed file was not restored"
[[ $(stat -c %a "$jail/bin/sh") == 755 ]] || fail "a file's mode was not restored"
leftover=$(find "$jail" -name '*.new.*')
[[ -z $leftover ]] || fail "left behind: $leftover"

[[ $(echo hi | chroot "$jail" /usr/bin/tr a-z A-Z) == HI ]] || fail "tr does not run after the re-run"
echo "ok"
