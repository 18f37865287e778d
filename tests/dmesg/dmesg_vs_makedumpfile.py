#!/usr/bin/env python3
"""`coroner --dmesg` (no vmlinux) against `makedumpfile --dump-dmesg`, byte for byte.

Every fixture set holds the text makedumpfile 1.7.8 printed for each dump source
(fixtures/make-fixtures.sh): kdump.dmesg.txt (from kdump.elf, so for every kdump.* dump),
qemu.dmesg.txt and qemu-nokaslr.dmesg.txt. Each dump of the manifest is run through
`coroner --dmesg` and compared with its source's file; the check is also run with -o FILE.
A dump with a source of its own (kdump-irq.elf, kdump-nmi.elf: any ELF named SOURCE.elf)
that has no SOURCE.dmesg.txt yet gets one made here by the same makedumpfile 1.7.8 in the
oracle chroot (`makedumpfile --dump-dmesg SOURCE.elf`), written next to the dump as
make-fixtures.sh writes the others, so later runs reuse it.

Usage: dmesg_vs_makedumpfile.py --coroner BIN [--set DIR]
Exit status 0 when every dump matched; prints 'N passed, N failed'.
"""
import argparse
import difflib
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "oracle"))
import oracle  # noqa: E402  (fixture_root, default_sets, read_tsv)


def reference_for(name):
    """The makedumpfile output of the dump a manifest entry was made from: the source is
    the name up to its first dot (kdump.lzo-d31 -> kdump, kdump-irq.elf -> kdump-irq)."""
    source = name.split(".", 1)[0]
    return source + ".dmesg.txt" if source else None


def make_reference(set_dir, name, fmt, ref):
    """Runs makedumpfile --dump-dmesg in the oracle chroot on a kdump ELF (SOURCE.elf) that
    has no reference text yet. QEMU ELFs need the program-header copy make-fixtures.sh makes
    and converted dumps share their source's text, so only plain `elf` dumps qualify.
    Returns an error string, or None when the reference now exists."""
    if fmt != "elf" or name != ref[: -len(".dmesg.txt")] + ".elf":
        return "no makedumpfile output for it"
    common = os.path.join(os.path.dirname(os.path.dirname(HERE)), "fixtures", "common.sh")
    tmp = ref + ".tmp"
    script = '. "$1"; shift; in_oracle "$@"'
    r = subprocess.run(["bash", "-c", script, "sh", common, set_dir, "makedumpfile",
                        "--dump-dmesg", name, tmp], capture_output=True, timeout=600)
    path = os.path.join(set_dir, tmp)
    if r.returncode != 0 or not os.path.isfile(path):
        if os.path.exists(path):
            os.unlink(path)
        err = (r.stdout + r.stderr).decode(errors="replace").strip().splitlines()[-3:]
        return f"makedumpfile --dump-dmesg {name} failed (exit {r.returncode}): {' | '.join(err)}"
    os.chmod(path, 0o644)
    os.rename(path, os.path.join(set_dir, ref))
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--coroner", required=True)
    ap.add_argument("--set", action="append")
    args = ap.parse_args()
    coroner = os.path.abspath(args.coroner)
    sets = args.set or oracle.default_sets()
    if not sets:
        print("no fixture sets (run fixtures/make-fixtures.sh)")
        return 1
    passed = failed = 0
    for s in sets:
        rows = oracle.read_tsv(os.path.join(s, "manifest.tsv"))
        for row in rows[1:]:
            name, paths = row[0], row[1].split(",")
            ref = reference_for(name)
            if ref is None:
                print(f"SKIP {os.path.basename(s)} {name}: no makedumpfile output for it")
                continue
            if not os.path.isfile(os.path.join(s, ref)):
                why = make_reference(s, name, row[2] if len(row) > 2 else "", ref)
                if why:
                    print(f"SKIP {os.path.basename(s)} {name}: {why}")
                    continue
            with open(os.path.join(s, ref), "rb") as f:
                want = f.read()
            with tempfile.TemporaryDirectory() as tmp:
                out_file = os.path.join(tmp, "dmesg.txt")
                runs = [([coroner, "--dmesg", *paths], None), ([coroner, "--dmesg", *paths, "-o", out_file], out_file)]
                for cmd, path in runs:
                    r = subprocess.run(cmd, cwd=s, capture_output=True, timeout=120)
                    got = r.stdout
                    if path and r.returncode == 0:
                        with open(path, "rb") as f:
                            got = f.read()
                    what = f"{os.path.basename(s)} {name}{' -o' if path else ''}"
                    if r.returncode == 0 and got == want:
                        passed += 1
                        continue
                    failed += 1
                    print(f"FAIL {what}: exit {r.returncode} {r.stderr.decode(errors='replace').strip()}")
                    diff = difflib.unified_diff(want.decode(errors="replace").splitlines(),
                                                got.decode(errors="replace").splitlines(),
                                                ref, "coroner --dmesg", lineterm="", n=1)
                    for line in list(diff)[:20]:
                        print("  " + line)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
