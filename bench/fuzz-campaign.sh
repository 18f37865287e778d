#!/usr/bin/env bash
# The long fuzzing campaign of issue 9: every libFuzzer target gets GOAL seconds of CPU time
# in total (default 1800), spread over as many runs and sessions as it takes. Each run is a
# CHUNK-second scripts/fuzz.sh run (default 300) on one target, with the target's generated
# corpus kept between runs, so coverage keeps growing. CPU time is what counts, not wall
# time: on a machine shared with builds a niced fuzzer's wall clock says little.
#
# Every run is appended to the ledger (LEDGER, default ~/.cache/coroner/fuzz-campaign/
# ledger.tsv): date, target, wall s, CPU s, executions, cov, ft, result. The next target is
# always the one with the least CPU time so far; the script stops when every target has
# reached GOAL, or when a run fails (the reproducer stays in build/fuzz/artifacts/TARGET/).
# Two campaigns may run side by side (one per core): a target being fuzzed is locked
# (DIR/running/TARGET holds the owner's PID) and the other campaign takes the next one.
#
# Usage: bench/fuzz-campaign.sh [--report] [--goal S] [--chunk S] [--until HH:MM] [TARGET...]
#   --report   print the per-target totals from the ledger and exit
#   --until    start no new run after this wall-clock time (UTC, today)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${CORONER_FUZZ_CAMPAIGN:-$HOME/.cache/coroner/fuzz-campaign}
ledger=${LEDGER:-$dir/ledger.tsv}
goal=1800
chunk=300
until=""
report=0
targets=()
while [ $# -gt 0 ]; do
  case $1 in
    --report) report=1 ;;
    --goal) goal=$2; shift ;;
    --chunk) chunk=$2; shift ;;
    --until) until=$2; shift ;;
    -*) echo "fuzz-campaign: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1") ;;
  esac
  shift
done
[ ${#targets[@]} -gt 0 ] ||
  mapfile -t targets < <(sed -n 's/^coroner_add_fuzzer(\([A-Za-z0-9_]*\) .*/\1/p' fuzz/targets.cmake)
mkdir -p "$dir/corpus" "$dir/running"
[ -f "$ledger" ] || printf 'date\ttarget\twall_s\tcpu_s\texecs\tcov\tft\tresult\n' >"$ledger"

# CPU seconds so far for one target.
spent() { awk -F'\t' -v t="$1" 'NR > 1 && $2 == t { s += $4 } END { printf "%d", s }' "$ledger"; }

print_report() {
  printf '%-18s %6s %6s %12s %6s %6s %s\n' target runs cpu_s execs cov ft result
  for t in "${targets[@]}"; do
    awk -F'\t' -v t="$t" 'NR > 1 && $2 == t { n++; c += $4; e += $5; cov = $6; ft = $7;
        if ($8 != "ok") bad++ }
      END { printf "%-18s %6d %6d %12d %6s %6s %s\n", t, n, c, e, cov, ft,
            bad ? bad " failed" : "no crash" }' "$ledger"
  done
}
if [ $report = 1 ]; then print_report; exit 0; fi

# Take the lock of a target, or fail when a live campaign holds it.
lock() {
  local f="$dir/running/$1" pid
  if ! (set -o noclobber; echo $$ >"$f") 2>/dev/null; then
    pid=$(cat "$f" 2>/dev/null || true)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && return 1
    echo $$ >"$f"   # the owner is gone: take it over
  fi
  held=$1
}
held=""
trap '[ -z "$held" ] || rm -f "$dir/running/$held"' EXIT

while :; do
  if [ -n "$until" ] && [ "$(date -u +%H:%M)" \> "$until" ]; then
    echo "fuzz-campaign: past $until, stopping"; break
  fi
  next="" low=""
  for t in "${targets[@]}"; do
    s=$(spent "$t")
    [ -e "$dir/running/$t" ] && [ "$(cat "$dir/running/$t" 2>/dev/null)" != $$ ] &&
      kill -0 "$(cat "$dir/running/$t" 2>/dev/null)" 2>/dev/null && continue
    if [ "$s" -lt "$goal" ] && { [ -z "$low" ] || [ "$s" -lt "$low" ]; }; then next=$t low=$s; fi
  done
  [ -n "$next" ] || { echo "fuzz-campaign: every free target has $goal s of CPU time"; break; }
  lock "$next" || continue
  out=$(mktemp)
  start=$(date +%s)
  # CPU time of the fuzzer (and the no-op build check before it), from the kernel's rusage.
  if FUZZ_CORPUS="$dir/corpus" /usr/bin/time -f '%U %S' -o "$out.time" \
       scripts/fuzz.sh "$chunk" "$next" >"$out" 2>&1; then result=ok; else result=FAILED; fi
  wall=$(($(date +%s) - start))
  cpu=$(awk '{ printf "%d", $1 + $2 }' "$out.time")
  line=$(grep -E "^$next " "$out" | tail -n1 || true)
  execs=$(sed -E 's/.* ([0-9?]+) execs.*/\1/' <<<"$line")
  cov=$(sed -E 's/.*cov ([0-9?]+).*/\1/' <<<"$line")
  ft=$(sed -E 's/.*ft ([0-9?]+).*/\1/' <<<"$line")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$next" "$wall" "$cpu" \
    "${execs:-?}" "${cov:-?}" "${ft:-?}" "$result" >>"$ledger"
  echo "$next: ${wall}s wall, ${cpu}s CPU, ${execs:-?} execs, cov ${cov:-?}, $result"
  rm -f "$dir/running/$next"; held=""
  if [ $result != ok ]; then cat "$out" >&2; rm -f "$out" "$out.time"; exit 1; fi
  rm -f "$out" "$out.time"
done
print_report
