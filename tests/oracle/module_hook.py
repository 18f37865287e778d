#!/usr/bin/env python3
"""Deaths inside a loaded module, against crash 9 (fixtures: qemu-modoops.elf, qemu-df.elf,
qemu-db.elf, made by fixtures/make-fixtures.sh step 4e; qemu-db.elf only with CORONER_FIXTURE_MODULE=1).

The guest loads fixtures/cortest/cortest.ko, whose kthread cortest-sleep sleeps in module
functions, then a shell dies inside the module: a NULL write in cortest_oops_write (oops), an
unbounded recursion of cortest_recurse that hits the stack's guard page (#DF, the panic on the
DOUBLEFAULT exception stack), or a write watchpoint whose handler panics (#DB stack). The
module's symbols and ORC tables come from the dump only (crash has no debug info for it).

Per dump, from coroner's own outputs first: the panic task's PID, the kthread's PID, the
module's functions (sym -m cortest), the exception RIP, the module's data. Then compared with
crash 9 (recordings cached in SET/oracle-tests/module-hook/DUMP): bt, bt -f, bt -F of the panic
task and of the kthread, foreach cortest-sleep bt, sym of every module function and of the
exception RIP, sym -m cortest, dis of the faulting function, mod, rd of the module's data,
kmem of a module text and data address. `mod -s cortest cortest.ko` is not compared: the oracle
chroot sees only the vmlinux and the dump (the set directory keeps cortest.ko for it). Nor is
`mod -t` yet: crash's header says TAINTS where coroner's (commands/mod.cc) says TAINT.

Facts checked without crash (a failure each, counted apart from the comparisons):
  - the panic task's bt names the module function that died, with [cortest];
  - df: the `--- <DOUBLEFAULT exception stack> ---` transition, the exception RIP in
    cortest_recurse, and at least 4 cortest_recurse frames whose return-address slots hold
    the frame's address (read back with rd) and lie a constant distance apart (one frame);
  - db: the `--- <DEBUG exception stack> ---` transition and cortest_watch_and_write below it;
  - the kthread's bt holds cortest_sleep_inner, cortest_sleep_outer and cortest_sleep_thread.

Usage: module_hook.py --coroner BIN [--set DIR] [--only DUMP] [--all] [-v]
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import oracle  # noqa: E402

DUMPS = {"qemu-modoops.elf": "oops", "qemu-df.elf": "df", "qemu-db.elf": "db"}
KTHREAD = "cortest-sleep"
DATA = ("cortest_watched", "cortest_counter", "cortest_max_depth")  # the module's own variables

FRAME_RE = re.compile(r"^\s*#(\d+) \[([0-9a-f]+)\] (\S+) at ([0-9a-f]+)( \[(\S+)\])?$", re.M)



def frames(bt_text):
    return [(int(n), int(sp, 16), name, int(ip, 16), mod) for n, sp, name, ip, _, mod in FRAME_RE.findall(bt_text)]


def commands_for_dump(binary, set_dir, dump_files, tmp, verbose):
    name = os.path.basename(dump_files[0])
    mode = DUMPS.get(name)
    label = f"{os.path.basename(set_dir)}/{name}"
    if not mode:
        return []
    first = ["bt", f"ps {KTHREAD}", "sym -m cortest", f"foreach {KTHREAD} bt", "mod"]
    out = oracle.coroner_outputs(binary, set_dir, dump_files, first, tmp)
    bt = out["bt"]
    m = re.match(r"PID: (\d+)", bt)
    k = re.search(r"^>?\s*(\d+)\s+\d+\s+\d+\s+[0-9a-f]+\s+\S+.*\[" + re.escape(KTHREAD) + r"\]\s*$", out[f"ps {KTHREAD}"], re.M)
    syms = re.findall(r"^([0-9a-f]{16}) \((.)\) (\S+)", out["sym -m cortest"], re.M)
    oracle.fact(label, m is not None, "no PID line in bt")
    oracle.fact(label, k is not None, f"no {KTHREAD} in ps")
    oracle.fact(label, len(syms) > 0, "sym -m cortest lists nothing")
    if not m or not k or not syms:
        return []
    panic_pid, kpid = m.group(1), k.group(1)
    text = {n: int(a, 16) for a, t, n in syms if t in "tT"}
    data = {n: int(a, 16) for a, t, n in syms if n in DATA}
    rip = re.search(r"\[exception RIP: (\S+)\]\n\s+RIP: ([0-9a-f]+)", bt)
    fr = frames(bt)
    if verbose:
        print(f"  {label}: panic pid {panic_pid}, {KTHREAD} pid {kpid}, {len(text)} text symbols, RIP {rip and rip.group(1)}")

    # Facts without crash.
    want = {"oops": "cortest_oops_write", "df": "cortest_recurse", "db": "cortest_watch_and_write"}[mode]
    oracle.fact(label, rip is not None and rip.group(1).startswith(want + "+"),
         f"bt's exception RIP is not in {want}: {rip.group(1) if rip else None}")
    # crash lists the faulting function as a frame only when the exception frame is left for
    # another stack (df, db: the interrupted instruction at the stack pointer); the oops's
    # page fault is handled on the task's own stack, so there its caller is the first frame.
    caller = {"oops": "cortest_oops", "df": "cortest_recurse", "db": "cortest_watch_and_write"}[mode]
    oracle.fact(label, any(f[2] == caller and f[4] == "cortest" for f in fr), f"bt has no {caller} [cortest] frame")
    if mode == "df":
        oracle.fact(label, "--- <DOUBLEFAULT exception stack> ---" in bt, "no DOUBLEFAULT exception stack transition")
        rec = [f for f in fr if f[2] == "cortest_recurse"]
        oracle.fact(label, len(rec) >= 5, f"{len(rec)} cortest_recurse frames")
        # The first is the interrupted instruction (at the stack pointer, in the guard page);
        # the others are return addresses: rd must read each back from its slot, and the
        # slots must be one frame apart.
        calls = rec[1:]
        if calls:
            rd_cmds = [f"rd -64 {f[1]:x}" for f in calls]
            words = oracle.coroner_outputs(binary, set_dir, dump_files, rd_cmds, tmp)
            for f, c in zip(calls, rd_cmds):
                w = re.match(r"([0-9a-f]+):\s+([0-9a-f]+)", words[c])
                oracle.fact(label, w is not None and int(w.group(2), 16) == f[3],
                     f"{c}: the slot of frame #{f[0]} does not hold {f[3]:x}: {words[c].strip()}")
            gaps = {b[1] - a[1] for a, b in zip(calls, calls[1:])}
            oracle.fact(label, len(gaps) == 1, f"cortest_recurse frames not evenly spaced: {sorted(gaps)}")
            oracle.fact(label, len({f[3] for f in calls}) == 1, "cortest_recurse return addresses differ")
    if mode == "db":
        oracle.fact(label, "--- <DEBUG exception stack> ---" in bt, "no DEBUG exception stack transition")
    kbt = out[f"foreach {KTHREAD} bt"]
    for fn in ("cortest_sleep_inner", "cortest_sleep_outer", "cortest_sleep_thread"):
        oracle.fact(label, re.search(rf"\] {fn} at [0-9a-f]+ \[cortest\]$", kbt, re.M) is not None,
             f"{KTHREAD}'s bt has no {fn} [cortest]")
    oracle.fact(label, re.search(r"^\S+\s+cortest\s+", out["mod"], re.M) is not None, "mod does not list cortest")

    cmds = ["bt", "bt -f", "bt -F", "bt -s", "bt -sx", f"bt {kpid}", f"bt -f {kpid}", f"bt -F {kpid}",
            f"bt -s {kpid}", f"foreach {KTHREAD} bt", "sym -m cortest", "mod"]
    cmds += [f"sym {n}" for n in sorted(text)]
    if rip:
        a = int(rip.group(2), 16)
        cmds += [f"sym {a:x}", f"kmem {a:x}", f"dis -r {a:x}", f"dis {want}"]
    for n, a in sorted(data.items()):
        cmds += [f"rd {a:x} 2", f"kmem {a:x}"]
    return cmds


if __name__ == "__main__":
    sys.exit(oracle.hook_main("module_hook", "module-hook", commands_for_dump, lambda name: name in DUMPS))
