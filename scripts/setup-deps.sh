#!/usr/bin/env bash
# Installs everything coroner needs to build, test and make its fixtures on Debian 12.
# libbpf-dev: the kernel's own BTF type data, parsed by libbpf (start-up reads types from .BTF,
# 4 MB, instead of scanning 160 MB of DWARF).
# Idempotent: packages already present are skipped by apt-get. Run as root.
set -euo pipefail

BUILD_PKGS=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  libdw-dev libelf-dev elfutils libcapstone-dev libfmt-dev zlib1g-dev
  liblzo2-dev libsnappy-dev libzstd-dev libgtest-dev libgmock-dev libedit-dev
  libbpf-dev
)
# Fixture generation: a TCG guest, its initramfs, the kdump chain and the oracle chroot.
FIXTURE_PKGS=(
  qemu-system-x86 busybox-static kexec-tools cpio xz-utils zstd debootstrap
  python3 socat time
)

want=()
for p in "${BUILD_PKGS[@]}" "${FIXTURE_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || want+=("$p")
done
if [ ${#want[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${want[@]}"
fi
