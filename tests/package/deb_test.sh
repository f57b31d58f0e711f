#!/usr/bin/env bash
# The Debian package, installed as a user would: build hinetd for /usr, make
# the .deb with cpack, install it with apt-get (its dependencies from the
# machine's configured mirror) into a CLEAN Debian 12 root (debootstrap
# --variant=minbase, cached under WORK between runs), then check the
# installed layout, the accounts postinst created, the conffiles, and run
# /usr/sbin/hinetd from there serving an internal service on loopback.
#   deb_test.sh SOURCE_DIR WORK_DIR
# Exit 77 (CTest: skipped) with the reason without root, debootstrap or a
# reachable bookworm mirror. Every step is bounded (timeout); the daemon is
# stopped by its pid; the mounts and the root go at the end, whatever
# happened.
set -uo pipefail
src=${1:?usage: deb_test.sh SOURCE_DIR WORK_DIR}
work=${2:?usage: deb_test.sh SOURCE_DIR WORK_DIR}
started=$SECONDS

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
step() { echo "== $* ($((SECONDS - started)) s)"; }

[[ $(id -u) -eq 0 ]] || skip "needs root (debootstrap, chroot, mount)"
command -v debootstrap >/dev/null ||
  skip "debootstrap is not installed (bash scripts/deps.sh test installs it)"
command -v cpack >/dev/null || skip "cpack (CMake) is not installed"
command -v dpkg-shlibdeps >/dev/null ||
  skip "dpkg-shlibdeps is not installed (dpkg-dev; bash scripts/deps.sh test installs it)"

# The machine's bookworm mirror (main), from one-line and deb822 sources.
mirror=$(
  {
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                         if ($(i + 1) == "bookworm") { for (j = i + 2; j <= NF; j++)
                           if ($j == "main") { print $i; exit } } }'
    cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
      awk 'BEGIN { RS = ""; FS = "\n" }
           { uri = ""; suite = 0; main = 0; deb = 1
             for (f = 1; f <= NF; f++) {
               split($f, kv, ":[ \t]*")
               key = kv[1]; val = substr($f, length(kv[1]) + 2)
               if (key == "Types" && val !~ /(^|[ \t])deb([ \t]|$)/) deb = 0
               if (key == "URIs") { split(val, u, /[ \t]+/); uri = u[1] == "" ? u[2] : u[1] }
               if (key == "Suites" && val ~ /(^|[ \t])bookworm([ \t]|$)/) suite = 1
               if (key == "Components" && val ~ /(^|[ \t])main([ \t]|$)/) main = 1 }
             if (deb && suite && main && uri != "") { print uri; exit } }'
  } | sed 's/[ \t]//g' | grep -m1 -E '^https?://'
)
[[ -n $mirror ]] || skip "no bookworm mirror (main) in /etc/apt/sources.list*"
timeout 20 curl -fsS -o /dev/null "${mirror%/}/dists/bookworm/Release" ||
  skip "the mirror $mirror does not answer (no network beyond it?)"
echo "mirror: $mirror"

mkdir -p "$work"
root=$work/root
pid=
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
  for m in "$root/dev" "$root/proc"; do
    mountpoint -q "$m" && umount -l "$m"
  done
  # Only once nothing is mounted inside: rm must never reach the host's /dev.
  if ! grep -q " $root/" /proc/mounts; then rm -rf "$root"; fi
}
trap cleanup EXIT

# 1. The package, from a build for /usr (the helpers' directory is compiled
# in, so it must be the installed one).
step "building hinetd for /usr and the .deb"
launcher=()
if command -v ccache >/dev/null; then
  # A cache of its own, kept with the root: later runs rebuild in seconds.
  export CCACHE_DIR=$work/ccache
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
timeout 300 cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX=/usr -DHINETD_BUILD_TESTS=OFF -DHINETD_BUILD_BENCH=OFF \
  "${launcher[@]}" >"$work/cmake.log" 2>&1 || { cat "$work/cmake.log"; fail "cmake configure"; }
timeout 1500 cmake --build "$work/build" -j2 >"$work/build.log" 2>&1 ||
  { tail -50 "$work/build.log"; fail "build"; }
rm -rf "$work/deb"
(cd "$work/build" && timeout 300 cpack -G DEB -B "$work/deb") >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log"; fail "cpack"; }
deb=$(ls "$work"/deb/hinetd_*.deb 2>/dev/null | head -1)
[[ -f $deb ]] || fail "cpack made no hinetd_*.deb (see $work/cpack.log)"
echo "package: $deb ($(stat -c %s "$deb") bytes)"
control() { dpkg-deb -f "$deb" "$1"; }
depends=$(control Depends)
echo "Depends: $depends"
for lib in libc6 libseccomp2 libcap-ng0 libstdc++6 passwd; do
  [[ $depends == *"$lib"* ]] || fail "Depends lacks $lib: $depends"
done
[[ $(control Provides) == inet-superserver ]] || fail "Provides: $(control Provides)"
[[ $(control Conflicts) == inet-superserver ]] || fail "Conflicts: $(control Conflicts)"

