#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, README "Fuzzing") with clang, ASan and
# UBSan in build-fuzz/, then runs each for SECONDS (default 60) from its
# checked-in seed corpus, HINETD_FUZZ_JOBS (default 2) at a time. Fails on
# any crash, leak, undefined behaviour or timeout; the input that did it is
# left in build-fuzz/findings/.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# Needs clang and libclang-rt-14-dev (scripts/deps.sh test installs them).
# What a run found new is kept in build-fuzz/corpus/, not in the checked-in seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(fuzz_config fuzz_policy fuzz_values fuzz_listener_msg fuzz_kmsg)
jobs=${HINETD_FUZZ_JOBS:-2}

cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DHINETD_FUZZ=ON -DHINETD_BUILD_TESTS=OFF -DHINETD_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]}"

findings=build-fuzz/findings
mkdir -p "$findings"
run() {
  local t=$1 name=${1#fuzz_} work=build-fuzz/corpus/${1#fuzz_}
  mkdir -p "$work"
  local dict=()
  [[ -f fuzz/$name.dict ]] && dict=(-dict="fuzz/$name.dict")
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: a leak
  # or a blow-up. Leaks are checked at the end of each input (ASan).
  if build-fuzz/bin/"$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 "${dict[@]}" -artifact_prefix="$findings/$name-" \
      "$work" "fuzz/corpus/$name" >"build-fuzz/$name.log" 2>&1; then
    echo "fuzz $t: ok, $(grep -o 'stat::number_of_executed_units: *[0-9]*' "build-fuzz/$name.log" |
      grep -o '[0-9]*$') inputs in ${seconds}s"
  else
    echo "fuzz $t: FAILED (build-fuzz/$name.log, input in $findings/)" >&2
    tail -n 40 "build-fuzz/$name.log" >&2
    return 1
  fi
}

status=0
pids=()
for t in "${targets[@]}"; do
  run "$t" &
  pids+=($!)
  if ((${#pids[@]} >= jobs)); then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
