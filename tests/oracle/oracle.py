#!/usr/bin/env python3
"""Oracle harness: runs the same commands through coroner and crash 9 on each fixture dump
and compares the outputs after the normalisation named per command in commands/*.tsv.

crash's outputs are recorded once per dump by fixtures/crash-oracle.sh (cached in the
fixture set); coroner runs once per dump with each command redirected to its own file.
A difference fails unless allowlist.tsv lists it with a reason.

Usage: oracle.py --coroner BIN [--set DIR] [--commands FILE] [--only DUMP]
Exit status 0 when every comparison passed (or is allowed); prints 'N passed, N failed'.
"""
import argparse
import difflib
import fnmatch
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def fixture_root():
    if os.environ.get("CORONER_FIXTURES"):
        return os.environ["CORONER_FIXTURES"]
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "coroner", "fixtures")


def default_sets():
    if os.environ.get("CORONER_FIXTURE_SET"):
        return [os.environ["CORONER_FIXTURE_SET"]]
    root = os.path.join(fixture_root(), "sets")
    if not os.path.isdir(root):
        return []
    return [os.path.join(root, d) for d in sorted(os.listdir(root))
            if os.path.isfile(os.path.join(root, d, "manifest.tsv"))]


def first_set(prog):
    """The first fixture set, for the tests that need one dump only. None, after printing the
    failing count line, when no set exists."""
    sets = default_sets()
    if not sets:
        print(f"{prog}: no fixture set under {fixture_root()}/sets: run fixtures/make-fixtures.sh first")
        print("0 passed, 1 failed")
        return None
    return sets[0]


def safe_name(cmd):
    return re.sub(r"[^A-Za-z0-9._-]", "_", cmd) + ".txt"


