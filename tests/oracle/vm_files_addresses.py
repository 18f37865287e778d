#!/usr/bin/env python3
"""`files -p INODE` and `vm -M MM` against crash 9 on addresses that differ on every dump.

The command lists (commands/*.tsv) are the same text on every dump, so they cannot name an
inode or an mm_struct. This script reads them per dump from coroner's own output of commands
the oracle checks elsewhere (`files -c`, `vm`), builds the commands, and runs them through
crash 9 (fixtures/crash-oracle.sh, recordings cached in the fixture set) and coroner, comparing
the outputs exactly as oracle.py does (trailing white space ignored).

Usage: vm_files_addresses.py --coroner BIN [--set DIR] [--only DUMP] [--all] [-v]
By default one dump per boot of each set (kdump.elf, qemu.elf, qemu-nokaslr.elf); --all takes
every dump of the manifest. Exit status 0 when every comparison passed.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import oracle  # noqa: E402

DEFAULT_DUMPS = ("kdump.elf", "qemu.elf", "qemu-nokaslr.elf")
DISCOVERY = ["files -c", "files -c 1", "vm 1"]


def discover(binary, set_dir, dump_files, tmp):
    out = oracle.coroner_outputs(binary, set_dir, dump_files, DISCOVERY, tmp)
    inodes = []
    for c in ("files -c", "files -c 1"):
        # " FD      INODE          I_MAPPING     NRPAGES TYPE PATH"
        for inode, nrpages, kind in re.findall(r"^\s*\d+ ([0-9a-f]{16}) [0-9a-f]{16}\s+(\d+) (\w+)", out[c], re.M):
            if inode not in inodes and (kind == "REG" or nrpages == "0"):
                inodes.append(inode)
    mm = re.findall(r"^\s*([0-9a-f]{16})\s+[0-9a-f]{16}\s+\d+k", out["vm 1"], re.M)
    return inodes, (mm[0] if mm else None)


def commands_for(inodes, mm):
    cmds = [f"files -p {i}" for i in inodes]
    if mm:
        # -M is for a task without an mm_struct (PIDs 2 and 3 are kernel threads); PID 1 has
        # one and ignores it. One -M per task: crash reading commands from a file keeps the
        # forced mm in the task's context afterwards (its cleanup runs only after an error), so
        # a second `vm` of the same task would show it on the MM line.
        cmds += [f"vm -M {mm} 1", f"vm -M {mm} 2", f"vm -p -M {mm} 3"]
    return cmds


def commands_for_dump(binary, set_dir, dump_files, tmp, verbose):
    inodes, mm = discover(binary, set_dir, dump_files, tmp)
    return commands_for(inodes, mm)


if __name__ == "__main__":
    sys.exit(oracle.hook_main("vm_files_addresses", "vm-files-addresses", commands_for_dump,
                              lambda name: name in DEFAULT_DUMPS))
