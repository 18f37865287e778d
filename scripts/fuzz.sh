#!/usr/bin/env bash
# Builds the `fuzz` preset (clang, libFuzzer, ASan + UBSan) and runs every libFuzzer target for
# SECONDS seconds each, starting from its checked-in seed corpus (fuzz/corpus/NAME/, read only:
# new inputs go to a scratch corpus). Fails when a target crashes, leaks, times out or runs out
# of memory; the reproducer is kept under BUILD_DIR/artifacts/NAME/ (build/fuzz by default) and its path
# printed. To make it a regression test, copy it into fuzz/corpus/NAME/ once the bug is fixed.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#   SECONDS defaults to 30; TARGETs default to every fuzz_* binary the preset builds.
#   FUZZ_BUILD_DIR overrides the build directory (default build/fuzz, the preset's);
#   FUZZ_JOBS the build parallelism (default 2); FUZZ_CORPUS a directory that keeps each
#   target's generated corpus between runs (FUZZ_CORPUS/NAME/; default: a scratch directory
#   removed at exit), as bench/fuzz-campaign.sh uses it.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
seconds=${1:-30}
shift || true
build=${FUZZ_BUILD_DIR:-build/fuzz}
jobs=${FUZZ_JOBS:-2}

if [ "$build" = build/fuzz ]; then
  cmake --preset fuzz >/dev/null
else
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
    -DCMAKE_CXX_COMPILER=clang++ -DCORONER_FUZZ=ON \
    "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined,fuzzer-no-link -fno-omit-frame-pointer" >/dev/null
fi
# Only the fuzz targets: the rest of the tree is built and tested by the other presets.
mapfile -t all < <(sed -n 's/^coroner_add_fuzzer(\([A-Za-z0-9_]*\) .*/\1/p' fuzz/targets.cmake)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
cmake --build "$build" -j "$jobs" --target "${targets[@]/#/fuzz_}"
build=$(cd "$build" && pwd)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
summary=()
for t in "${targets[@]}"; do
  bin="$build/fuzz/fuzz_$t"
  seeds="$repo/fuzz/corpus/$t"
  art="$build/artifacts/$t"
  work="${FUZZ_CORPUS:-$scratch}/$t"
  mkdir -p "$art" "$work"
  [ -d "$seeds" ] || seeds=""
  # A dictionary of the format's magics, note types and keywords (fuzz/dict/targets.txt maps
  # targets to fuzz/dict/*.dict).
  dict=$(awk -v t="$t" '$1 == t { print $2 }' "$repo/fuzz/dict/targets.txt")
  dictarg=()
  [ -n "$dict" ] && dictarg=(-dict="$repo/fuzz/dict/$dict.dict")
  log="$scratch/$t.log"
  start=$(date +%s)
  # -error_exitcode: a crash, sanitizer report or leak; -timeout: one input running > 10 s;
  # -rss_limit_mb: an input that makes the reader allocate without bound.
  if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -error_exitcode=77 \
       "${dictarg[@]}" -print_final_stats=1 -artifact_prefix="$art/" "$work" $seeds >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
    echo "=== fuzz_$t failed; last lines of its log:" >&2
    grep -E 'ERROR|SUMMARY|Test unit written|==[0-9]+==|#[0-9]+ 0x' "$log" | head -n 40 >&2 || tail -n 40 "$log" >&2
    cp "$log" "$art/fuzz.log"
    echo "    reproducer and log in $art/ (run: $bin $art/crash-...)" >&2
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n1 | cut -d' ' -f2)
  ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -n1 | cut -d' ' -f2)
  summary+=("$(printf '%-20s %-6s %4ss  %10s execs  cov %s  ft %s' "$t" "$status" "$(($(date +%s) - start))" "${runs:-?}" "${cov:-?}" "${ft:-?}")")
  rmdir "$art" 2>/dev/null || true
done
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no crash"
