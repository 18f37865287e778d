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
# Fixture generation: a TCG guest, its initramfs, the kdump chain and the oracle chroot;
# dwarves (pahole): the BTF of fixtures/cortest's module, built against 6.12's headers
# (whose linux-kbuild package depends on it).
FIXTURE_PKGS=(
  qemu-system-x86 busybox-static kexec-tools cpio xz-utils zstd debootstrap
  python3 socat time
  dwarves
)
# arm64 fixtures (fixtures/make-fixtures-arm64.sh): an aarch64 TCG guest, its workload
# cross-compiled statically; the arm64 kernel and busybox-static:arm64 come from the archive's
# arm64 packages, hence the foreign dpkg architecture.
ARM64_FIXTURE_PKGS=(qemu-system-arm gcc-aarch64-linux-gnu libc6-dev-arm64-cross file)
need_update=0
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64
  need_update=1
fi

want=()
for p in "${BUILD_PKGS[@]}" "${FIXTURE_PKGS[@]}" "${ARM64_FIXTURE_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || want+=("$p")
done
if [ ${#want[@]} -gt 0 ] || [ $need_update = 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
fi
if [ ${#want[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${want[@]}"
fi