# 2. A clean root: debootstrap once (cached), a fresh copy each run.
base=$work/bookworm-minbase
if [[ ! -f $base/.complete ]]; then
  step "debootstrap --variant=minbase bookworm (cached in $base)"
  rm -rf "$base" "$base.tmp"
  timeout 1200 debootstrap --variant=minbase bookworm "$base.tmp" "$mirror" \
    >"$work/debootstrap.log" 2>&1 || { tail -30 "$work/debootstrap.log"; fail "debootstrap"; }
  touch "$base.tmp/.complete"
  mv "$base.tmp" "$base"
fi
rm -rf "$root"
cp -a "$base" "$root"
mount -t proc proc "$root/proc" || fail "mounting /proc in the root"
mount --bind /dev "$root/dev" || fail "binding /dev in the root"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null
# Nothing a package installs may start a daemon here.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
in_root=(chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C)

# 3. apt-get installs it, its dependencies from the mirror.
step "apt-get install the .deb in the clean root"
cp "$deb" "$root/tmp/"
timeout 300 "${in_root[@]}" apt-get update -qq >"$work/apt.log" 2>&1 ||
  { cat "$work/apt.log"; fail "apt-get update in the root"; }
timeout 600 "${in_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
  "/tmp/$(basename "$deb")" >>"$work/apt.log" 2>&1 ||
  { tail -40 "$work/apt.log"; fail "apt-get install"; }

# 4. Where everything went.
for f in /usr/sbin/hinetd /usr/libexec/hinetd/hinetd-listener /usr/libexec/hinetd/hinetd-internal \
         /usr/libexec/hinetd/hinetd-probe-escape /usr/share/man/man8/hinetd.8.gz \
         /usr/share/man/man5/hinetd.toml.5.gz /usr/share/man/man5/hinetd-sandbox.5.gz \
         /etc/hinetd/hinetd.toml /etc/hinetd/sandbox/default.toml \
         /etc/hinetd/sandbox/internal.toml /usr/share/doc/hinetd/examples/hinetd.toml \
         /lib/systemd/system/hinetd.service /lib/systemd/system/hinetd.socket; do
  [[ -f $root$f ]] || fail "not installed: $f"
done
grep -q '^ExecStart=/usr/sbin/hinetd ' "$root/lib/systemd/system/hinetd.service" ||
  fail "the unit does not run /usr/sbin/hinetd"
conffiles=$("${in_root[@]}" dpkg-query -W -f='${Conffiles}' hinetd)
for f in /etc/hinetd/hinetd.toml /etc/hinetd/sandbox/default.toml; do
  [[ $conffiles == *"$f "* ]] || fail "not a conffile: $f ($conffiles)"
done
for account in hinetd hinetd-internal; do
  "${in_root[@]}" getent passwd "$account" >/dev/null || fail "postinst did not create $account"
done
# Started nothing, enabled nothing.
[[ ! -e $root/etc/systemd/system/multi-user.target.wants/hinetd.service ]] ||
  fail "the unit was enabled"
# The installed table serves nothing: hinetd refuses it (exit 78).
out=$(timeout 30 "${in_root[@]}" /usr/sbin/hinetd check -c /etc/hinetd/hinetd.toml 2>&1)
rc=$?
[[ $rc -eq 78 && $out == *"no services"* ]] ||
  fail "the installed table: expected exit 78, no services; got $rc: $out"

# 5. Run the installed daemon: internal echo on loopback.
step "running /usr/sbin/hinetd from the installed paths"
port=
for try in 1 2 3 4 5 6 7 8; do
  p=$((20000 + (RANDOM % 40000)))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[[ -n $port ]] || fail "no free loopback port"
cat >"$root/etc/hinetd/test.toml" <<EOF
[[service]]
name = "echo"
listen = ["127.0.0.1:$port"]
internal = "echo"
EOF
log=$work/hinetd.log
chroot "$root" /usr/sbin/hinetd -f -c /etc/hinetd/test.toml >"$log" 2>&1 &
pid=$!  # chroot executes hinetd in its own process: this is hinetd's pid
ready=
for ((i = 0; i < 200; i++)); do  # 20 s at most
  grep -q 'event=listener-ready' "$log" && { ready=1; break; }
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[[ -n $ready ]] || { cat "$log"; fail "hinetd did not become ready"; }
{ exec 4<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || fail "cannot connect to 127.0.0.1:$port"
printf 'hello from the package test\n' >&4
answer=
IFS= read -r -t 10 answer <&4
exec 4<&-
[[ $answer == "hello from the package test" ]] || { cat "$log"; fail "echo answered '$answer'"; }
# The monitor logs the accept line once it has seen the child's execve: at
# the child's reap or 0.1 s after its start, so the echo can overtake it.
accepted=
for ((i = 0; i < 100; i++)); do  # 10 s at most
  grep -q 'event=accept service=echo' "$log" && { accepted=1; break; }
  sleep 0.1
done
[[ -n $accepted ]] || { cat "$log"; fail "no accept line"; }
kill -TERM "$pid"
for ((i = 0; i < 150; i++)); do  # 15 s at most
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then cat "$log"; fail "hinetd did not stop on TERM"; fi
wait "$pid"
rc=$?
pid=
[[ $rc -eq 0 ]] || { cat "$log"; fail "hinetd exited $rc"; }
grep -q 'event=stop status=done' "$log" || { cat "$log"; fail "no stop line"; }
step "passed"
echo "package test took $((SECONDS - started)) s"
