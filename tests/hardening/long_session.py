#!/usr/bin/env python3
"""A long session does not grow: the same block of commands, run again and again in one
coroner session, must not make its resident memory grow once the caches are warm.

The block covers the commands a postmortem runs (sys, bt -a, foreach bt, ps, log, kmem -i/-s,
dev, mod, files, vm, net, sig, sym, dis, struct, p, rd). After each round the session reports
its own VmRSS (`!grep VmRSS /proc/$PPID/status`: the shell escape's parent is coroner). After
WARMUP rounds, ROUNDS more rounds may add at most --max-growth KiB in total: a leak of one
kilobyte per task in `foreach bt` would add far more. Run on the compressed kdump (its page
cache) and the ELF dump of every fixture set. Every round must also print the same output as
the first (a cache that returns stale or different data is a silent wrong answer).

  python3 tests/hardening/long_session.py --coroner build/ci/shell/coroner
"""
import argparse
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corruption_matrix as cm  # noqa: E402

BLOCK = """sys
bt -a
foreach bt
ps
log
kmem -i
kmem -s
dev
mod
files 1
vm 1
net
sig 1
sym schedule
dis schedule 10
struct task_struct.comm init_task
p jiffies
rd -64 init_task 8
bt -f
foreach files
"""
MARK = "coroner-long-session-round"
RSS = re.compile(r"^VmRSS:\s+(\d+) kB$", re.M)
HISTORY = re.compile(r"\$\d+ = ")  # p's value-history number grows by design


def normalized(part):
    return HISTORY.sub("$N = ", RSS.sub("", part).strip("\n"))


def run(coroner, vmlinux, dump, rounds, timeout):
    script = "".join(BLOCK + f"!echo {MARK}; grep VmRSS /proc/$PPID/status\n" for _ in range(rounds))
    p = subprocess.run([coroner, "-s", vmlinux, dump], input=script, capture_output=True, text=True,
                       timeout=timeout)
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--coroner", required=True)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--max-growth", type=int, default=2048, help="KiB allowed after the warm-up")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--dumps", default="kdump.lzo-d31,kdump.elf")
    args = ap.parse_args()
    sets = cm.sets()
    if not sets:
        print("long_session: no fixture sets (run fixtures/make-fixtures.sh)")
        return 77
    failures = 0
    checked = 0
    for set_dir in sets:
        vmlinux = os.path.join(set_dir, "vmlinux")
        for name in args.dumps.split(","):
            dump = os.path.join(set_dir, name)
            if not os.path.exists(dump):
                continue
            label = f"{os.path.basename(set_dir)}/{name}"
            total = args.warmup + args.rounds
            p = run(args.coroner, vmlinux, dump, total, args.timeout)
            parts = p.stdout.split(MARK + "\n")
            rss = [int(m) for m in RSS.findall(p.stdout)]
            problems = []
            if p.returncode not in (0, 1):
                problems.append(f"exit status {p.returncode}: {p.stderr[-400:]}")
            if len(rss) != total:
                problems.append(f"{len(rss)} RSS reports for {total} rounds")
            else:
                growth = max(rss[args.warmup:]) - rss[args.warmup - 1]
                if growth > args.max_growth:
                    problems.append(f"RSS grew by {growth} KiB after the warm-up "
                                    f"(round {args.warmup}: {rss[args.warmup - 1]} KiB, "
                                    f"peak after: {max(rss[args.warmup:])} KiB; limit {args.max_growth})")
                # The output of each round, without its RSS line and p's $N, must equal the first round's.
                outputs = [normalized(part) for part in parts[:total]]
                for i, out in enumerate(outputs[1:], 2):
                    if out != outputs[0]:
                        problems.append(f"round {i} printed something else than round 1")
                        break
            checked += 1
            if problems:
                failures += 1
                print(f"FAIL {label}: " + "; ".join(problems))
            else:
                print(f"ok   {label}: {total} rounds of {BLOCK.count(chr(10))} commands, RSS "
                      f"{rss[0]} -> {rss[args.warmup - 1]} (warm) -> {rss[-1]} KiB at the end, "
                      f"growth after warm-up {max(rss[args.warmup:]) - rss[args.warmup - 1]} KiB")
    if checked == 0:
        print("long_session: no dump found")
        return 77
    print(f"long_session: {checked} sessions, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
