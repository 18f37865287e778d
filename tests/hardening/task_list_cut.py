#!/usr/bin/env python3
"""ps on a dump whose task list is cut: a garbage next pointer in the middle of
init_task.tasks, and in a thread group's list (signal->thread_head).

The variants are made as the corruption matrix makes its own (corruption_matrix.py): the
addresses come from coroner's own `ps -G`, `struct -o`, `struct` and `vtop` on the intact ELF
dump, and the 8 bytes of the link are overwritten in a copy. On each variant `ps` must list the
tasks it reached (more than zero, fewer than all for the task list), then fail (exit status 1)
with an error naming the garbage address, within the matrix's time and memory bounds.

  python3 tests/hardening/task_list_cut.py --coroner build/ci/shell/coroner
"""
import os
import re
import shutil
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corruption_matrix as cm  # noqa: E402

# Outside the direct map's memory on any fixture (3.5 GiB above its start; the guests have
# less than 1 GiB) and outside the kernel image: canonical, so the read fails as unmapped.
GARBAGE = 0xffff8880dead0000
ROW = re.compile(r"^[ >]\s*(\d+)\s+(\d+)\s+(\d+|-)\s+([0-9a-f]{16})\s+[A-Z?]{2}\s")


def ps_rows(text):
    return [m for m in (ROW.match(l) for l in text.splitlines()) if m]


def physical(coroner, vmlinux, dump, vaddr):
    for i, line in enumerate(lines := cm.coroner_lines(coroner, vmlinux, dump, f"vtop {vaddr:x}\n")):
        if line.startswith("VIRTUAL") and i + 1 < len(lines):
            parts = lines[i + 1].split()
            if len(parts) >= 2 and int(parts[0], 16) == vaddr:
                return int(parts[1], 16)
    return None


def member_value(coroner, vmlinux, dump, st, member, addr):
    """A pointer member's value from `struct ST.MEMBER ADDR` ("  signal = 0xffff...,")."""
    for line in cm.coroner_lines(coroner, vmlinux, dump, f"struct {st}.{member} {addr:x}\n"):
        m = re.match(r"\s*" + re.escape(member) + r" = (0x[0-9a-f]+)", line)
        if m:
            return int(m.group(1), 16)
    return None


def main():
    setup = cm.one_dump_args("task_list_cut", __doc__)
    if setup is None:
        return 77
    args, coroner, vmlinux, dump = setup
    layout = cm.elf_layout(dump)
    intact = cm.run_one([coroner, "-s", vmlinux, dump], "ps\n", args.timeout, args.max_rss)
    all_rows = ps_rows(intact["out"])
    leaders = sorted({(int(m.group(1)), int(m.group(4), 16)) for m in
                      ps_rows(cm.run_one([coroner, "-s", vmlinux, dump], "ps -G\n", args.timeout, args.max_rss)["out"])
                      if int(m.group(1)) > 0})
    tasks_off = cm.member_offset(coroner, vmlinux, dump, "task_struct", "tasks")
    head_off = cm.member_offset(coroner, vmlinux, dump, "signal_struct", "thread_head")
    if not all_rows or not leaders or tasks_off is None:
        print(f"task_list_cut: cannot aim the damage on {dump} (ps rows {len(all_rows)}, leaders {len(leaders)})")
        return 1
    # The link in the middle of init_task.tasks: the next pointer of the middle leader in PID
    # (creation) order; and the first link of that leader's thread group list.
    pid, task = leaders[len(leaders) // 2]
    links = [("task list", task + tasks_off, True)]
    signal = member_value(coroner, vmlinux, dump, "task_struct", "signal", task)
    if signal and head_off is not None:
        links.append(("thread list", signal + head_off, False))
    failures = []
    work = tempfile.mkdtemp(prefix="coroner-cut-")
    try:
        for what, link, loses_tasks in links:
            pa = physical(coroner, vmlinux, dump, link)
            offs = cm.elf_offsets(layout, pa) if pa is not None else []
            if not offs:
                failures.append(f"{what}: link {link:#x} not found in {dump}")
                continue
            variant = os.path.join(work, "variant")
            cm.patched(dump, variant, [(off, struct.pack("<Q", GARBAGE)) for off in offs])
            r = cm.run_one([coroner, "-s", vmlinux, variant], "ps\n", args.timeout, args.max_rss)
            rows = ps_rows(r["out"])
            text = r["out"] + r["err"]
            why = cm.judge("ps", r, args.max_rss)
            if why:
                failures.append(f"{what}: {why}")
            if r["rc"] != 1:
                failures.append(f"{what}: exit status {r['rc']}, not 1")
            if not rows:
                failures.append(f"{what}: no task listed")
            if loses_tasks and len(rows) >= len(all_rows):
                failures.append(f"{what}: {len(rows)} tasks listed, as many as the intact dump's {len(all_rows)}")
            if f"{GARBAGE:x}" not in text:
                failures.append(f"{what}: the error does not name {GARBAGE:#x}")
            # Every other task command works on what was reached: the shell must say so once.
            r2 = cm.run_one([coroner, "-s", vmlinux, variant], "bt -a\nforeach bt\n", args.timeout, args.max_rss)
            why = cm.judge("bt -a; foreach bt", r2, args.max_rss)
            if why:
                failures.append(f"{what}: {why}")
            warnings = [l for l in r2["err"].splitlines() if l.startswith("WARNING: the task list is cut")]
            if len(warnings) != 1 or f"{GARBAGE:x}" not in warnings[0]:
                failures.append(f"{what}: bt -a / foreach bt warned {len(warnings)} times about the cut list: {r2['err'][-400:]!r}")
            err = [l for l in text.splitlines() if l.startswith("ps: ")]
            print(f"{what} (next pointer at {link:#x}, after PID {pid}): {len(rows)} of {len(all_rows)} tasks; "
                  f"{err[-1] if err else 'no error line'}")
            os.unlink(variant)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
