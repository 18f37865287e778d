#!/usr/bin/env python3
"""crash's session state around `files -p INODE` and `vm -M MM` against crash 9, on addresses
that differ on every dump (tests/oracle/commands/session_state.tsv does the same for the page
header with fixed addresses).

crash keeps two things between the commands of an input file (kernel/pagecache.h): the
"PAGE PHYSICAL MAPPING INDEX CNT FLAGS" header is printed once until a command fails through
its restart or kmem runs, and `vm -M MM` stays in force: later `vm`, `foreach vm` and `vtop -c`
of tasks without an mm_struct use MM and keep it. A failed command undoes the force and the mm
given to the last task, not the others; an error(INFO) (`files 99999`) undoes nothing.

The inode (a regular file with pages in the page cache) and PID 1's mm_struct are read per
dump from coroner's own `files -c 1` and `vm 1`, which the oracle checks elsewhere.

Usage: session_hook.py --coroner BIN [--set DIR] [--only DUMP] [--all] [-v]
By default one dump per boot of each set (kdump.elf, qemu.elf, qemu-nokaslr.elf).
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import oracle  # noqa: E402

DEFAULT_DUMPS = ("kdump.elf", "qemu.elf", "qemu-nokaslr.elf")
DISCOVERY = ["files -c 1", "files -c", "vm 1", "ps -k"]


def discover(binary, set_dir, dump_files, tmp):
    out = oracle.coroner_outputs(binary, set_dir, dump_files, DISCOVERY, tmp)
    inodes = []
    for c in ("files -c 1", "files -c"):
        # " FD      INODE          I_MAPPING     NRPAGES TYPE PATH"
        for inode, nrpages, kind in re.findall(r"^\s*\d+ ([0-9a-f]{16}) [0-9a-f]{16}\s+(\d+) (\w+)", out[c], re.M):
            if kind == "REG" and 0 < int(nrpages) <= 256 and inode not in inodes:
                inodes.append(inode)
    mm = re.findall(r"^\s*([0-9a-f]{16})\s+[0-9a-f]{16}\s+\d+k", out["vm 1"], re.M)
    # Kernel threads (no mm_struct) in task-table order, PID 2 and on.
    kthreads = [int(p) for p in re.findall(r"^\s*>?\s*(\d+)\s+\d+\s+\d+\s+[0-9a-f]+\s+\w+\s", out["ps -k"], re.M)
                if int(p) > 1]
    return inodes, (mm[0] if mm else None), kthreads


def commands_for(inodes, mm, kt):
    cmds = []
    if inodes:
        i = inodes[0]
        cmds += [f"files -p {i}", "vtop fffffe0000000000", "kmem -i", f"files -p 0x{i}", "vtop fffffe0000000008",
                 "rd 0", "vtop fffffe0000000010"]
    if mm and len(kt) >= 12:
        a = [str(p) for p in kt[:12]]
        cmds += [
            f"vm -M {mm} {a[0]}",            # forced, given to a[0]
            f"vm {a[0]}",                    # a[0]'s MM line shows it now
            f"vm {a[1]}",                    # still forced: given to a[1]
            f"vm -R 400000 {a[0]}",
            f"vtop -c {a[2]} 400000",        # vtop gives it too
            f"vm {a[2]}",
            f"foreach {a[0]} {a[1]} {a[3]} vm",
            f"vm -M {mm} {a[4]} {a[5]}",     # a[5] is the task crash's cleanup remembers...
            "files 99999",                   # error(INFO): no restart
            f"vm {a[6]}",                    # ...until this one, forced still
            "rd 8",                          # restart: no force, a[6]'s mm undone, the others kept
            f"vm {a[0]} {a[1]} {a[4]} {a[6]} {a[7]}",
            f"vtop -c {a[8]} 400000",
            f"vtop -c {a[1]} 400000",
            # kmem clears the page header itself; vm -M tells its errors apart: an error(INFO)
            # (`kmem -s NAME` unknown) keeps the force, an error(FATAL) (`kmem -m NAME`) ends it.
            f"vm -M {mm} {a[9]}",
            "kmem -s nosuchcache",
            f"vm {a[10]}",
            "kmem -m nosuch 1000",
            f"vm {a[11]}",
        ]
    return cmds


def commands_for_dump(binary, set_dir, dump_files, tmp, verbose):
    inodes, mm, kthreads = discover(binary, set_dir, dump_files, tmp)
    if verbose:
        print(f"  inodes {inodes[:3]} mm {mm} kernel threads {kthreads[:12]}")
    return commands_for(inodes, mm, kthreads)


if __name__ == "__main__":
    sys.exit(oracle.hook_main("session_hook", "session-hook", commands_for_dump,
                              lambda name: name in DEFAULT_DUMPS))
