#!/usr/bin/env python3
"""Bad inputs on the coroner command line: each must exit non-zero with one clear line on
stderr naming the file and the problem (exact messages). Uses the real fixture set for the
vmlinux and dumps, and derives damaged files from them in a temporary directory.

Usage: bad_inputs.py --coroner BIN   (prints 'N passed, N failed')
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oracle"))
from oracle import default_sets, first_set  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--coroner", required=True)
    args = ap.parse_args()
    coroner = os.path.abspath(args.coroner)
    s = first_set("bad_inputs")
    if s is None:
        return 1
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        def write(name, data):
            p = os.path.join(tmp, name)
            with open(p, "wb") as f:
                f.write(data)
            return p

        with open(os.path.join(s, "kdump.elf"), "rb") as f:
            elf_head = f.read(1 << 20)
        with open(os.path.join(s, "kdump.lzo-d31"), "rb") as f:
            kdump_head = f.read(70000)
        cases = [
            # (argv, expected exit status, regex the whole stderr must match)
            (["vmlinux", "nosuchfile"], 2, r"coroner: nosuchfile: No such file or directory\n"),
            (["vmlinux", write("notadump", b"hello\n")], 1,
             r"coroner: .*/notadump: not a recognized dump format \(tried flattened makedumpfile, kdump-compressed, ELF vmcore\); file size 0x6, first bytes: 68 65 6c 6c 6f 0a\n"),
            (["vmlinux", write("empty", b"")], 1, r"coroner: .*/empty: .*\n"),
            (["vmlinux", write("trunc.elf", elf_head)], 1,
             r"coroner: .*/trunc\.elf: the dump is truncated: cannot read linux_banner: dump truncated: physical address 0x[0-9a-f]+ at file offset 0x[0-9a-f]+ .*\n"),
            (["vmlinux", write("trunc.kdump", kdump_head)], 1, r"coroner: .*/trunc\.kdump: .*truncated.*\n"),
            (["vmlinux", write("trunc-header.kdump", kdump_head[:100])], 1, r"coroner: .*/trunc-header\.kdump: .*\n"),
            (["vmlinux", "vmlinuz"], 2, r"coroner: vmlinuz: a compressed kernel image \(bzImage\), which has no symbols: .*\n"),
            (["vmlinux"], 2, r"coroner: no dump file given\n(.|\n)*"),
            (["/bin/true", "kdump.elf"], 1, r"coroner: /bin/true: no symbol table \(\.symtab\): is this a stripped vmlinuz\?\n"),
        ]
        other = [o for o in default_sets()[1:] if os.path.basename(o) != os.path.basename(s)]
        if other:
            rel = os.path.basename(other[0])
            m = re.search(r"linux-image-(\S+?)-\d[^-]*$", rel)
            cases.append(([os.path.join(other[0], "vmlinux"), "kdump.elf"], 1,
                           r"coroner: .*/vmlinux and kdump\.elf do not match: vmlinux is \S+, the dump is \S+ \(VMCOREINFO OSRELEASE\)\n"))
        for argv, want_rc, want_err in cases:
            p = subprocess.run([coroner, "-s", *argv], cwd=s, input="sys\n", capture_output=True, text=True, timeout=120)
            okay = p.returncode == want_rc and re.fullmatch(want_err, p.stderr) is not None
            label = " ".join(os.path.basename(a) if a.startswith(tmp) else a for a in argv)
            if okay:
                passed += 1
                print(f"PASS coroner {label}")
            else:
                failed += 1
                print(f"FAIL coroner {label}: exit {p.returncode} (want {want_rc}); stderr:\n{p.stderr}")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
