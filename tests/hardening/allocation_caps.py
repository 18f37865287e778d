#!/usr/bin/env python3
"""Allocation caps on counts that come from the dump (docs/hardening.md, "Allocation caps").

Each case edits a copy of a fixture ELF dump so that a count read from it is absurd, runs the
command that sizes an allocation from that count, and checks that the command ends normally
(no signal, no sanitizer report, within the corruption matrix's time and memory bounds) with
an error naming the bad value instead of allocating it.

  python3 tests/hardening/allocation_caps.py --coroner build/ci/shell/coroner
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corruption_matrix as cm  # noqa: E402

# (name, bytes found in the dump, same-length replacement, command, text its error must hold)
CASES = [
    # kmem -n reads the sparsemem section roots: MAX_PHYSMEM_BITS 64 with SECTION_SIZE_BITS 27
    # would ask for 2^37 sections (a 4 GiB root array) before the cap.
    ("VMCOREINFO MAX_PHYSMEM_BITS=64", b"NUMBER(MAX_PHYSMEM_BITS)=46\n", b"NUMBER(MAX_PHYSMEM_BITS)=64\n", "kmem -n",
     "NUMBER(MAX_PHYSMEM_BITS)=64"),
]


def main():
    setup = cm.one_dump_args("allocation_caps", __doc__)
    if setup is None:
        return 77
    args, coroner, vmlinux, dump = setup
    with open(dump, "rb") as f:
        head = f.read(64 << 20)  # the notes (VMCOREINFO) come before the memory
    failures, ran = [], 0
    work = tempfile.mkdtemp(prefix="coroner-caps-")
    try:
        for name, find, repl, cmd, expect in CASES:
            off = head.find(find)
            if off < 0:
                print(f"{name}: skipped ({find!r} is not in {args.dump})")
                continue
            variant = os.path.join(work, "variant")
            cm.patched(dump, variant, [(off, repl)])
            r = cm.run_one([coroner, "-s", vmlinux, variant], cmd + "\n", args.timeout, args.max_rss)
            ran += 1
            text = r["out"] + r["err"]
            why = cm.judge(cmd, r, args.max_rss)
            if why:
                failures.append(f"{name}: {cmd}: {why}")
            elif r["rc"] != 1 or expect not in text:
                failures.append(f"{name}: {cmd}: exit status {r['rc']}, output lacks {expect!r}: {text.strip()[-200:]}")
            err = [l for l in text.splitlines() if l.startswith(cmd.split()[0] + ": ")]
            print(f"{name}: {cmd}: {err[-1] if err else 'no error line'}")
            os.unlink(variant)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for f in failures:
        print("FAIL " + f)
    if not ran:
        return 77
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
