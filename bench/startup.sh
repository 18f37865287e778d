#!/usr/bin/env bash
# Start-up benchmark: coroner against crash 9.0.2 and drgn 0.3.0 (from the oracle chroot) on
# the same fixture dump. Each tool starts, reaches its prompt (or runs an empty script) and
# exits; wall time and peak RSS (GNU time's %M) are measured, median of RUNS runs.
#
# Usage: bench/startup.sh [SET_DIR] [DUMP] [RUNS]
#   defaults: the first fixture set, qemu.elf, 5 runs. CORONER=path/to/coroner overrides the binary.
# bench/symbols.sh measures more (CPU time, struct and whatis latency, cold index); see
# docs/benchmarks.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
set_dir=$(bench_set "${1:-}")
dump=${2:-qemu.elf}
runs=${3:-5}
coroner=$(bench_coroner)
bench_need_gnu_time
bench_workdir startup "$set_dir" vmlinux "$dump"
echo 'pass' > "$work/empty.py"

# measure NAME CMD...: runs CMD $runs times (after one warm-up run that fills the page
# cache), prints "NAME median_seconds median_maxrss_kib".
measure() {
  local name=$1; shift
  "$@" >/dev/null 2>&1 </dev/null || true
  local times=() rss=()
  for _ in $(seq "$runs"); do
    local out
    /usr/bin/time -o "$work/time.out" -f '%e %M' "$@" >/dev/null 2>&1 </dev/null || true
    out=$(tail -n1 "$work/time.out")
    times+=("${out% *}"); rss+=("${out#* }")
  done
  local mt mr
  mt=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  mr=$(printf '%s\n' "${rss[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "$name $mt $mr"
}

results=$(mktemp)
{
  measure "coroner -s (start+exit)" sh -c "cd '$work' && echo q | '$coroner' -s vmlinux '$dump'"
  measure "coroner (banner: start+sys+exit)" sh -c "cd '$work' && echo q | '$coroner' vmlinux '$dump'"
  bench_crash_can_read "$set_dir" &&
  measure "crash 9.0.2 -s (start+exit)" bash -c ". '$repo/fixtures/common.sh'; echo q > '$work/q.crash'; in_oracle '$work' crash -s -i q.crash vmlinux '$dump'"
  measure "drgn 0.3.0 (load+exit)" bash -c ". '$repo/fixtures/common.sh'; in_oracle '$work' drgn -q -c '$dump' -s vmlinux empty.py"
} > "$results"

echo "start-up on $(basename "$set_dir")/$dump, median of $runs runs (warm page cache)"
awk -v OFS='\t' '
  { name=$0; sub(/ [^ ]+ [^ ]+$/, "", name); t[NR]=$(NF-1); r[NR]=$NF; n[NR]=name }
  END {
    printf "| %-34s | %8s | %9s | %14s | %14s |\n", "tool", "time (s)", "RSS (MiB)", "time vs coroner", "RSS vs coroner"
    printf "|%s|%s|%s|%s|%s|\n", "------------------------------------", "----------", "-----------", "----------------", "----------------"
    for (i = 1; i <= NR; i++)
      printf "| %-34s | %8.3f | %9.1f | %14.1fx | %14.1fx |\n", n[i], t[i], r[i]/1024, (t[1] > 0 ? t[i]/t[1] : 0), r[i]/r[1]
  }' "$results"
rm -f "$results"
