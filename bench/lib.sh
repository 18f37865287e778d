# Sourced by the bench scripts: the repository, the fixture helpers (die, in_oracle,
# FIXTURE_ROOT) and the set-up every bench repeats.
bench_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$bench_lib_dir")
. "$repo/fixtures/common.sh"

# bench_set [DIR]: the fixture set (default: the first one), without a trailing slash.
bench_set() {
  local d=${1:-$(ls -d "$FIXTURE_ROOT"/sets/*/ | head -n1)}
  echo "${d%/}"
}

# bench_coroner: the coroner binary ($CORONER, default build/default), resolved; dies if missing.
bench_coroner() {
  local c
  c=$(readlink -f "${CORONER:-$repo/build/default/shell/coroner}")
  [ -x "$c" ] || die "no coroner binary at $c (build first)"
  echo "$c"
}

bench_need_gnu_time() { [ -x /usr/bin/time ] || die "GNU time is needed (apt-get install time)"; }

# bench_workdir NAME SET FILE...: sets $work to a scratch directory under the fixture root with
# hard links of the set's FILEs (the oracle chroot cannot follow the set's symlinks); it is
# removed when the script exits.
bench_workdir() {
  local name=$1 set=$2 f
  shift 2
  work="$FIXTURE_ROOT/bench-$name-$$"
  rm -rf "$work"
  mkdir -p "$work"
  trap 'rm -rf "$work"' EXIT
  for f in "$@"; do ln "$(readlink -f "$set/$f")" "$work/$f"; done
}

# bench_crash_can_read SET: true when the set's vmlinux is x86_64, the only target the oracle's
# crash 9.0.2 is built for (an arm64 set is compared with drgn alone).
bench_crash_can_read() {
  [ "$(od -An -tu2 -j18 -N2 "$(readlink -f "$1/vmlinux")" | tr -d ' ')" = 62 ]
}
