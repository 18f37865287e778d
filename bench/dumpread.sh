#!/usr/bin/env bash
# Dump-reading benchmark: coroner's dumpfmt readers on every format of one fixture set, beside
# the bare codec libraries and the peers (crash 9.0.2, makedumpfile 1.7.8 from the oracle chroot).
# Prints markdown tables for docs/benchmarks.md. Every figure is the median of RUNS runs.
#
#   1. readers: open time, sequential read of every page (OS page cache cold, then warm),
#      the codec alone on the same compressed pages (bench --codec), random page reads (cold,
#      warm: latency per page), a repeated page (the reader's own cache), peak RSS
#   2. crash reading the same bytes: `rd -p -r /dev/null START LEN` over every run of readable
#      pages, repeated to at least 512 MB, time minus crash's own start+exit time
#   3. flattened files read directly vs `makedumpfile -R` then read
#   4. makedumpfile IN OUT (re-filter a kdump file: decompress every page, write it
#      uncompressed; -E is refused for kdump input) vs coroner reading every page
#
# Usage: bench/dumpread.sh [SET_DIR] [RUNS] [NRANDOM]
#   defaults: the first fixture set (6.1), 3 runs, 10000 random pages.
#   BENCH=path/to/coroner-bench-dumpread (default build/default/bench/coroner-bench-dumpread).
#   NOPEERS=1 skips tables 2-4 (no chroot needed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
set_dir=$(bench_set "${1:-}")
runs=${2:-3}
nrandom=${3:-10000}
bench=$(readlink -f "${BENCH:-$repo/build/default/bench/coroner-bench-dumpread}")
[ -x "$bench" ] || die "no bench binary at $bench (build first: cmake --build ... --target coroner-bench-dumpread)"
bench_need_gnu_time
bench_workdir dumpread "$set_dir" vmlinux

# label|files|codec-bench file (empty: none)
formats=(
  "ELF (QEMU, all pages)|qemu.elf|"
  "ELF (makedumpfile -E -d 31)|kdump.elf-d31|"
  "kdump lzo -d 31|kdump.lzo-d31|kdump.lzo-d31"
  "kdump zstd -d 31|kdump.zstd-d31|kdump.zstd-d31"
  "kdump zlib -d 1|kdump.zlib-d1|kdump.zlib-d1"
  "flattened kdump lzo -d 31|kdump.flat-lzo-d31|"
  "flattened kdump zlib (QEMU)|qemu.kdump-zlib|"
  "split kdump lzo -d 31 (2 files)|kdump.split.1 kdump.split.2|"
)
for f in "${formats[@]}"; do
  IFS='|' read -r _ files _ <<<"$f"
  for x in $files; do [ -e "$work/$x" ] || ln "$(readlink -f "$set_dir/$x")" "$work/$x"; done
done

# median_fields: reads key=value lines (one per run) on stdin, prints one line of key=median.
median_fields() {
  awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); k = kv[1]; if (!(k in seen)) { seen[k] = 1; keys[++n] = k }
                                     v[k, NR] = kv[2] } }
       END { for (j = 1; j <= n; j++) { k = keys[j]; m = 0
               for (r = 1; r <= NR; r++) a[++m] = v[k, r]
               if (a[1] ~ /^-?[0-9.]+$/) { # numeric: median
                 for (x = 1; x <= m; x++) for (y = x + 1; y <= m; y++) if (a[y] + 0 < a[x] + 0) { t = a[x]; a[x] = a[y]; a[y] = t }
                 printf "%s=%s ", k, a[int((m + 1) / 2)] } else printf "%s=%s ", k, a[1]
               delete a }
             print "" }'
}
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | tr -d '"' | head -n1; }

# ---- 1. readers ------------------------------------------------------------------------------
declare -A res codec
for f in "${formats[@]}"; do
  IFS='|' read -r label files cfile <<<"$f"
  paths=(); for x in $files; do paths+=("$work/$x"); done
  res[$label]=$(for _ in $(seq "$runs"); do "$bench" --random "$nrandom" --runs-out "$work/runs.$label" "${paths[@]}"; done | median_fields)
  if [ -n "$cfile" ]; then
    codec[$label]=$(for _ in $(seq "$runs"); do "$bench" --codec "$work/$cfile"; done | median_fields)
  fi
