#!/usr/bin/env bash
# The full corruption matrix (issue 9): every damaged variant of several dumps of every
# fixture set, each main command on each, with the report table written to
# $FIXTURE_ROOT/corruption-report.txt. ctest runs the quick form (tests/hardening).
#   CORONER=build/asan/shell/coroner bash bench/corruption.sh    # under ASan+UBSan
set -euo pipefail
. "$(dirname "$0")/lib.sh"
coroner=$(bench_coroner)
sets=()
for d in "$FIXTURE_ROOT"/sets/*/; do sets+=(--set "${d%/}"); done
report="$FIXTURE_ROOT/corruption-report.txt"
python3 "$repo/tests/hardening/corruption_matrix.py" --coroner "$coroner" "${sets[@]}" \
  --dumps kdump.lzo-d31,kdump.zstd-d31,kdump.flat-lzo-d31,kdump.elf-d31,qemu.kdump-zlib \
  --report "$report" | tail -n 20
echo "report: $report"
