#!/usr/bin/env python3
"""A vmlinux stripped of its debug info (objcopy --strip-debug): the commands that need only
the symbol table, BTF and ORC still work and print what they print with the debug vmlinux;
the ones that need DWARF say so and name the commands that do not.

Usage: stripped_vmlinux.py --coroner BIN   (prints 'N passed, N failed')
"""
import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oracle"))
from oracle import first_set  # noqa: E402

SAME = ["sym jiffies", "rd -64 linux_banner 4", "vtop ffffffff81000000", "dis schedule 5",
        "struct list_head", "bt -a", "ps", "log"]
NEEDS_DWARF = ["whatis jiffies", "p jiffies"]


def run(coroner, vmlinux, dump, cmd, cwd):
    p = subprocess.run([coroner, "-s", vmlinux, dump], input=cmd + "\n", capture_output=True, text=True,
                       cwd=cwd, timeout=300)
    return p.stdout, p.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--coroner", required=True)
    args = ap.parse_args()
    coroner = os.path.abspath(args.coroner)
    s = first_set("stripped_vmlinux")
    if s is None:
        return 1
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        stripped = os.path.join(tmp, "vmlinux.stripped")
        subprocess.run(["objcopy", "--strip-debug", os.path.join(s, "vmlinux"), stripped], check=True)
        for cmd in SAME:
            want, _ = run(coroner, "vmlinux", "kdump.elf", cmd, s)
            got, err = run(coroner, stripped, "kdump.elf", cmd, s)
            if want == got and want.strip():
                passed += 1
            else:
                failed += 1
                print(f"FAIL {cmd!r}: output with the stripped vmlinux differs\n{err[:500]}")
        for cmd in NEEDS_DWARF:
            out, err = run(coroner, stripped, "kdump.elf", cmd, s)
            text = out + err
            if "no DWARF debug info" in text and "needs the debug vmlinux" in text and "sym, rd" in text:
                passed += 1
            else:
                failed += 1
                print(f"FAIL {cmd!r}: no clear 'needs debug info' message:\n{text[:500]}")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
