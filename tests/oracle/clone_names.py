#!/usr/bin/env python3
"""Addresses inside GCC's function clones (foo.isra.0, foo.part.0, foo.constprop.0, foo.cold)
named by coroner as crash 9 names them, on addresses that differ on every dump.

crash and gdb disagree on these names: crash's own lookups (`sym ADDR`, bt, dis) cut the name
at ".isra."/".part." (symbols::display_name), while gdb, which prints values (`p`), keeps the
whole minimal-symbol name. The command lists cannot hold these addresses (KASLR moves them and
the clones differ per kernel build), so this script takes the clones from the vmlinux's symbol
table (`nm`), relocates them by the offset coroner reports for _stext, and compares `p (void *)`
and `sym` at and inside each clone.

Usage: clone_names.py --coroner BIN [--set DIR] [--only DUMP] [--all] [-v]
(kdump.elf, qemu.elf and qemu-nokaslr.elf of each set by default)
"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import oracle  # noqa: E402

DEFAULT_DUMPS = ("kdump.elf", "qemu.elf", "qemu-nokaslr.elf")
KINDS = (".isra.", ".part.", ".constprop.", ".cold")
PER_KIND = 3


def clones(vmlinux):
    """{kind: [(name, link address, size)]}, the first PER_KIND text clones of each kind by name,
    sized so that an address inside them exists."""
    out = subprocess.run(["nm", "-S", "--defined-only", vmlinux], capture_output=True, text=True, check=True).stdout
    found = {k: [] for k in KINDS}
    for addr, size, kind, name in re.findall(r"^([0-9a-f]+) ([0-9a-f]+) ([tT]) (\S+)$", out, re.M):
        for k in KINDS:
            if k in name and int(size, 16) > 8:
                found[k].append((name, int(addr, 16), int(size, 16)))
                break
    return {k: sorted(v)[:PER_KIND] for k, v in found.items()}


def commands_for_dump(binary, set_dir, dump_files, tmp, verbose):
    out = oracle.coroner_outputs(binary, set_dir, dump_files, ["sym _stext"], tmp)
    m = re.match(r"([0-9a-f]{16}) \(T\) _stext", out["sym _stext"])
    if not m:
        return []
    vmlinux = os.path.join(set_dir, "vmlinux")
    link = subprocess.run(["nm", vmlinux], capture_output=True, text=True, check=True).stdout
    stext = re.search(r"^([0-9a-f]+) T _stext$", link, re.M)
    if not stext:
        return []
    reloc = int(m.group(1), 16) - int(stext.group(1), 16)
    cmds = []
    for kind, syms in clones(vmlinux).items():
        if verbose:
            print(f"  {os.path.basename(set_dir)}/{dump_files[0]}: {kind} {[s[0] for s in syms]}")
        for _, addr, size in syms:
            a = addr + reloc
            cmds += [f"p (void *)0x{a:x}", f"p (void *)0x{a + size // 2:x}", f"sym {a + size // 2:x}"]
    return cmds


if __name__ == "__main__":
    sys.exit(oracle.hook_main("clone_names", "clone-names", commands_for_dump, lambda name: name in DEFAULT_DUMPS))