def read_tsv(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            rows.append(line.split("\t"))
    return rows


# Placeholders a command line may hold, replaced per fixture set before crash and coroner see
# it: {module_debug_dir} is the debug copies of the guest's modules that fixtures/fetch-kernel.sh
# extracts next to the set's vmlinux. crash runs in the oracle chroot, where the directory is
# mirrored (hard links) at the same absolute path, so both print the same object file names.
PLACEHOLDERS = ("{module_debug_dir}",)


def expand(cmd, set_dir):
    if "{" not in cmd or not any(p in cmd for p in PLACEHOLDERS):
        return cmd
    kdir = os.path.dirname(os.path.realpath(os.path.join(set_dir, "vmlinux")))
    moddir = os.path.join(kdir, "debug-modules")
    if not os.path.isfile(os.path.join(moddir, ".done")):
        raise SystemExit(f"oracle: {cmd!r} needs {moddir}: run fixtures/fetch-kernel.sh")
    mirror = os.path.join(fixture_root(), "oracle-sid") + moddir
    if not os.path.isfile(os.path.join(mirror, ".done")):
        for root, _, files in os.walk(moddir):
            dest = mirror + root[len(moddir):]
            os.makedirs(dest, exist_ok=True)
            for f in sorted(files, key=lambda f: f == ".done"):  # .done last: the mirror is complete
                target = os.path.join(dest, f)
                if not os.path.exists(target):
                    try:
                        os.link(os.path.join(root, f), target)
                    except OSError:
                        shutil.copy2(os.path.join(root, f), target)
    return cmd.replace("{module_debug_dir}", moddir)


def normalise(text, how):
    if how != "exact":
        raise SystemExit(f"unknown normalisation {how!r}")
    lines = [l.rstrip() for l in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def run_coroner(binary, set_dir, dump_files, commands, outdir):
    script = os.path.join(outdir, "_script")
    with open(script, "w") as f:
        for cmd in commands:
            f.write(f"{cmd} > {os.path.join(outdir, safe_name(cmd))}\n")
    # The locale crash-oracle.sh gives crash: gdb prints printable UTF-8 in strings as is.
    env = dict(os.environ, TZ="UTC", LC_ALL="C.UTF-8")
    # Same relative names as crash-oracle.sh uses, so KERNEL/DUMPFILE lines compare.
    p = subprocess.run([os.path.abspath(binary), "-s", "vmlinux", *dump_files], stdin=open(script), cwd=set_dir,
                       env=env, capture_output=True, text=True, timeout=600)
    return p



def coroner_outputs(binary, set_dir, dump_files, cmds, tmp):
    """coroner's output of each of cmds on one dump ("" when it wrote none): what the per-dump
    scripts (bt_hook.py, kmem_addresses.py, ...) read before they build their commands."""
    outdir = tempfile.mkdtemp(prefix="discover-", dir=tmp)
    run_coroner(binary, set_dir, dump_files, cmds, outdir)
    out = {}
    for c in cmds:
        path = os.path.join(outdir, safe_name(c))
        out[c] = open(path, errors="replace").read() if os.path.exists(path) else ""
    return out


FACT_FAILURES = []


def fact(label, ok, what):
    """A hook's check made without crash (a fact about the dump: a marker crossed, frames on the
    right stack): a failure is printed and fails hook_main's run."""
    if not ok:
        FACT_FAILURES.append(f"{label}: {what}")
        print(f"FAIL {label}: {what}")


def hook_main(prog, recordings, commands_for_dump, default_dumps=None):
    """main() of a per-dump oracle script, whose commands differ on every dump (addresses,
    PIDs): options --coroner BIN [--set DIR]... [--only DUMP] [--all] [-v].
    commands_for_dump(coroner, set_dir, dump_files, tmp, verbose) returns the commands for one
    dump; an empty list fails that dump (what the script looks for is missing). default_dumps,
    a predicate on the manifest name, picks the dumps run without --all/--only (all when None).
    crash's recordings are cached in SET/oracle-tests/RECORDINGS/DUMP. Returns the exit status."""
    ap = argparse.ArgumentParser(prog=prog)
    ap.add_argument("--coroner", required=True)
    ap.add_argument("--set", action="append")
    ap.add_argument("--only", help="this dump only (manifest name)")
    ap.add_argument("--all", action="store_true", help="every dump of each set")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    sets = args.set or default_sets()
    if not sets:
        print(f"{prog}: no fixture set: run fixtures/make-fixtures.sh first")
        return 1
    passed = failed = 0
    for set_dir in sets:
        manifest = read_tsv(os.path.join(set_dir, "manifest.tsv"))
        for row in (dict(zip(manifest[0], r)) for r in manifest[1:]):
            name = row["name"]
            if args.only and name != args.only:
                continue
            if not args.only and not args.all and default_dumps and not default_dumps(name):
                continue
            label = f"{os.path.basename(set_dir)}/{name}"
            dump_files = row["path"].split(",")
            with tempfile.TemporaryDirectory() as tmp:
                cmds = commands_for_dump(args.coroner, set_dir, dump_files, tmp, args.verbose)
                if not cmds:
                    print(f"FAIL {label}: {prog} found nothing to try on this dump")
                    failed += 1
                    continue
                p, f = compare_with_crash(args.coroner, set_dir, dump_files, cmds,
                                          os.path.join(set_dir, "oracle-tests", recordings, name), tmp, label,
                                          args.verbose)
                passed += p
                failed += f
    print(f"{passed} passed, {failed} failed")
    if FACT_FAILURES:
        print(f"{len(FACT_FAILURES)} facts failed without crash")
    return 0 if failed == 0 and not FACT_FAILURES else 1


def compare_with_crash(coroner, set_dir, dump_files, cmds, crash_dir, tmp, label_prefix, verbose=False):
    """Runs cmds (commands built per dump, e.g. from addresses read off the dump first) through
    crash 9 (recordings cached in crash_dir) and coroner, and compares each output exactly.
    Prints FAIL lines with a diff; returns (passed, failed)."""
    cmdfile = os.path.join(tmp, "commands.txt")
    with open(cmdfile, "w") as f:
        f.write("\n".join(cmds) + "\n")
    rec = subprocess.run(
        ["bash", os.path.join(REPO, "fixtures", "crash-oracle.sh"), os.path.join(set_dir, "vmlinux"),
         ",".join(os.path.join(set_dir, d) for d in dump_files), crash_dir, cmdfile],
        capture_output=True, text=True)
    if rec.returncode != 0:
        print(f"FAIL {label_prefix}: crash oracle could not record outputs:\n{rec.stderr[-2000:]}")
        return 0, len(cmds)
    outdir = os.path.join(tmp, "out")
    os.makedirs(outdir)
    run_coroner(coroner, set_dir, dump_files, cmds, outdir)
    passed = failed = 0
    for cmd in cmds:
        want = normalise(open(os.path.join(crash_dir, safe_name(cmd)), errors="replace").read(), "exact")
        got_path = os.path.join(outdir, safe_name(cmd))
        got = normalise(open(got_path, errors="replace").read(), "exact") if os.path.exists(got_path) else ["<no output>"]
        label = f"{label_prefix}: {cmd}"
        if want == got:
            passed += 1
            if verbose:
                print(f"PASS {label}")
            continue
        failed += 1
        diff = "\n".join(difflib.unified_diff(want, got, "crash", "coroner", lineterm="", n=1))
        print(f"FAIL {label}\n{diff[:4000]}")
    return passed, failed

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--coroner", required=True)
    ap.add_argument("--set", action="append")
    ap.add_argument("--commands", default=os.path.join(HERE, "commands"),
                    help="a command list (.tsv), or a directory whose *.tsv files are read in name order")
    ap.add_argument("--allowlist", default=os.path.join(HERE, "allowlist.tsv"))
    ap.add_argument("--only", help="compare only this dump (manifest name)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    sets = args.set or default_sets()
    if not sets:
        print(f"oracle: no fixture set under {fixture_root()}/sets: run fixtures/make-fixtures.sh first")
        print("0 passed, 1 failed")
        return 1
    # A directory's lists run as one crash session and one coroner session per dump, in file
    # name order, except a list whose first line is "# own-session": it changes what later
    # commands print (mod -s/-S loads module debuginfo), so it gets sessions of its own.
    if os.path.isdir(args.commands):
        shared, groups = [], []
        for f in sorted(os.listdir(args.commands)):
            if not f.endswith(".tsv"):
                continue
            path = os.path.join(args.commands, f)
            with open(path) as fh:
                own = fh.readline().strip() == "# own-session"
            if own:
                groups.append(read_tsv(path))
            else:
                shared.extend(read_tsv(path))
        groups.insert(0, shared)
    else:
        groups = [read_tsv(args.commands)]

    # Entries: set glob, dump glob, command, line regex, reason. Only the lines matching the
    # regex are exempt (they must be present on both sides, the same number of times); every
    # other line must still match exactly.
    allow = []
    for r in read_tsv(args.allowlist):
        if len(r) < 5 or not r[4].strip():
            raise SystemExit(f"allowlist.tsv: entry without a reason: {r}")
        allow.append((r[0], r[1], r[2], re.compile(r[3]), r[4]))

    passed = failed = allowed_n = 0
    reasons_shown = set()
    for cmd_rows in groups:
        seen, files = set(), {}
        for r in cmd_rows:
            if r[0] in seen:
                raise SystemExit(f"oracle: command listed twice: {r[0]!r}")
            seen.add(r[0])
            # Each command's output goes to a file named after it (safe_name, as
            # fixtures/crash-oracle.sh names crash's): two commands with one file name would
            # compare whichever ran last, twice.
            f = safe_name(r[0])
            if f in files:
                raise SystemExit(f"oracle: {files[f]!r} and {r[0]!r} would share the output file {f}: "
                                 "change one of them")
            files[f] = r[0]
        commands = [r[0] for r in cmd_rows]
        how = {r[0]: (r[1] if len(r) > 1 else "exact") for r in cmd_rows}
        for set_dir in sets:
            manifest = read_tsv(os.path.join(set_dir, "manifest.tsv"))
            header = manifest[0]
            rows = [dict(zip(header, r)) for r in manifest[1:]]
            # crash's outputs for exactly these commands, recorded once and cached.
            list_key = hashlib.sha256("\n".join(commands).encode()).hexdigest()[:16]
            expanded = {cmd: expand(cmd, set_dir) for cmd in commands}
            with tempfile.TemporaryDirectory() as tmp:
                cmdfile = os.path.join(tmp, "commands.txt")
                with open(cmdfile, "w") as f:
                    f.write("\n".join(expanded[c] for c in commands) + "\n")
                for row in rows:
                    name = row["name"]
                    if args.only and name != args.only:
                        continue
                    dump_files = row["path"].split(",")
                    # One recording directory per command list, so runs with different lists (a
                    # developer's subset beside the full suite) never delete each other's outputs.
                    crash_dir = os.path.join(set_dir, "oracle-tests", list_key, name)
                    rec = subprocess.run(
                        ["bash", os.path.join(REPO, "fixtures", "crash-oracle.sh"), os.path.join(set_dir, "vmlinux"),
                         ",".join(os.path.join(set_dir, d) for d in dump_files), crash_dir, cmdfile],
                        capture_output=True, text=True)
                    if rec.returncode != 0:
                        print(f"FAIL {name}: crash oracle could not record outputs:\n{rec.stderr[-2000:]}")
                        failed += len(commands)
                        continue
                    outdir = os.path.join(tmp, name)
                    os.makedirs(outdir)
                    p = run_coroner(args.coroner, set_dir, dump_files, [expanded[c] for c in commands], outdir)
                    if p.stderr.strip():
                        print(f"note {name}: coroner stderr: {p.stderr.strip()[:2000]}")
                    for cmd in commands:
                        want_path = os.path.join(crash_dir, safe_name(expanded[cmd]))
                        got_path = os.path.join(outdir, safe_name(expanded[cmd]))
                        want = normalise(open(want_path, errors="replace").read(), how[cmd])
                        got = normalise(open(got_path, errors="replace").read(), how[cmd]) if os.path.exists(got_path) else ["<no output: coroner did not run the command>"]
                        label = f"{os.path.basename(set_dir)}/{name}: {cmd}"
                        if want == got:
                            passed += 1
                            if args.verbose:
                                print(f"PASS {label}")
                            continue
                        diff = "\n".join(difflib.unified_diff(want, got, "crash", "coroner", lineterm="", n=1))
                        reason = None
                        for sg, dg, c, rx, why in allow:
                            if c != cmd or not fnmatch.fnmatch(os.path.basename(set_dir), sg) or not fnmatch.fnmatch(name, dg):
                                continue
                            w = [l for l in want if not rx.search(l)]
                            g = [l for l in got if not rx.search(l)]
                            if w == g and len(want) - len(w) == len(got) - len(g):
                                reason = why
                                break
                        if reason is not None:
                            allowed_n += 1
                            if reason not in reasons_shown:
                                reasons_shown.add(reason)
                                print(f"ALLOWED {label}: {reason}")
                            else:
                                print(f"ALLOWED {label} (same reason)")
                            continue
                        failed += 1
                        print(f"FAIL {label}\n{diff[:4000]}")
    print(f"oracle: {allowed_n} allowed differences")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
