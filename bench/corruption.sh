#!/usr/bin/env bash
# The full corruption matrix (issue 9): every damaged variant of several dumps of every
# fixture set, x86_64 and arm64, each main command on each, with the report table written to
# $FIXTURE_ROOT/corruption-report.txt. ctest runs the quick forms (tests/hardening).
#   CORONER=build/asan/shell/coroner nice bash bench/corruption.sh    # under ASan+UBSan
#   CORONER_MATRIX_SETS='sets-arm64/*' bash bench/corruption.sh       # some sets only
set -euo pipefail
. "$(dirname "$0")/lib.sh"
coroner=$(bench_coroner)
sets=()
read -ra patterns <<< "${CORONER_MATRIX_SETS:-sets/* sets-arm64/*}"
for pattern in "${patterns[@]}"; do
  for d in "$FIXTURE_ROOT"/$pattern; do
    [ -d "$d" ] && sets+=(--set "${d%/}")
  done
done
[ ${#sets[@]} -gt 0 ] || die "no fixture set under $FIXTURE_ROOT (fixtures/make-fixtures.sh, fixtures/make-fixtures-arm64.sh)"
report="$FIXTURE_ROOT/corruption-report.txt"
start=$(date +%s)
python3 "$repo/tests/hardening/corruption_matrix.py" --coroner "$coroner" "${sets[@]}" \
  --dumps kdump.lzo-d31,kdump.zstd-d31,kdump.flat-lzo-d31,kdump.elf-d31,qemu.kdump-zlib \
  --arm64-dumps qemu-zlib.kdump,qemu-zlib.flat,qemu.elf,qemu-nokaslr-zlib.kdump \
  --report "$report" | tail -n 20 || status=$?
echo "wall time: $(( $(date +%s) - start )) s"
echo "report: $report"
exit "${status:-0}"