done

echo "dumpfmt readers on $(basename "$set_dir"), median of $runs runs, $nrandom random pages, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs"
echo
echo "| format | pages read (MB) | open (ms) | sequential cold (MB/s) | sequential warm (MB/s, CPU time) | codec alone (MB/s, CPU time) | reader / codec | random cold: pages/s, median, p99 (µs) | random warm: pages/s, median, p99 (µs) | same page again (µs) | peak RSS (MiB): total / anon / file |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for f in "${formats[@]}"; do
  IFS='|' read -r label _ _ <<<"$f"
  r=${res[$label]}
  c=${codec[$label]:-}
  cm=$( [ -n "$c" ] && field "$c" codec_cpu_mbps || echo "")
  printf '| %s | %s | %.1f | %.0f | %.0f | %s | %s | %.0f, %.1f, %.0f | %.0f, %.2f, %.1f | %.3f | %.0f / %.1f / %.0f |\n' \
    "$label" "$(field "$r" mb)" "$(awk -v s="$(field "$r" open_s)" 'BEGIN{print s*1000}')" \
    "$(field "$r" seq_cold_mbps)" "$(field "$r" seq_cpu_mbps)" \
    "$( [ -n "$cm" ] && printf '%.0f (%s, %s of %s pages stored raw)' "$cm" "$(field "$c" codec)" "$(field "$c" raw_pages)" "$(field "$c" pages)" || echo -)" \
    "$( [ -n "$cm" ] && awk -v a="$(field "$r" seq_cpu_mbps)" -v b="$cm" 'BEGIN{printf "%.2f", a/b}' || echo -)" \
    "$(field "$r" rand_cold_pages_per_s)" "$(field "$r" rand_cold_med_us)" "$(field "$r" rand_cold_p99_us)" \
    "$(field "$r" rand_pages_per_s)" "$(field "$r" rand_med_us)" "$(field "$r" rand_p99_us)" \
    "$(field "$r" hit_med_us)" "$(field "$r" peak_rss_mib)" "$(field "$r" rss_anon_mib)" "$(field "$r" rss_file_mib)"
done
echo
echo "Sequential: every page of every physical range in the dump's header, page-sized reads; pages not in the dump (excluded) count in the time, not in the MB. Cold: wall time after the files were dropped from the OS page cache. Warm and codec: CPU time (user + system). Random and same-page: wall time per read."

[ "${NOPEERS:-0}" = 1 ] && exit 0
export -f in_oracle die log
export ORACLE_ROOT

# timed_median CMD...: median CPU time (user + system, all processes) of $runs runs, after one
# warm-up run. CPU time, not wall time: the machine is shared, and none of this waits on I/O.
timed_median() {
  "$@" >/dev/null 2>&1 </dev/null || true
  for _ in $(seq "$runs"); do
    /usr/bin/time -o "$work/time.out" -f '%U %S' "$@" >/dev/null 2>"$work/err" </dev/null ||
      echo "warning: $* failed: $(tail -n2 "$work/err")" >&2
    tail -n1 "$work/time.out" | awk '{print $1 + $2}'
  done | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

# ---- 2. crash reading the same bytes ---------------------------------------------------------
echo
echo "crash 9.0.2 reading the same bytes (\`rd -p -r /dev/null START LEN\` over each run of readable pages, passes repeated to >= 512 MB; crash time = CPU time of the script minus that of crash's start+exit; coroner: CPU time of the same reads)"
echo
echo "| format | MB per pass x passes | crash read (s) | crash (MB/s) | coroner same runs (MB/s) | coroner / crash |"
echo "|---|---|---|---|---|---|"
printf 'q\n' > "$work/q.cmds"
for f in "${formats[@]}"; do
  IFS='|' read -r label files _ <<<"$f"
  # crash names the pieces of a split dump on its command line like coroner.
  runsf="$work/runs.$label"
  bytes=$(awk '{s += $2} END {print s}' "$runsf")
  passes=$(awk -v b="$bytes" 'BEGIN { p = int(512e6 / b); if (p * b < 512e6) p++; print p < 1 ? 1 : p }')
  cmds="$work/rd.cmds"
  : > "$cmds"
  for _ in $(seq "$passes"); do awk '{print "rd -p -r /dev/null " $1 " " $2}' "$runsf" >> "$cmds"; done
  echo q >> "$cmds"
  t_rd=$(timed_median bash -c "in_oracle '$work' crash -s -i rd.cmds vmlinux $files")
  t_q=$(timed_median bash -c "in_oracle '$work' crash -s -i q.cmds vmlinux $files")
  paths=(); for x in $files; do paths+=("$work/$x"); done
  c=$(for _ in $(seq "$runs"); do "$bench" --no-cold --random 1 --runs "$runsf" "${paths[@]}"; done | median_fields)
  awk -v label="$label" -v b="$bytes" -v p="$passes" -v tr="$t_rd" -v tq="$t_q" -v cm="$(field "$c" range_cpu_mbps)" 'BEGIN {
    d = tr - tq; mb = b * p / 1e6
    rate = "(below noise)"; ratio = "-"
    if (d > 0.05) { rate = sprintf("%.0f", mb / d); ratio = sprintf("%.1fx", cm / (mb / d)) }
    printf "| %s | %.1f x %d | %.2f | %s | %.0f | %s |\n", label, b / 1e6, p, d, rate, cm, ratio }'
