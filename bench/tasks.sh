#!/usr/bin/env bash
# Task and stack benchmark: `ps` and `foreach bt` in coroner against crash 9.0.2, and every
# task's stack trace in drgn 0.3.0 (from the oracle chroot), on each fixture dump.
#
# Each run is a whole session (start + command + exit) run as a script: coroner -s -i and
# crash -s -i with the command then `q`; drgn in script mode with
#   for t in for_each_task(prog): prog.stack_trace(t)
# (a task whose trace drgn cannot make is skipped, not an error). A `start+exit` row (an
# empty script) is measured too, and "after start-up" = command row - start+exit row, same
# tool: what the command itself costs. A start-up that varies by a second on a loaded machine
# swamps that difference, so `foreach bt` is also timed inside the session: coroner and crash
# run `!echo ...` shell escapes before and after it that print the time and their parent's
# (the tool's) CPU ticks from /proc/PID/stat; drgn's script times its own loop. bench/rusage.py measures wall time, CPU time (user +
# system of every process of the session: a shared, loaded machine disturbs it far less than
# wall time, so "after start-up" is computed from it) and peak RSS; each figure is the median
# of RUNS runs, after one untimed warm-up run.
# crash and drgn run through in_oracle (unshare + bind mount + chroot), which adds its own
# small cost to their figures; it is not subtracted. A cell marked "!" had a non-zero exit
# status (e.g. drgn cannot open a split or flattened dump): its time means nothing.
#
# Usage: bench/tasks.sh [SET_DIR] [RUNS] [DUMP...]
#   defaults: the first fixture set, 3 runs, every dump of its manifest.tsv plus qemu-many.elf
#   when the set has it (fixtures/make-fixtures.sh with CORONER_MANY_TASKS=N).
#   DUMP is a manifest name (kdump.split = both pieces) or a file in the set.
#   CORONER=path/to/coroner overrides the binary (default build/default/shell/coroner).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
set_dir=$(bench_set "${1:-}")
runs=${2:-3}
shift $(( $# > 2 ? 2 : $# ))
coroner=$(bench_coroner)
[ -f "$set_dir/manifest.tsv" ] || die "no fixture set at $set_dir"

# name -> comma-separated files, from the manifest (plus the opt-in many-task dump).
declare -A paths=()
names=()
while IFS=$'\t' read -r name path _; do
  [ "$name" = name ] && continue
  paths[$name]=$path; names+=("$name")
done < "$set_dir/manifest.tsv"
if [ -f "$set_dir/qemu-many.elf" ]; then paths[qemu-many.elf]=qemu-many.elf; names+=(qemu-many.elf); fi
if [ $# -gt 0 ]; then
  names=("$@")
  for n in "${names[@]}"; do [ -n "${paths[$n]:-}" ] || paths[$n]=$n; done
fi

bench_workdir tasks "$set_dir" vmlinux
for n in "${names[@]}"; do
  IFS=, read -ra files <<< "${paths[$n]}"
  for f in "${files[@]}"; do
    [ -f "$set_dir/$f" ] || die "no dump file $set_dir/$f"
    [ -e "$work/$f" ] || ln "$(readlink -f "$set_dir/$f")" "$work/$f"
  done
done
# crash 9.0.2 reads x86_64 dumps only: on an arm64 set its columns stay empty.
crash=crash
bench_crash_can_read "$set_dir" || crash=
printf 'q\n' > "$work/q.cmds"
printf 'ps\nq\n' > "$work/ps.cmds"
printf 'foreach bt\nq\n' > "$work/bt.cmds"
echo 'pass' > "$work/q.py"
stamp='!echo coroner-bench $(date +%s.%N) $(cut -d" " -f14,15 /proc/$PPID/stat)'
printf '%s\nforeach bt\n%s\nq\n' "$stamp" "$stamp" > "$work/btin.cmds"
cat > "$work/btin.py" <<'EOF'
import time
from drgn.helpers.linux.pid import for_each_task
w0, c0 = time.perf_counter(), time.process_time()
for t in for_each_task(prog):
    try:
        prog.stack_trace(t)
    except Exception:
        pass
print(f"coroner-bench-inside {time.perf_counter() - w0:.4f} {time.process_time() - c0:.4f}")
EOF
cat > "$work/bt.py" <<'EOF'
from drgn.helpers.linux.pid import for_each_task
traced = failed = 0
for t in for_each_task(prog):
    try:
        prog.stack_trace(t)
        traced += 1
    except Exception:
        failed += 1
print(f"{traced} traced, {failed} failed")
EOF

# One session of TOOL running KIND (q, ps, bt) on the files FILES (space-separated).
run_once() {
  local tool=$1 kind=$2 files=$3
  case $tool in
    coroner) (cd "$work" && "$coroner" -s -i "$kind.cmds" vmlinux $files) ;;
    crash) in_oracle "$work" crash -s -i "$kind.cmds" vmlinux $files ;;
    drgn) in_oracle "$work" drgn -q -c $files -s vmlinux "$kind.py" ;;
  esac
}
export -f run_once in_oracle die log
export work coroner ORACLE_ROOT

