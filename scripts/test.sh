#!/usr/bin/env bash
# The whole test suite, from a fresh clone on a fresh Debian 12 machine (as root):
# dependencies, a -Werror build, the real-dump fixtures (cached), then ctest (unit tests,
# fuzz-corpus replays, and the oracle comparison against crash 9).
#   CORONER_KERNELS="pkg1 pkg2"  kernel packages to make fixture sets for (default below)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-deps.sh
cmake --preset ci
cmake --build --preset ci
for pkg in ${CORONER_KERNELS:-linux-image-6.1.0-56-cloud-amd64 linux-image-6.12.117+deb12-cloud-amd64}; do
  bash fixtures/make-fixtures.sh "$pkg" >/dev/null
done
ctest --preset ci -j2
# The fast tests again under ASan+UBSan (CORONER_ASAN=0 skips): unit tests, CLI tests, fuzz
# corpus replays, the quick corruption matrix, and the oracle comparison on the first fixture set.
if [ "${CORONER_ASAN:-1}" != 0 ]; then
  cmake --preset asan >/dev/null
  cmake --build --preset asan
  ctest --preset asan -j2 -L 'unit|cli|fuzz|hardening'
  first=$(python3 -c 'import sys; sys.path.insert(0, "tests/oracle"); import oracle; print(oracle.default_sets()[0])')
  if ! python3 tests/oracle/oracle.py --coroner build/asan/shell/coroner --set "$first" > build/asan/oracle.log 2>&1; then
    grep -A 30 '^FAIL' build/asan/oracle.log | head -n 300
    echo "ASan oracle run failed (build/asan/oracle.log)"
    exit 1
  fi
  tail -n 2 build/asan/oracle.log
fi
# Every libFuzzer target for a short while from its seed corpus (clang build of its own);
# CORONER_FUZZ_SECONDS=0 skips it.
if [ "${CORONER_FUZZ_SECONDS:-10}" != 0 ]; then
  bash scripts/fuzz.sh "${CORONER_FUZZ_SECONDS:-10}"
fi
