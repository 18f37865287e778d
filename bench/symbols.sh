#!/usr/bin/env bash
# Symbol and type latency: coroner against crash 9.0.2 and drgn 0.3.0 (from the oracle chroot)
# on the same fixture dump, measured in one run, median of RUNS runs each.
#
# Rows (each tool runs the same thing as a script, then exits; bench/rusage.py measures wall
# time, CPU time = user + system of all its processes, which a shared machine disturbs less,
# and peak RSS):
#   start+exit         reach the prompt and quit (coroner -s, crash -s, drgn with an empty script)
#   struct task_struct the type definition printed (drgn: print(prog.type("struct task_struct")))
#   whatis jiffies     a variable's type: coroner needs its DWARF name index for it. "cold" runs
#                      each time with an empty index cache (CORONER_CACHE=a fresh directory), so
#                      the index is built; "warm" loads the index cached by the run before.
#                      (drgn: print(prog["jiffies"].type_))
#   first start, OS page cache cold: vmlinux and dump dropped from the page cache
#                      (POSIX_FADV_DONTNEED) before each run; with a cold index for coroner
# The latency of a command is its row's CPU time minus the start+exit row's, same tool. crash and
# drgn run through in_oracle (unshare + bind mount + chroot); that overhead is its own row and
# is not subtracted. crash and drgn keep no cache between runs: their "cold index" figures are
# their warm ones, not measured twice.
#
# Usage: bench/symbols.sh [SET_DIR] [DUMP] [RUNS]
#   defaults: the 6.1 fixture set (the first set), qemu.elf, 5 runs.
#   CORONER=path/to/coroner overrides the binary (default build/default/shell/coroner).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
set_dir=$(bench_set "${1:-}")
dump=${2:-qemu.elf}
runs=${3:-5}
coroner=$(bench_coroner)
bench_workdir symbols "$set_dir" vmlinux "$dump"
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
# "ROW<TAB>TOOL<TAB>median wall s<TAB>median CPU s (user+system)<TAB>median maxrss KiB".
measure() {
  local row=$1 tool=$2 kind=$3
  bash -c "run_once $tool $kind" >/dev/null 2>&1 </dev/null || true
  local wall=() cpu=() rss=() out
  for _ in $(seq "$runs"); do
    "$here/rusage.py" -o "$work/time.out" bash -c "run_once $tool $kind" >/dev/null 2>"$work/err" </dev/null ||
      { echo "warning: $tool $kind failed: $(tail -n2 "$work/err")" >&2; }
    read -r e u m < "$work/time.out"
    wall+=("$e"); cpu+=("$u"); rss+=("$m")
  done
  med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  printf '%s\t%s\t%s\t%s\t%s\n' "$row" "$tool" "$(med "${wall[@]}")" "$(med "${cpu[@]}")" "$(med "${rss[@]}")"
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
  { key = $1 SUBSEP $2; w[key] = $3; c[key] = $4; r[key] = $5; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
  function has(row, tool) { return (row SUBSEP tool) in w }
  function cell(row, tool) { return has(row, tool) ? sprintf("%.3f / %.3f", w[row SUBSEP tool], c[row SUBSEP tool]) : "-" }
  function ratio(row, tool,   k, b) {
    if (!has(row, tool) || !has(row, "coroner")) return "-"
    k = row SUBSEP tool; b = row SUBSEP "coroner"
    return sprintf("%.1fx / %.1fx", w[b] > 0 ? w[k] / w[b] : 0, c[b] > 0 ? c[k] / c[b] : 0)
  }
  function lat(row, tool,   base, d) {
    base = "start+exit"
    if (row ~ /OS cache/ || row == base || !has(row, tool)) return "-"
    d = c[row SUBSEP tool] - c[base SUBSEP tool]
    return d < 0.005 ? "~0" : sprintf("%.3f", d)
  }
  END {
    # crash and drgn keep no cache: their cold-index figures are their warm ones.
    cold = "whatis jiffies (cold index)"; warm = "whatis jiffies (warm)"
    split("crash drgn", peers, " ")
    for (p in peers) if (!has(cold, peers[p]) && has(warm, peers[p])) {
      w[cold SUBSEP peers[p]] = w[warm SUBSEP peers[p]]; c[cold SUBSEP peers[p]] = c[warm SUBSEP peers[p]]
      r[cold SUBSEP peers[p]] = r[warm SUBSEP peers[p]]
    }
    print "| measurement | coroner: wall / CPU (s) | crash 9.0.2: wall / CPU (s) | drgn 0.3.0: wall / CPU (s) | crash / coroner: wall / CPU | drgn / coroner: wall / CPU | CPU over start+exit: coroner / crash / drgn (s) |"
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
      a = has(row, "coroner") ? r[row SUBSEP "coroner"] / 1024 : 0
      k = has(row, "crash") ? r[row SUBSEP "crash"] / 1024 : 0
      d = has(row, "drgn") ? r[row SUBSEP "drgn"] / 1024 : 0
      printf "| %s | %s | %s | %s | %s | %s |\n", row, a ? sprintf("%.1f", a) : "-", k ? sprintf("%.1f", k) : "-",
        d ? sprintf("%.1f", d) : "-", (a && k) ? sprintf("%.1fx", k / a) : "-", (a && d) ? sprintf("%.1fx", d / a) : "-"
    }
    print ""
    k = "chroot overhead (in_oracle true)" SUBSEP "chroot"
    printf "chroot overhead included in the crash and drgn figures (in_oracle true): %.3f s wall, %.3f s CPU\n", w[k], c[k]
  }' "$results"
