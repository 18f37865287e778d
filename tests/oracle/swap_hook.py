#!/usr/bin/env python3
"""Swap against crash 9 on the dumps whose guest had a swap device (fixtures: qemu-swap.elf).

The swap guest's process (fixtures/swap-workload.c, comm cor-swap) paged half of a 4 MiB
anonymous mapping out with MADV_PAGEOUT and kept the other half resident; it logged its PID and
the ranges on the serial console ("coroner-fixture: swap pid PID ... swapped A-B ... resident
C-D ... shmem E ..."). For each dump of the manifest whose serial log (NAME-without-extension
.serial.log) has that line, this script builds the commands that show swap — `vtop -c PID` of
swapped, resident and shmem addresses (one and several per command, and through foreach),
`vm -p PID`, `swap`, `kmem -i`, `ptov` of a resident page's physical address, and `rd -u` of
swapped and resident addresses in the task's context (`set PID` first) — runs them through
crash 9 (fixtures/crash-oracle.sh, recordings cached in the fixture set) and coroner, and
compares the outputs exactly as oracle.py does (trailing white space ignored).

Which pages are swapped is read from coroner's own `vm -p PID` (its SWAP lines), and must agree
with the serial log's count: a dump whose swapped pages cannot be found is a failure, not a skip.

Usage: swap_hook.py --coroner BIN [--set DIR] [--only DUMP] [-v]
Exit status 0 when every comparison passed (and at least one dump with swap was compared).
"""
import argparse
import os
import re
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import oracle  # noqa: E402

SERIAL_RE = re.compile(
    r"coroner-fixture: swap pid (\d+) comm (\S+) anon ([0-9a-f]+)-([0-9a-f]+) swapped ([0-9a-f]+)-([0-9a-f]+) "
    r"\((\d+) of \d+ swapped, type (\d+) offsets (\d+)-(\d+)\) resident ([0-9a-f]+)-([0-9a-f]+) \(\d+ present\) shmem ([0-9a-f]+)")


def workload_of(set_dir, name):
    """The swap workload's facts from the dump's serial log, or None."""
    log = os.path.join(set_dir, os.path.splitext(name)[0] + ".serial.log")
    if not os.path.exists(log):
        return None
    m = SERIAL_RE.search(open(log, errors="replace").read())
    if not m:
        return None
    g = m.groups()
    return {"pid": int(g[0]), "comm": g[1], "swapped": (int(g[4], 16), int(g[5], 16)), "nswapped": int(g[6]),
            "offsets": (int(g[8]), int(g[9])), "resident": (int(g[10], 16), int(g[11], 16)), "shmem": int(g[12], 16)}


def discover(binary, set_dir, dump_files, w, tmp):
    """Swapped and resident pages of the range, from coroner's `vm -p PID`."""
    outdir = os.path.join(tmp, "discover")
    os.makedirs(outdir, exist_ok=True)
    cmd = f"vm -p {w['pid']}"
    oracle.run_coroner(binary, set_dir, dump_files, [cmd], outdir)
    path = os.path.join(outdir, oracle.safe_name(cmd))
    text = open(path, errors="replace").read() if os.path.exists(path) else ""
    swapped, offsets, resident = [], [], {}
    for line in text.splitlines():
        m = re.match(r"^([0-9a-f]+)\s+SWAP: (\S+)\s+OFFSET: (\d+)$", line)
        if m:
            a = int(m.group(1), 16)
            if w["swapped"][0] <= a < w["swapped"][1]:
                swapped.append(a)
                offsets.append(int(m.group(3)))
            continue
        m = re.match(r"^([0-9a-f]+)\s+([0-9a-f]+)$", line)
        if m:
            a = int(m.group(1), 16)
            if w["resident"][0] <= a < w["resident"][1]:
                resident[a] = int(m.group(2), 16)
    return swapped, offsets, resident


def commands_for(w, swapped, resident):
    pid, comm = w["pid"], w["comm"]
    s0, s1, slast = swapped[0], swapped[min(1, len(swapped) - 1)], swapped[-1]
    r0 = min(resident)
    cmds = [
        "swap",
        "kmem -i",
        f"ps {pid}",
        f"vm {pid}",
        f"vm -p {pid}",
        f"foreach {comm} vm -p",
        f"vtop -c {pid} {s0:x}",
        f"vtop -c {pid} {s1 + 0x123:x}",
        f"vtop -c {pid} {slast:x}",
        f"vtop -c {pid} {r0:x}",
        f"vtop -c {pid} {s0:x} {r0:x}",
        f"vtop -c {pid} {r0 + 0x1000:x} {s1:x}",
        f"vtop -c {pid} {w['shmem']:x}",
        f"foreach {comm} vtop {s0:x} {r0:x}",
        f"ptov {resident[r0]:x}",
        # Last: `set` changes the context of every later command (crash's and coroner's).
        f"set {pid}",
        f"rd -u {r0:x} 4",
        f"rd -u {s0:x}",
        f"rd -u {slast + 0x8:x} 2",
    ]
    return cmds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--coroner", required=True)
    ap.add_argument("--set", action="append")
    ap.add_argument("--only", help="this dump only (manifest name)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    sets = args.set or oracle.default_sets()
    if not sets:
        print("swap_hook: no fixture set: run fixtures/make-fixtures.sh first")
        return 1
    passed = failed = dumps = 0
    for set_dir in sets:
        manifest = oracle.read_tsv(os.path.join(set_dir, "manifest.tsv"))
        rows = [dict(zip(manifest[0], r)) for r in manifest[1:]]
        for row in rows:
            name = row["name"]
            if args.only and name != args.only:
                continue
            w = workload_of(set_dir, name)
            if not w:
                continue
            dumps += 1
            label = f"{os.path.basename(set_dir)}/{name}"
            dump_files = row["path"].split(",")
            with tempfile.TemporaryDirectory() as tmp:
                swapped, offsets, resident = discover(args.coroner, set_dir, dump_files, w, tmp)
                if len(swapped) != w["nswapped"] or not resident:
                    print(f"FAIL {label}: coroner's vm -p {w['pid']} shows {len(swapped)} swapped pages "
                          f"(the guest swapped {w['nswapped']}) and {len(resident)} resident ones")
                    failed += 1
                    continue
                # The guest's own view (/proc/PID/pagemap's swap offsets), independent of crash:
                # coroner's decoded offsets must be distinct and within the range it logged.
                lo, hi = w["offsets"]
                if len(set(offsets)) != len(offsets) or not all(lo <= o <= hi for o in offsets):
                    print(f"FAIL {label}: swap offsets decoded by coroner ({min(offsets)}-{max(offsets)}, "
                          f"{len(set(offsets))} distinct) disagree with the guest's pagemap ({lo}-{hi})")
                    failed += 1
                else:
                    passed += 1
                cmds = commands_for(w, swapped, resident)
                p, f = oracle.compare_with_crash(args.coroner, set_dir, dump_files, cmds,
                                                 os.path.join(set_dir, "oracle-tests", "swap-hook", name), tmp,
                                                 label, args.verbose)
                passed += p
                failed += f
    if dumps == 0:
        print("swap_hook: no dump with a swap workload (fixtures/make-fixtures.sh makes qemu-swap.elf)")
        failed += 1
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
