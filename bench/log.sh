#!/usr/bin/env bash
# Kernel-log benchmark: the whole log written to a file by coroner (with the vmlinux: start +
# `log`; and `coroner --dmesg` with the dump alone), crash 9.0.2 (start + `log`), makedumpfile
# 1.7.8 --dump-dmesg and drgn 0.3.0 (get_dmesg()), the last three from the oracle chroot.
# Wall and CPU time from bench/rusage.py, peak RSS from GNU time (%M); median of RUNS runs after one warm-up
# run (warm page cache). Every tool's output is checked: makedumpfile's and coroner --dmesg's
# must be identical, crash's and coroner's `log` must be identical.
#
# Usage: bench/log.sh [SET_DIR] [DUMP] [RUNS]
#   defaults: the first fixture set, kdump.lzo-d31, 5 runs. CORONER=path/to/coroner overrides
#   the binary (default build/default/shell/coroner).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
set_dir=$(bench_set "${1:-}")
dump=${2:-kdump.lzo-d31}
runs=${3:-5}
coroner=$(bench_coroner)
bench_need_gnu_time
bench_workdir log "$set_dir" vmlinux "$dump"
printf 'log > crash.log\nexit\n' > "$work/log.crash"
printf 'import sys\nfrom drgn.helpers.linux.printk import get_dmesg\nopen("drgn.log", "wb").write(get_dmesg(prog))\n' > "$work/dmesg.py"

# measure NAME CMD...: prints "NAME wall cpu maxrss_kib" (medians).
measure() {
  local name=$1; shift
  "$@" >/dev/null 2>&1 </dev/null || true
  local w=() c=() r=()
  for _ in $(seq "$runs"); do
    # Peak RSS from GNU time: rusage.py's own figure has a floor of the forked Python's
    # RSS (about 14 MiB), above what the smallest tools use.
    "$here/rusage.py" -o "$work/time.out" /usr/bin/time -o "$work/rss.out" -f '%M' "$@" >/dev/null 2>&1 </dev/null || true
    read -r a b _ < "$work/time.out"
    m=$(tail -n1 "$work/rss.out")
    w+=("$a"); c+=("$b"); r+=("$m")
  done
  med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  echo "$name|$(med "${w[@]}")|$(med "${c[@]}")|$(med "${r[@]}")"
}

results=$(mktemp)
{
  measure "coroner --dmesg (no vmlinux)" sh -c "cd '$work' && '$coroner' --dmesg '$dump' -o coroner.dmesg"
  measure "coroner start + log" sh -c "cd '$work' && echo 'log > coroner.log' | '$coroner' -s vmlinux '$dump'"
  measure "makedumpfile 1.7.8 --dump-dmesg" bash -c ". '$repo/fixtures/common.sh'; rm -f '$work/mdf.dmesg'; in_oracle '$work' makedumpfile --dump-dmesg '$dump' mdf.dmesg"
  measure "crash 9.0.2 start + log" bash -c ". '$repo/fixtures/common.sh'; in_oracle '$work' crash -s -i log.crash vmlinux '$dump'"
  measure "drgn 0.3.0 get_dmesg()" bash -c ". '$repo/fixtures/common.sh'; in_oracle '$work' drgn -q -c '$dump' -s vmlinux dmesg.py"
  measure "(chroot overhead: in_oracle true)" bash -c ". '$repo/fixtures/common.sh'; in_oracle '$work' true"
} > "$results"

cmp -s "$work/coroner.dmesg" "$work/mdf.dmesg" && same_mdf=identical || same_mdf=DIFFERENT
cmp -s "$work/coroner.log" "$work/crash.log" && same_crash=identical || same_crash=DIFFERENT
echo "kernel log of $(basename "$set_dir")/$dump ($(du -h "$work/$dump" | cut -f1)), median of $runs runs (warm page cache)"
echo "outputs: coroner --dmesg vs makedumpfile: $same_mdf; coroner log vs crash log: $same_crash"
awk -F'|' '
  { n[NR]=$1; w[NR]=$2; c[NR]=$3; r[NR]=$4 }
  END {
    printf "| %-34s | %9s | %8s | %9s | %11s | %10s |\n", "tool", "wall (s)", "CPU (s)", "RSS (MiB)", "wall / dmesg", "RSS / dmesg"
    printf "|%s|%s|%s|%s|%s|%s|\n", "------------------------------------", "-----------", "----------", "-----------", "-------------", "------------"
    for (i = 1; i <= NR; i++)
      printf "| %-34s | %9.4f | %8.4f | %9.1f | %11.1fx | %9.1fx |\n", n[i], w[i], c[i], r[i]/1024, (w[1] > 0 ? w[i]/w[1] : 0), r[i]/r[1]
  }' "$results"
rm -f "$results"
