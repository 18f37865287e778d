#!/usr/bin/env bash
# The main job on the default real dump: builds everything it needs (dependencies, coroner,
# the fixture dumps), then opens the kdump vmcore with coroner, runs a few commands, and
# leaves you at the coroner> prompt when run on a terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default
set_dir=$(bash fixtures/make-fixtures.sh "${1:-linux-image-6.1.0-56-cloud-amd64}")
cmds=$(mktemp)
trap 'rm -f "$cmds"' EXIT
printf 'sys\nbt\nlog | tail\n' > "$cmds"
cd "$set_dir"
"$OLDPWD/build/default/shell/coroner" -i "$cmds" vmlinux kdump.elf
