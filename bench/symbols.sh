#!/usr/bin/env bash
# Symbol and type latency: coroner against crash 9.0.2 and drgn 0.3.0 (from the oracle chroot)
# on the same fixture dump, measured in one run, median of RUNS runs each.
#
# Rows (each tool runs the same thing as a script, then exits; wall time and peak RSS from GNU
# time's %M):
#   start+exit         reach the prompt and quit (coroner -s, crash -s, drgn with an empty script)
#   struct task_struct the type definition printed (drgn: print(prog.type("struct task_struct")))
#   whatis jiffies     a variable's type: coroner needs its DWARF name index for it. "cold" runs
#                      each time with an empty index cache (CORONER_CACHE=a fresh directory), so
#                      the index is built; "warm" loads the index cached by the run before.
#                      (drgn: print(prog["jiffies"].type_))
#   first start, OS page cache cold: vmlinux and dump dropped from the page cache
#                      (POSIX_FADV_DONTNEED) before each run; with a cold index for coroner
# The latency of a command is its row minus the start+exit row of the same tool. crash and
# drgn run through in_oracle (unshare + bind mount + chroot); that overhead is its own row and
# is not subtracted. crash and drgn keep no cache between runs, so they have no "cold index"
# row: their whatis row is the same in both.
#
# Usage: bench/symbols.sh [SET_DIR] [DUMP] [RUNS]
#   defaults: the 6.1 fixture set (the first set), qemu.elf, 5 runs.
#   CORONER=path/to/coroner overrides the binary (default build/default/shell/coroner).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
. "$repo/fixtures/common.sh"
set_dir=${1:-$(ls -d "$FIXTURE_ROOT"/sets/*/ | head -n1)}
set_dir=${set_dir%/}
dump=${2:-qemu.elf}
runs=${3:-5}
coroner=${CORONER:-$repo/build/default/shell/coroner}
coroner=$(readlink -f "$coroner")
[ -x "$coroner" ] || die "no coroner binary at $coroner (build first)"
[ -x /usr/bin/time ] || die "GNU time is needed (apt-get install time)"

# The chroot cannot follow the set's symlinks: hard-link the real files into a scratch dir.
work="$FIXTURE_ROOT/bench-symbols-$$"
rm -rf "$work"; mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
ln "$(readlink -f "$set_dir/vmlinux")" "$work/vmlinux"
ln "$(readlink -f "$set_dir/$dump")" "$work/$dump"
printf 'q\n' > "$work/q.cmds"
printf 'struct task_struct\nq\n' > "$work/struct.cmds"
printf 'whatis jiffies\nq\n' > "$work/whatis.cmds"
echo 'pass' > "$work/empty.py"
echo 'print(prog.type("struct task_struct"))' > "$work/struct.py"
echo 'print(prog["jiffies"].type_)' > "$work/whatis.py"
cache="$work/index-cache"

drop_os_cache() {
  python3 -c 'import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' \
    "$work/vmlinux" "$work/$dump"
}

# One run of tool TOOL on script KIND (q, struct, whatis); COLD=1 empties coroner's index cache
# first, OSCOLD=1 also drops the files from the OS page cache.
run_once() {
  local tool=$1 kind=$2
  [ "${OSCOLD:-0}" = 1 ] && drop_os_cache
  case $tool in
    coroner)
      [ "${COLD:-0}" = 1 ] && rm -rf "$cache"
      (cd "$work" && CORONER_CACHE="$cache" "$coroner" -s -i "$kind.cmds" vmlinux "$dump") ;;
    crash) in_oracle "$work" crash -s -i "$kind.cmds" vmlinux "$dump" ;;
    drgn)
      local py=$kind.py; [ "$kind" = q ] && py=empty.py
      in_oracle "$work" drgn -q -c "$dump" -s vmlinux "$py" ;;
    chroot) in_oracle "$work" true ;;
  esac
}
export -f run_once drop_os_cache in_oracle die log
export work dump coroner cache ORACLE_ROOT

# measure ROW TOOL KIND: $runs timed runs after one untimed warm-up; prints
# "ROW<TAB>TOOL<TAB>median_seconds<TAB>median_maxrss_kib".
measure() {
  local row=$1 tool=$2 kind=$3
  bash -c "run_once $tool $kind" >/dev/null 2>&1 </dev/null || true
  local times=() rss=() out
  for _ in $(seq "$runs"); do
    /usr/bin/time -o "$work/time.out" -f '%e %M' bash -c "run_once $tool $kind" >/dev/null 2>"$work/err" </dev/null ||
      { echo "warning: $tool $kind failed: $(tail -n2 "$work/err")" >&2; }
    out=$(tail -n1 "$work/time.out")
    times+=("${out% *}"); rss+=("${out#* }")
  done
  printf '%s\t%s\t%s\t%s\n' "$row" "$tool" \
    "$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')" \
    "$(printf '%s\n' "${rss[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
}

results="$work/results.tsv"
{
  measure "chroot overhead (in_oracle true)" chroot q
  for t in coroner crash drgn; do measure "start+exit" $t q; done
  for t in coroner crash drgn; do measure "struct task_struct" $t struct; done
  for t in coroner crash drgn; do measure "whatis jiffies (warm)" $t whatis; done
  COLD=1 measure "whatis jiffies (cold index)" coroner whatis
  COLD=1 OSCOLD=1 measure "start+exit, OS cache cold" coroner q
  OSCOLD=1 measure "start+exit, OS cache cold" crash q
  OSCOLD=1 measure "start+exit, OS cache cold" drgn q
} > "$results"
echo "bench: $(basename "$set_dir")/$dump, median of $runs runs, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs"
awk -F'\t' '
  { key = $1 SUBSEP $2; t[key] = $3; r[key] = $4; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
  function cell(row, tool) { return ((row SUBSEP tool) in t) ? sprintf("%.3f", t[row SUBSEP tool]) : "-" }
  function ratio(row, tool,   a, b) {
    if (!((row SUBSEP tool) in t) || !((row SUBSEP "coroner") in t)) return "-"
    a = t[row SUBSEP tool]; b = t[row SUBSEP "coroner"]; return b > 0 ? sprintf("%.1fx", a / b) : "-"
  }
  function lat(row, tool,   base) {
    base = (row ~ /OS cache/) ? "" : "start+exit"
    if (base == "" || row == base || !((row SUBSEP tool) in t)) return "-"
    return sprintf("%.3f", t[row SUBSEP tool] - t[base SUBSEP tool])
  }
  END {
    print "| measurement | coroner (s) | crash 9.0.2 (s) | drgn 0.3.0 (s) | crash / coroner | drgn / coroner | latency over start+exit: coroner / crash / drgn (s) |"
    print "|---|---|---|---|---|---|---|"
    for (i = 1; i <= n; i++) {
      row = order[i]
      if (row ~ /^chroot/) continue
      printf "| %s | %s | %s | %s | %s | %s | %s / %s / %s |\n", row, cell(row, "coroner"), cell(row, "crash"), cell(row, "drgn"),
        ratio(row, "crash"), ratio(row, "drgn"), lat(row, "coroner"), lat(row, "crash"), lat(row, "drgn")
    }
    print ""
    print "| peak RSS (MiB) | coroner | crash 9.0.2 | drgn 0.3.0 | crash / coroner | drgn / coroner |"
    print "|---|---|---|---|---|---|"
    for (i = 1; i <= n; i++) {
      row = order[i]
      if (row ~ /^chroot/) continue
      c = (row SUBSEP "coroner") in r ? r[row SUBSEP "coroner"] / 1024 : 0
      k = (row SUBSEP "crash") in r ? r[row SUBSEP "crash"] / 1024 : 0
      d = (row SUBSEP "drgn") in r ? r[row SUBSEP "drgn"] / 1024 : 0
      printf "| %s | %s | %s | %s | %s | %s |\n", row, c ? sprintf("%.1f", c) : "-", k ? sprintf("%.1f", k) : "-",
        d ? sprintf("%.1f", d) : "-", (c && k) ? sprintf("%.1fx", k / c) : "-", (c && d) ? sprintf("%.1fx", d / c) : "-"
    }
    print ""
    printf "chroot overhead in the crash and drgn times (in_oracle true): %.3f s\n", t["chroot overhead (in_oracle true)" SUBSEP "chroot"]
  }' "$results"
