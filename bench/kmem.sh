#!/usr/bin/env bash
# Memory-summary benchmark: `kmem -i` and `kmem -s` (start, the command to a file, exit) with
# coroner and crash 9.0.2 (in the oracle chroot), beside start + exit alone. Wall and CPU time from bench/rusage.py, peak RSS
# from GNU time's %M; median of RUNS runs after a warm-up. The outputs are checked: coroner's
# and crash's must be identical for both commands.
#
# Usage: bench/kmem.sh [SET_DIR] [DUMP] [RUNS]   defaults: first set, kdump.elf, 3 runs
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
set_dir=$(bench_set "${1:-}")
dump=${2:-kdump.elf}
runs=${3:-3}
coroner=$(bench_coroner)
bench_need_gnu_time
bench_workdir kmem "$set_dir" vmlinux "$dump"
for c in "kmem -i" "kmem -s"; do
  f=_${c// /_}
  printf '%s > crash%s.txt\nexit\n' "$c" "$f" > "$work/crash$f.cmds"
  printf '%s > coroner%s.txt\n' "$c" "$f" > "$work/coroner$f.cmds"
done
printf 'exit\n' > "$work/crash_none.cmds"
: > "$work/coroner_none.cmds"

measure() { # NAME CMD...: "NAME wall cpu maxrss_kib" (medians)
  local name=$1; shift
  "$@" >/dev/null 2>&1 </dev/null || true
  local w=() c=() r=()
  for _ in $(seq "$runs"); do
    "$here/rusage.py" -o "$work/time.out" /usr/bin/time -o "$work/rss.out" -f '%M' "$@" >/dev/null 2>&1 </dev/null || true
    read -r a b _ < "$work/time.out"
    w+=("$a"); c+=("$b"); r+=("$(tail -n1 "$work/rss.out")")
  done
  med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  echo "$name|$(med "${w[@]}")|$(med "${c[@]}")|$(med "${r[@]}")"
}

results=$(mktemp)
{
  for f in _none _kmem_-i _kmem_-s; do
    lab=${f/_none/}; lab=${lab//_/ }
    measure "coroner start${lab:+ +$lab} + exit" sh -c "cd '$work' && '$coroner' -s vmlinux '$dump' < coroner$f.cmds"
    measure "crash 9.0.2 start${lab:+ +$lab} + exit" bash -c ". '$repo/fixtures/common.sh'; in_oracle '$work' crash -s -i crash$f.cmds vmlinux '$dump'"
  done
} > "$results"
for f in _kmem_-i _kmem_-s; do
  cmp -s "$work/coroner$f.txt" "$work/crash$f.txt" && echo "${f//_/ }: outputs identical" || echo "${f//_/ }: outputs DIFFERENT"
done
echo "kmem on $(basename "$set_dir")/$dump, median of $runs runs (warm page cache)"
awk -F'|' '
  { n[NR]=$1; w[NR]=$2; c[NR]=$3; r[NR]=$4 }
  END {
    printf "| %-36s | %9s | %8s | %9s |\n", "tool", "wall (s)", "CPU (s)", "RSS (MiB)"
    printf "|%s|%s|%s|%s|\n", "--------------------------------------", "-----------", "----------", "-----------"
    for (i = 1; i <= NR; i++) printf "| %-36s | %9.4f | %8.4f | %9.1f |\n", n[i], w[i], c[i], r[i]/1024
  }' "$results"
rm -f "$results"
