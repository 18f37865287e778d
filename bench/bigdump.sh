#!/usr/bin/env bash
# A multi-GiB dump for the kernel-log bench (`coroner --dmesg` against makedumpfile on large
# dumps). Boots the fixture set's kernel and initramfs in a TCG guest with MEM of memory (the
# fixture workload runs and the guest panics; pvpanic stops it), dumps it with QMP
# dump-guest-memory as ELF (every page of guest memory is in the file), converts that with
# makedumpfile -l -d 0 (every page kept, lzo-compressed) in the oracle chroot, then runs
# bench/log.sh on both. The dumps stay in $FIXTURE_ROOT/big/ (remove it by hand: ~MEM each).
#
# Usage: bench/bigdump.sh [SET_DIR] [MEM] [RUNS]     defaults: first set, 4G, 3 runs
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
set_dir=$(bench_set "${1:-}")
mem=${2:-4G}
runs=${3:-3}
big="$FIXTURE_ROOT/big/$(basename "$set_dir")-$mem"
mkdir -p "$big"
cd "$big"
ln -sf "$(readlink -f "$set_dir/vmlinux")" vmlinux

if [ ! -s big.elf ]; then
  sock=$(mktemp -d "${TMPDIR:-/tmp}/coroner-big.XXXXXX")
  log "booting a $mem TCG guest to make $big/big.elf"
  timeout 900 qemu-system-x86_64 -accel tcg -cpu qemu64 -smp 2 -nographic -no-reboot -monitor none \
    -display none -nic none -kernel "$(readlink -f "$set_dir/vmlinuz")" -m "$mem" \
    -initrd "$set_dir/initramfs/main.img" -append "console=ttyS0 coroner.mode=qemu" \
    -device vmcoreinfo -device pvpanic -action panic=pause -serial file:big.serial.log \
    -qmp "unix:$sock/qmp,server=on,wait=off" </dev/null >big.qemu.log 2>&1 &
  qpid=$!
  python3 "$repo/fixtures/qmp.py" "$sock/qmp" --wait-panic 900 --dump elf:big.elf.part --quit ||
    { kill "$qpid" 2>/dev/null || true; rm -rf "$sock"; die "no panic or dump failed (see $big/big.serial.log)"; }
  wait "$qpid" || true
  rm -rf "$sock"
  # makedumpfile (1.7.2 and sid's 1.7.8) says "Can't get the number of PT_LOAD" on QEMU's ELF,
  # whose program headers start at 0xc0 (an unused section header sits at 0x40): move them to
  # 0x40, right after the ELF header (../shared/TESTBED-NOTES.md).
  python3 - big.elf.part <<'PY'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    eh = bytearray(f.read(64))
    phoff, = struct.unpack_from("<Q", eh, 32)
    phentsize, phnum = struct.unpack_from("<HH", eh, 54)
    if phoff > 64:
        f.seek(phoff)
        ph = f.read(phentsize * phnum)
        f.seek(64)
        f.write(ph)
        struct.pack_into("<Q", eh, 32, 64)
        struct.pack_into("<Q", eh, 40, 0)       # e_shoff: no section headers (they were at 0x40)
        struct.pack_into("<HHH", eh, 58, 0, 0, 0)  # e_shentsize, e_shnum, e_shstrndx
        f.seek(0)
        f.write(eh)
PY
  mv big.elf.part big.elf
fi
if [ ! -s big.lzo-d0 ]; then
  log "makedumpfile -l -d 0 big.elf"
  in_oracle "$big" makedumpfile -l -d 0 big.elf big.lzo-d0.part >makedumpfile.log 2>&1 ||
    { tail -n 5 makedumpfile.log; die "makedumpfile failed"; }
  mv big.lzo-d0.part big.lzo-d0
fi
ls -l big.elf big.lzo-d0
for d in big.elf big.lzo-d0; do
  CORONER=${CORONER:-$repo/build/default/shell/coroner} bash "$here/log.sh" "$big" "$d" "$runs"
done