# measure DUMP ROW TOOL KIND: prints "DUMP<TAB>ROW<TAB>TOOL<TAB>median wall s<TAB>median CPU s<TAB>median maxrss KiB<TAB>failed runs".
measure() {
  local dump=$1 row=$2 tool=$3 kind=$4 files
  files=${paths[$dump]//,/ }
  bash -c "run_once $tool $kind '$files'" >/dev/null 2>&1 </dev/null || true
  local wall=() cpu=() rss=() fails=0 e u m
  for _ in $(seq "$runs"); do
    "$here/rusage.py" -o "$work/time.out" bash -c "run_once $tool $kind '$files'" >/dev/null 2>"$work/err" </dev/null ||
      fails=$((fails + 1))
    read -r e u m < "$work/time.out"
    wall+=("$e"); cpu+=("$u"); rss+=("$m")
  done
  med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$dump" "$row" "$tool" "$(med "${wall[@]}")" "$(med "${cpu[@]}")" \
    "$(med "${rss[@]}")" "$fails"
}

# measure_inside DUMP TOOL: `foreach bt` timed inside the session, RUNS runs; prints
# "DUMP<TAB>foreach bt (inside)<TAB>TOOL<TAB>median wall s<TAB>median CPU s<TAB>0<TAB>failed runs".
ticks=$(getconf CLK_TCK)
measure_inside() {
  local dump=$1 tool=$2 files wall=() cpu=() fails=0 line
  files=${paths[$dump]//,/ }
  for _ in $(seq "$runs"); do
    line=$(bash -c "run_once $tool btin '$files'" 2>/dev/null </dev/null | awk -v hz="$ticks" '
      $1 == "coroner-bench" { n++; t[n] = $2; c[n] = ($3 + $4) / hz }
      $1 == "coroner-bench-inside" { print $2, $3; exit }
      END { if (n == 2) print t[2] - t[1], c[2] - c[1] }') || true
    if [ -z "$line" ]; then fails=$((fails + 1)); continue; fi
    wall+=("${line% *}"); cpu+=("${line#* }")
  done
  med() { [ $# -gt 0 ] || { echo 0; return; }; printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$dump" "foreach bt (inside)" "$tool" "$(med ${wall[@]+"${wall[@]}"})" \
    "$(med ${cpu[@]+"${cpu[@]}"})" 0 "$fails"
}

results="$work/results.tsv"
for n in "${names[@]}"; do
  log "bench tasks: $n"
  for t in coroner $crash drgn; do measure "$n" "start+exit" $t q; done
  for t in coroner $crash; do measure "$n" "ps" $t ps; done
  for t in coroner $crash drgn; do measure "$n" "foreach bt" $t bt; done
  for t in coroner $crash drgn; do measure_inside "$n" $t; done
done > "$results"

ntasks() { # DUMP: the task count coroner's ps prints
  local files=${paths[$1]//,/ }
  (cd "$work" && printf 'ps\nq\n' | "$coroner" -s vmlinux $files 2>/dev/null | tail -n +2 | wc -l)
}
declare -A tasks=()
for n in "${names[@]}"; do tasks[$n]=$(ntasks "$n"); done
counts=$(for n in "${names[@]}"; do printf '%s\t%s\n' "$n" "${tasks[$n]}"; done)

echo "bench: $(basename "$set_dir"), median of $runs runs, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs"
echo "wall / CPU time (s) and peak RSS (MiB) of a whole session; \"after start-up\": the command's session minus start+exit, CPU time"
awk -F'\t' -v counts="$counts" '
  BEGIN { n = split(counts, cl, "\n"); for (i = 1; i <= n; i++) { split(cl[i], f, "\t"); ntask[f[1]] = f[2] } }
  { k = $1 SUBSEP $2 SUBSEP $3; w[k] = $4; c[k] = $5; r[k] = $6; bad[k] = $7 > 0
    if (!($1 in seen)) { seen[$1] = 1; dumps[++nd] = $1 } }
  function has(d, row, t) { return (d SUBSEP row SUBSEP t) in w }
  function cell(d, row, t,   k) {
    k = d SUBSEP row SUBSEP t
    if (!(k in w)) return "-"
    return sprintf("%.2f / %.2f / %.0f%s", w[k], c[k], r[k] / 1024, bad[k] ? " !" : "")
  }
  function after(d, t,   k, b) {
    k = d SUBSEP "foreach bt" SUBSEP t; b = d SUBSEP "start+exit" SUBSEP t
    if (!(k in w) || !(b in w) || bad[k] || bad[b]) return "-"
    return sprintf("%.3f", c[k] - c[b] < 0 ? 0 : c[k] - c[b])
  }
  function inside(d, t,   k) {
    k = d SUBSEP "foreach bt (inside)" SUBSEP t
    if (!(k in w) || bad[k]) return "-"
    return sprintf("%.3f / %.2f", w[k], c[k])
  }
  function inside_ratio(d, t,   k, o) {
    k = d SUBSEP "foreach bt (inside)" SUBSEP t; o = d SUBSEP "foreach bt (inside)" SUBSEP "coroner"
    if (!(k in w) || !(o in w) || bad[k] || bad[o] || w[o] <= 0) return "-"
    return sprintf("%.0fx", w[k] / w[o])
  }
  function ratio(d, row, t,   k, o) {
    k = d SUBSEP row SUBSEP t; o = d SUBSEP row SUBSEP "coroner"
    if (!(k in w) || !(o in w) || bad[k] || bad[o] || c[o] <= 0) return "-"
    return sprintf("%.0fx / %.0fx / %.1fx", w[k] / w[o], c[k] / c[o], r[k] / r[o])
  }
  function after_ratio(d, t,   a, o) {
    a = after(d, t); o = after(d, "coroner")
    if (a == "-" || o == "-" || o + 0 <= 0) return "-"
    return sprintf("%.1fx", a / o)
  }
  END {
    print "| dump (tasks) | command | coroner: wall s / CPU s / MiB | crash 9.0.2 | drgn 0.3.0 | crash / coroner: wall / CPU / RSS | drgn / coroner |"
    print "|---|---|---|---|---|---|---|"
    for (i = 1; i <= nd; i++) {
      d = dumps[i]
      split("start+exit|ps|foreach bt", rowsl, "|")
      for (j = 1; j <= 3; j++) {
        row = rowsl[j]
        printf "| %s | %s | %s | %s | %s | %s | %s |\n", (j == 1 ? d " (" ntask[d] ")" : ""), row,
          cell(d, row, "coroner"), cell(d, row, "crash"), cell(d, row, "drgn"), ratio(d, row, "crash"), ratio(d, row, "drgn")
      }
    }
    print ""
    print "foreach bt alone, timed inside the session (wall s / CPU s; CPU in clock ticks for coroner and crash):"
    print ""
    print "| dump (tasks) | coroner | crash 9.0.2 | drgn 0.3.0 | crash / coroner (wall) | drgn / coroner (wall) |"
    print "|---|---|---|---|---|---|"
    for (i = 1; i <= nd; i++) {
      d = dumps[i]
      printf "| %s (%s) | %s | %s | %s | %s | %s |\n", d, ntask[d], inside(d, "coroner"), inside(d, "crash"), inside(d, "drgn"),
        inside_ratio(d, "crash"), inside_ratio(d, "drgn")
    }
    print ""
    print "foreach bt after start-up (CPU s of the session minus start+exit):"
    print ""
    print "| dump (tasks) | coroner | crash 9.0.2 | drgn 0.3.0 | crash / coroner | drgn / coroner |"
    print "|---|---|---|---|---|---|"
    for (i = 1; i <= nd; i++) {
      d = dumps[i]
      printf "| %s (%s) | %s | %s | %s | %s | %s |\n", d, ntask[d], after(d, "coroner"), after(d, "crash"), after(d, "drgn"),
        after_ratio(d, "crash"), after_ratio(d, "drgn")
    }
  }' "$results"