done

# ---- 3. flattened: direct vs makedumpfile -R ------------------------------------------------
echo
echo "flattened files: coroner reading them directly vs \`makedumpfile -R\` (in the chroot, output on the same disk) then coroner reading the result (open + every page, warm; CPU time)"
echo
echo "| file | coroner direct: open + read (s) | makedumpfile -R (s) | coroner on the result: open + read (s) | -R then read / direct |"
echo "|---|---|---|---|---|"
for x in kdump.flat-lzo-d31 qemu.kdump-zlib; do
  d=$(for _ in $(seq "$runs"); do "$bench" --no-cold --random 1 "$work/$x"; done | median_fields)
  t_r=$(timed_median bash -c "in_oracle '$work' sh -c 'rm -f rearranged && makedumpfile -R rearranged < $x'")
  rm -f "$work/rearranged"
  in_oracle "$work" sh -c "makedumpfile -R rearranged < $x" >/dev/null 2>&1
  o=$(for _ in $(seq "$runs"); do "$bench" --no-cold --random 1 "$work/rearranged"; done | median_fields)
  rm -f "$work/rearranged"
  awk -v x="$x" -v dopen="$(field "$d" open_s)" -v dseq="$(field "$d" seq_cpu_s)" -v tr="$t_r" -v oopen="$(field "$o" open_s)" -v oseq="$(field "$o" seq_cpu_s)" 'BEGIN {
    dt = dopen + dseq; ot = oopen + oseq
    printf "| %s | %.3f | %.2f | %.3f | %.1fx |\n", x, dt, tr, ot, (tr + ot) / dt }'
done

# ---- 4. makedumpfile reading every page -----------------------------------------------------
echo
echo "makedumpfile 1.7.8 reading every page: \`makedumpfile IN OUT\` (keeps the input's dump level, decompresses every page, writes them uncompressed; OUT on the same disk; -E is refused for kdump input) vs coroner reading every page (open + sequential, warm); CPU time"
echo
echo "| input | makedumpfile IN OUT (s) | coroner open + read (s) | makedumpfile / coroner |"
echo "|---|---|---|---|"
for f in "${formats[@]}"; do
  IFS='|' read -r label files cfile <<<"$f"
  [ -n "$cfile" ] || continue
  t_m=$(timed_median bash -c "in_oracle '$work' sh -c 'rm -f out.kdump && makedumpfile $cfile out.kdump'")
  rm -f "$work/out.kdump"
  awk -v label="$label" -v tm="$t_m" -v co="$(field "${res[$label]}" open_s)" -v cs="$(field "${res[$label]}" seq_cpu_s)" 'BEGIN {
    printf "| %s | %.2f | %.3f | %.1fx |\n", label, tm, co + cs, tm / (co + cs) }'
done
