#!/usr/bin/env python3
"""`bt -S SP` / `bt -I IP -S SP` against crash 9, on stack addresses read from each dump.

crash takes -S only as a hexadecimal number, and KASLR and the dumps' own stacks move every
address, so the oracle's literal command lists cannot hold these forms. This script reads the
frames of `bt -f 1` (init, switched out in do_wait on every fixture dump) and of `bt` (the
panic task, which may be on an IRQ or NMI stack) from coroner's own output, builds -S/-I
commands from them, and runs those through crash 9 (fixtures/crash-oracle.sh, recordings
cached in the fixture set) and coroner, comparing the outputs exactly as oracle.py does.

crash has no %rbp for a trace started with -S, so a frame-pointer function reached before any
frame that saved %rbp gets no frame size, and crash caches that failure for the rest of the
session (later traces through the same function then list stale frames). The commands here
start at __schedule's slot or name the frame at -S, where %rbp is known by the time a
frame-pointer function (do_syscall_64) is reached, so the cache makes no difference.

Usage: bt_hook.py --coroner BIN [--set DIR] [--only DUMP] [--all] [-v]  (every dump by default)
Exit status 0 when every comparison passed.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import oracle  # noqa: E402  (default_sets, read_tsv, safe_name, normalise, run_coroner)

DISCOVERY = ["bt -f 1", "bt"]
FRAME = re.compile(r"^\s*#(\d+) \[([0-9a-f]+)\] (\S+) at ([0-9a-f]+)", re.M)


def discover(binary, set_dir, dump_files, tmp):
    out = oracle.coroner_outputs(binary, set_dir, dump_files, DISCOVERY, tmp)
    return {c: [(int(n), int(s, 16), f, int(p, 16)) for n, s, f, p in FRAME.findall(out[c])] for c in DISCOVERY}


def commands_for(frames):
    cmds = []
    init = frames["bt -f 1"]
    if len(init) >= 3:
        # From __schedule's slot and just below it (crash steps over the switch frame from
        # there), and with -I naming the word at -S (frame #2's slot).
        _, s0, _, _ = init[0]
        _, s2, _, p2 = init[2]
        cmds += [f"bt -S {s0:x} 1", f"bt -S {s0 - 8:x} 1", f"bt -I {p2:x} -S {s2:x} 1", f"bt -S {s0:x} -t 1",
                 f"bt -I {p2:x} -S {s2:x} -t 1", f"bt -S {s0:x} -f 1", f"bt -S {s0:x} -s 1"]
    cmds += ["bt -S 10 1", "bt -S 0 1"]
    return cmds


def commands_for_dump(binary, set_dir, dump_files, tmp, verbose):
    return commands_for(discover(binary, set_dir, dump_files, tmp))


if __name__ == "__main__":
    sys.exit(oracle.hook_main("bt_hook", "bt-hook", commands_for_dump))
