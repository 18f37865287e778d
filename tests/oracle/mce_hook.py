#!/usr/bin/env python3
"""A machine check's panic on the MCE exception stack, against crash 9 (fixture: qemu-mce.elf,
made by fixtures/make-fixtures.sh step 4f on kernels built with CONFIG_X86_MCE).

QEMU raised an uncorrected, processor-context-corrupt machine check on CPU 0 while it ran in
the kernel (fixtures/qmp-mce.py), so asm_exc_machine_check switched to the CPU's MCE stack (TSS
IST) and do_machine_check -> mce_panic -> panic ran there. bt must cross
`--- <MCE exception stack> ---` to the interrupted stack, as crash does.

Facts checked without crash (a failure each, counted apart from the comparisons):
  - the dump's log holds the handler's "Machine check: Processor Context Corrupt" and a
    "Kernel panic - not syncing: Fatal ... machine check" line;
  - the panic task's bt (on CPU 0) has the MCE transition, asm_exc_machine_check and
    do_machine_check above it, the exception frame's RSP is the slot of the first frame below
    the marker, and every frame above the marker lies in CPU 0's MCE stack (the range read from
    cea_exception_stacks' MCE_stack member: `p` of the per-CPU pointer, `struct -o`).
Then compared with crash 9 (recordings cached in SET/oracle-tests/mce-hook/DUMP): bt and its
options on the panic task and on CPU 0, bt -a, foreach bt, bt -S from a slot on the MCE stack.

Usage: mce_hook.py --coroner BIN [--set DIR] [--only DUMP] [--all] [-v]
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import oracle  # noqa: E402

DUMPS = ("qemu-mce.elf",)
MARKER = "--- <MCE exception stack> ---"
FRAME_RE = re.compile(r"^\s*#(\d+) \[([0-9a-f]+)\] (\S+) at ([0-9a-f]+)", re.M)



def mce_stack(out):
    """CPU 0's MCE stack [lo, hi) from `p cea_exception_stacks:0` and `struct -o`, or None."""
    ptr = re.search(r"= (?:\(struct cea_exception_stacks \*\) )?(0x[0-9a-f]+)", out["p cea_exception_stacks:0"])
    mem = re.search(r"^\s*\[(0x[0-9a-f]+|\d+)\] char MCE_stack\[(\d+)\];", out["struct cea_exception_stacks -o"], re.M)
    if not ptr or not mem:
        return None
    lo = int(ptr.group(1), 16) + int(mem.group(1), 0)
    return lo, lo + int(mem.group(2))


def commands_for_dump(binary, set_dir, dump_files, tmp, verbose):
    name = os.path.basename(dump_files[0])
    label = f"{os.path.basename(set_dir)}/{name}"
    if name not in DUMPS:
        return []
    first = ["bt", "log", "p cea_exception_stacks:0", "struct cea_exception_stacks -o"]
    out = oracle.coroner_outputs(binary, set_dir, dump_files, first, tmp)
    bt, log = out["bt"], out["log"]
    oracle.fact(label, "mce: [Hardware Error]: Machine check: Processor Context Corrupt" in log,
         "no 'Machine check: Processor Context Corrupt' in the log")
    oracle.fact(label, re.search(r"Kernel panic - not syncing: Fatal .*machine check", log) is not None,
         "no machine-check panic in the log")
    head = re.match(r"PID: (\d+)\s+TASK: ([0-9a-f]+)\s+CPU: (\d+)", bt)
    oracle.fact(label, head is not None and head.group(3) == "0", f"the panic task is not on CPU 0: {bt[:80]!r}")
    oracle.fact(label, MARKER in bt, f"no {MARKER} in bt")
    if not head or MARKER not in bt:
        return []
    above, below = bt.split(MARKER, 1)
    up = [(int(n), int(s, 16), f) for n, s, f, _ in FRAME_RE.findall(above)]
    down = [(int(n), int(s, 16), f) for n, s, f, _ in FRAME_RE.findall(below)]
    names = [f for _, _, f in up]
    for fn in ("asm_exc_machine_check", "do_machine_check"):
        oracle.fact(label, fn in names, f"no {fn} above the MCE marker: {names}")
    rsp = re.search(r"RSP: ([0-9a-f]+)", above)
    oracle.fact(label, rsp is not None and down and int(rsp.group(1), 16) == down[0][1],
         f"the exception frame's RSP {rsp and rsp.group(1)} is not the first frame's slot below the marker")
    rng = mce_stack(out)
    oracle.fact(label, rng is not None, "no MCE_stack range from p cea_exception_stacks:0 / struct cea_exception_stacks -o")
    if rng:
        outside = [f"#{n} {s:x}" for n, s, _ in up if not rng[0] <= s < rng[1]]
        oracle.fact(label, not outside, f"frames above the marker outside the MCE stack {rng[0]:x}-{rng[1]:x}: {outside}")
    if verbose:
        print(f"  {label}: pid {head.group(1)}, {len(up)} frames on the MCE stack, {len(down)} below")
    pid, task = head.group(1), head.group(2)
    cmds = ["bt", "bt -a", "bt -f", "bt -F", "bt -FF", "bt -t", "bt -T", "bt -o", "bt -l", "bt -x", "bt -s",
            "bt -sx", "bt -e", "bt -E", "bt -r", "bt -v", f"bt {task}", f"bt -f {task}", "bt -c 0", "bt -c 0 -o",
            "bt -c 0 -t", "bt -c 0 -FF", "foreach bt", "foreach active bt", "foreach bt -o"]
    if up:
        # From the slot of the first frame on the MCE stack (crash takes -S as a number).
        cmds += [f"bt -S {up[0][1]:x} {task}", f"bt -S {up[-1][1]:x} {task}"]
    if pid != "0":
        cmds += [f"bt {pid}"]
    return cmds


if __name__ == "__main__":
    sys.exit(oracle.hook_main("mce_hook", "mce-hook", commands_for_dump, lambda name: name in DUMPS))
