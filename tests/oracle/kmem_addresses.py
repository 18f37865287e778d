#!/usr/bin/env python3
"""`kmem ADDRESS` against crash 9 on addresses that differ on every dump.

The oracle's command lists (commands/*.tsv) are the same text on every dump, so they cannot
name a module's text, a task's stack or a per-CPU variable: KASLR moves all of them. This
script finds such addresses per dump from coroner's own output of commands the oracle checks
elsewhere (mod, ps, bt, kmem -o/-v/-F/-p, sym), builds `kmem ...` commands from them, and runs
those through crash 9 (fixtures/crash-oracle.sh, recordings cached in the fixture set) and
coroner, comparing the outputs exactly as oracle.py does (trailing white space ignored).

Usage: kmem_addresses.py --coroner BIN [--set DIR] [--only DUMP] [--all] [-v]
By default one dump per boot of each set (kdump.elf, qemu.elf, qemu-nokaslr.elf); --all takes
every dump of the manifest. Exit status 0 when every comparison passed.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import oracle  # noqa: E402  (fixture_root, default_sets, read_tsv, safe_name, normalise, run_coroner)

DEFAULT_DUMPS = ("kdump.elf", "qemu.elf", "qemu-nokaslr.elf")

DISCOVERY = ["mod", "ps", "bt 1", "kmem -o", "sym runqueues", "sym init_task", "sym init_stack", "sym schedule",
             "kmem -v", "kmem -F", "kmem -p 1000", "kmem -p 2000", "kmem -s list"]


def hexes(text, pattern):
    return [int(m, 16) for m in re.findall(pattern, text, re.M)]


def discover(binary, set_dir, dump_files, tmp):
    """Addresses of each kind on this dump, from coroner's outputs of DISCOVERY."""
    out = oracle.coroner_outputs(binary, set_dir, dump_files, DISCOVERY, tmp)
    a = {}
    mods = re.findall(r"^([0-9a-f]{16})\s+(\S+)\s+([0-9a-f]{16})\s+\d+", out["mod"], re.M)
    if mods:
        module, _, base = mods[0]
        a["module text"] = int(base, 16) + 0x35
        a["module struct"] = int(module, 16)
        a["module struct+16"] = int(module, 16) + 16
        a["before module"] = int(base, 16) - 0x1000
    tasks = re.findall(r"^>?\s+(\d+)\s+\d+\s+\d+\s+([0-9a-f]{16})\s", out["ps"], re.M)
    init = [int(t, 16) for pid, t in tasks if pid == "1"]
    if init:
        a["task_struct+16"] = init[0] + 16
        a["task_struct"] = init[0]
    frames = hexes(out["bt 1"], r"^\s*#\d+ \[([0-9a-f]+)\]")
    if frames:
        a["task stack"] = frames[0]
        a["task stack+8"] = frames[0] + 8
    offsets = hexes(out["kmem -o"], r"CPU \d+: ([0-9a-f]+)")
    rq = hexes(out["sym runqueues"], r"^([0-9a-f]+) ")
    if offsets and rq:
        a["per-cpu runqueues"] = offsets[-1] + rq[0]
        a["per-cpu offset"] = offsets[0]
    for name, key in (("sym init_task", "init_task"), ("sym init_stack", "init_stack+0x1000"),
                      ("sym schedule", "kernel text")):
        v = hexes(out[name], r"^([0-9a-f]{16}) ")
        if v:
            a[key] = v[0] + (0x1000 if "stack" in key else 5 if "text" in key else 0)
    areas = hexes(out["kmem -v"], r"^[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+) - ")
    if areas:
        a["vmalloc"] = areas[0] + 0x100
    # A free block of order >= 1: its second page, as a struct page pointer and physically.
    p1 = hexes(out["kmem -p 1000"], r"^([0-9a-f]{16}) ")
    p2 = hexes(out["kmem -p 2000"], r"^([0-9a-f]{16}) ")
    block = None
    order = 0
    for line in out["kmem -F"].splitlines():
        m = re.match(r"^\s*(\d+)\s+\d+k\s+[0-9a-f]+\s*$", line)
        if m:
            order = int(m.group(1))
            continue
        if order >= 1 and re.match(r"^[0-9a-f]{16}$", line):
            block = int(line, 16)
            break
    if block and p1 and p2:
        size = p2[0] - p1[0]
        vmemmap = p1[0] - size
        a["page pointer"] = p1[0]
        a["free page pointer"] = block + size
        a["free page physical"] = (block + size - vmemmap) // size * 0x1000 + 0x10
    caches = hexes(out["kmem -s list"], r"^([0-9a-f]{16}) ")
    if caches:
        a["kmem_cache"] = caches[-1]
    return a


def commands_for(a):
    cmds = []
    for key in sorted(a):
        cmds.append(f"kmem {a[key]:x}")
    if "free page physical" in a:
        cmds.append(f"kmem -P {a['free page physical']:x}")
        cmds.append(f"kmem -f {a['free page physical']:x}")
    if "free page pointer" in a:
        cmds.append(f"kmem -f {a['free page pointer']:x}")
        cmds.append(f"kmem -p {a['free page pointer']:x}")
    if "task_struct+16" in a:
        cmds.append(f"kmem -s {a['task_struct+16']:x}")
        cmds.append(f"kmem -m flags,_refcount {a['task_struct+16']:x}")
        if "init_task" in a:
            cmds.append(f"kmem {a['init_task']:x} {a['task_struct+16']:x}")
    if "task stack" in a:
        cmds.append(f"kmem -v {a['task stack']:x}")
        cmds.append(f"kmem -s {a['task stack']:x}")
    if "kmem_cache" in a:
        cmds.append(f"kmem -s {a['kmem_cache']:x}")
    return cmds


def commands_for_dump(binary, set_dir, dump_files, tmp, verbose):
    a = discover(binary, set_dir, dump_files, tmp)
    if verbose:
        for k in sorted(a):
            print(f"  {os.path.basename(set_dir)}/{dump_files[0]}: {k} = {a[k]:x}")
    return commands_for(a)


if __name__ == "__main__":
    sys.exit(oracle.hook_main("kmem_addresses", "kmem-addresses", commands_for_dump,
                              lambda name: name in DEFAULT_DUMPS))
