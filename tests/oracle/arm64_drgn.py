#!/usr/bin/env python3
"""The arm64 oracle: coroner against drgn 0.3.0's recording and the dying kernel's serial log.

crash 9 for arm64 targets is not packaged for an x86_64 host (issue 8), so each arm64 fixture
dump (fixtures/make-fixtures-arm64.sh: ~/.cache/coroner/fixtures/sets-arm64/<set>/) carries
what drgn read from it (oracle-drgn/<dump>.json, written by drgn_record.py) and the serial
console's panic report. This harness runs coroner once per dump (every command redirected to
its own file, as oracle.py does) and compares field by field:

  sys         RELEASE (uts), CPUS (cpus present, "[OFFLINE: n]" when fewer are online),
              TASKS (every task incl. each CPU's idle task), PANIC (the serial panic line)
  ps          per task: PID, CPU, TASK, ST (drgn's task_state_to_char as crash's code), COMM
              (bracketed for kernel threads), PPID (task->real_parent's pid), the ">" markers =
              drgn's per-CPU current tasks
  bt, bt -a, foreach bt
              per task: the header (PID, TASK, CPU, COMMAND) and the frames: names and pcs of
              drgn's non-inline frames; crash's arm64 layout prints every frame's pc minus 4
              (arm64_print_stackframe_entry: "branch_pc = frame->pc - 4"), so coroner's
              PC + 4 must be drgn's pc
  bt (panic)  the serial console's "Call trace:" from panic() down, in order and contiguous,
              return addresses from System.map + the printed Kernel Offset
  log         every record: crash's "[%5lu.%06lu] " timestamp and the text (continuation
              lines indented as crash does)
  sym NAME    the recorded symbols' addresses
  mod         per module: MODULE, NAME, BASE, SIZE (6.4+: every mem[] region summed, as crash)
  vtop ADDR   the recorded translations' physical address (user ones with -c PID)
  rd ADDR 2, rd -p PADDR 2
              the 16 bytes drgn read through the virtual and the physical address
  struct task_struct.pid,comm ADDR
              per task: pid and comm
  kmem -i     TOTAL MEM and FREE, in pages (drgn: _totalram_pages, vm_zone_stat[NR_FREE_PAGES])

The kdump files drgn could not read say "same_moment_as": their memory is the ELF dump's block
for block (check-kdump-arm64.py), so the ELF's recording stands for them.

Differences where drgn's algorithm and crash's legitimately differ are listed, with the
evidence, in arm64_allowlist.tsv (set glob, dump glob, command, regex over the difference's
key, reason). A comparison with only allowed differences counts as "allowed"; any other
difference fails.

Usage: arm64_drgn.py --coroner BIN [--set DIR] [--only DUMP] [-v]
Exit status 0 when every comparison passed or is allowed; 0 with a SKIP line when no arm64
set exists; 1 otherwise.
"""
import argparse
import bisect
import collections
import difflib
import fnmatch
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import oracle  # noqa: E402  (fixture_root, safe_name, read_tsv)

# crash's arm64 unwinder stops after these functions (arm64_print_stackframe_entry returns
# BACKTRACE_COMPLETE_KERNEL); drgn goes on to ret_from_fork / __{primary,secondary}_switched.
CRASH_LAST_FRAMES = ("start_kernel", "secondary_start_kernel", "kthread", "kthreadd")

# drgn's task_state_to_char -> crash's ps ST column (task_state_string()).
STATE_CODES = {"R": "RU", "S": "IN", "D": "UN", "I": "ID", "T": "ST", "t": "TR", "Z": "ZO",
               "X": "DE", "P": "PA", "N": "NE", "W": "WA"}


USED_ENTRIES = set()   # allow-list entries that exempted something in this run


def default_sets():
    root = os.path.join(oracle.fixture_root(), "sets-arm64")
    if not os.path.isdir(root):
        return []
    return [os.path.join(root, d) for d in sorted(os.listdir(root))
            if os.path.isfile(os.path.join(root, d, "manifest.tsv"))]


def h(s):
    return int(s, 16) if isinstance(s, str) else s


# --- the reference


class SystemMap:
    """Text symbols of the set's System.map (link addresses), for the serial trace."""

    def __init__(self, path):
        self.addrs, self.names, self.by_name = [], [], {}
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3 or parts[1] not in "tTwW":
                    continue
                a = int(parts[0], 16)
                self.addrs.append(a)
                self.names.append(parts[2])
                self.by_name.setdefault(parts[2], a)
        order = sorted(range(len(self.addrs)), key=lambda i: self.addrs[i])
        self.addrs = [self.addrs[i] for i in order]
        self.names = [self.names[i] for i in order]

    def name_at(self, addr):
        i = bisect.bisect_right(self.addrs, addr) - 1
        return self.names[i] if i >= 0 else None


def load_reference(set_dir, dump):
    path = os.path.join(set_dir, "oracle-drgn", dump + ".json")
    with open(path) as f:
        rec = json.load(f)
    via = None
    if "drgn_error" in rec:
        same = rec.get("same_moment_as")
        if not same:
            return None, f"drgn could not read {dump} ({rec['drgn_error']}) and no same_moment_as"
        with open(os.path.join(set_dir, "oracle-drgn", same + ".json")) as f:
            base = json.load(f)
        if "drgn_error" in base:
            return None, f"{same}: drgn could not read it either"
        via = same
        rec = base
    rec["_via"] = via
    return rec, None


def frames_of(task):
    """drgn's non-inline frames: (symbol, pc, interrupted, offset of pc in the symbol)."""
    return [(f.get("symbol"), h(f["pc"]), f.get("interrupted"), h(f.get("offset")))
            for f in task.get("trace", []) if not f.get("is_inline")]


# --- coroner's outputs

FRAME = re.compile(r"^\s*#(\d+) \[([0-9a-f]+)\] (\S+) at ([0-9a-f]+)(?: \[(\S+)\])?\s*$")
BT_HEADER = re.compile(r'^PID: (\d+)\s+TASK: ([0-9a-f]+)\s+CPU: (\d+)\s+COMMAND: "(.*)"')


def parse_bt(text):
    """Blocks of a bt / bt -a / foreach bt output: header fields and frames [(name, pc)]."""
    blocks = []
    cur = None
    for line in text.split("\n"):
        m = BT_HEADER.match(line)
        if m:
            cur = {"pid": int(m[1]), "task": int(m[2], 16), "cpu": int(m[3]), "comm": m[4],
                   "frames": [], "lines": [line]}
            blocks.append(cur)
            continue
        if cur is None:
            continue
        cur["lines"].append(line)
        m = FRAME.match(line)
        if m:
            cur["frames"].append((m[3], int(m[4], 16)))
    return blocks


PS_LINE = re.compile(r"^(>?)\s*(\d+)\s+(\d+)\s+(\d+)\s+([0-9a-f]+)\s+(\S\S)\s+\S+\s+\d+\s+\d+\s+(.*?)\s*$")


def parse_ps(text):
    rows = []
    for line in text.split("\n"):
        m = PS_LINE.match(line)
        if m:
            rows.append({"active": m[1] == ">", "pid": int(m[2]), "ppid": int(m[3]), "cpu": int(m[4]),
                         "task": int(m[5], 16), "st": m[6], "comm": m[7], "line": line})
    return rows


def field_lines(text):
    out = {}
    for line in text.split("\n"):
        m = re.match(r"^\s*([A-Z][A-Z ]+?):\s?(.*)$", line)
        if m and m[1] not in out:
            out[m[1]] = m[2].rstrip()
    return out


# --- comparisons


class Tally:
    def __init__(self, allow, set_name, dump, verbose):
        self.allow, self.set_name, self.dump, self.verbose = allow, set_name, dump, verbose
        self.counts = collections.OrderedDict()
        self.skips = []

    def _bucket(self, cmd):
        return self.counts.setdefault(cmd, {"compared": 0, "passed": 0, "allowed": 0, "failed": 0})

    def check(self, cmd, label, diffs, output=None):
        """One comparison: diffs is a list of difference keys (empty: passed)."""
        b = self._bucket(cmd)
        b["compared"] += 1
        if not diffs:
            b["passed"] += 1
            if self.verbose:
                print(f"PASS {self.set_name}/{self.dump}: {cmd}: {label}")
            return
        unallowed = [d for d in diffs if not self.allowed(cmd, d)]
        if not unallowed:
            b["allowed"] += 1
            if self.verbose:
                print(f"ALLOWED {self.set_name}/{self.dump}: {cmd}: {label}: {'; '.join(diffs)}")
            return
        b["failed"] += 1
        print(f"FAIL {self.set_name}/{self.dump}: {cmd}: {label}")
        for d in unallowed[:20]:
            print(f"    {d}")
        if len(unallowed) > 20:
            print(f"    ... {len(unallowed) - 20} more")
        if output is not None:
            lines = output if isinstance(output, list) else output.rstrip("\n").split("\n")
            for line in lines[:30]:
                print(f"    | {line}")
            if len(lines) > 30:
                print(f"    | ... {len(lines) - 30} more lines")

    def skip(self, cmd, why):
        self.skips.append((cmd, why))
        self._bucket(cmd)

    def allowed(self, cmd, diff):
        for n, (set_glob, dump_glob, c, rx, _) in enumerate(self.allow):
            if (fnmatch.fnmatch(self.set_name, set_glob) and fnmatch.fnmatch(self.dump, dump_glob)
                    and c == cmd and rx.search(diff)):
                USED_ENTRIES.add(n)
                return True
        return False


def compare_frames(drgn, coroner):
    """Difference keys between drgn's frames [(symbol, pc, interrupted, offset)] and coroner's
    [(name, printed pc)]: names aligned, then coroner's pc + 4 == drgn's pc."""
    dn = [d[0] for d in drgn]
    cn = [c[0] for c in coroner]
    diffs = []
    sm = difflib.SequenceMatcher(a=dn, b=cn, autojunk=False)
    last_coroner = cn[-1] if cn else "^"
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            for k in range(i2 - i1):
                name, dpc = drgn[i1 + k][:2]
                cpc = coroner[j1 + k][1]
                if cpc + 4 != dpc:
                    diffs.append(f"pc {name}: coroner {cpc:x} (+4 = {cpc + 4:x}), drgn {dpc:x}")
            continue
        if op == "replace" and i2 - i1 == j2 - j1:
            # An exact pc (from pt_regs or a CPU note) at a function's first instruction: crash
            # prints pc - 4 for every frame, which names the function before it.
            pairs = list(zip(drgn[i1:i2], coroner[j1:j2]))
            if all(d[2] and d[3] == 0 and c[1] + 4 == d[1] for d, c in pairs):
                for d, c in pairs:
                    diffs.append(f"exact-pc-at-function-start {d[0]}+0x0 {d[1]:x}: coroner prints pc - 4 "
                                 f"{c[1]:x} as {c[0]}")
                continue
        if i2 > i1:
            prev = dn[i1 - 1] if i1 else "^"
            tail = j1 == len(cn)
            for k in range(i1, i2):
                if tail:
                    diffs.append(f"drgn-only-tail {dn[k]} after coroner's last frame {last_coroner}")
                else:
                    diffs.append(f"drgn-only {dn[k]} after {prev}")
        if j2 > j1:
            prev = cn[j1 - 1] if j1 else "^"
            for k in range(j1, j2):
                diffs.append(f"coroner-only {cn[k]} at {coroner[k][1]:x} after {prev}")
    return diffs


def bt_block_diffs(block, task, rec):
    diffs = []
    if block["task"] != h(task["address"]):
        diffs.append(f"header TASK {block['task']:x}, drgn {task['address']}")
    if block["pid"] != task.get("pid"):
        diffs.append(f"header PID {block['pid']}, drgn {task.get('pid')}")
    if block["cpu"] != task.get("cpu"):
        diffs.append(f"header CPU {block['cpu']}, drgn {task.get('cpu')}")
    if block["comm"] != task.get("comm"):
        diffs.append(f"header COMMAND {block['comm']!r}, drgn {task.get('comm')!r}")
    if "trace_error" in task:
        diffs.append(f"drgn could not unwind: {task['trace_error']}")
        return diffs
    diffs += compare_frames(frames_of(task), block["frames"])
    if not block["frames"]:
        diffs.append("coroner printed no frame")
    return diffs


def check_bt_command(t, cmd, text, tasks, rec):
    blocks = parse_bt(text)
    by_task = {}
    for b in blocks:
        if b["task"] in by_task:
            t.check(cmd, f"one block per task", [f"task {b['task']:x} has more than one block"])
        by_task.setdefault(b["task"], b)
    for task in tasks:
        addr = h(task["address"])
        label = f"pid {task.get('pid')} {task.get('comm')} task {addr:x}"
        b = by_task.get(addr)
        if b is None:
            t.check(cmd, label, [f"no bt block for task {addr:x}"], text.split("\n")[:10])
            continue
        t.check(cmd, label, bt_block_diffs(b, task, rec), b["lines"])
    extra = set(by_task) - {h(x["address"]) for x in tasks}
    if extra:
        t.check(cmd, "no block for other tasks", [f"block for unexpected task {a:x}" for a in sorted(extra)])


def check_serial_trace(t, text, rec, sysmap):
    sp = rec.get("serial_panic") or {}
    trace = sp.get("call_trace") or []
    cmd = "bt (serial Call trace)"
    if not trace:
        t.skip(cmd, f"no serial Call trace recorded ({sp.get('error', 'empty')})")
        return
    names = [f["function"] for f in trace]
    if "panic" not in names:
        t.skip(cmd, "the serial Call trace has no panic frame")
        return
    koff = sp.get("kernel_offset")
    koff = 0 if koff in (None, "disabled") else int(koff, 16)
    want = []
    for f in trace[names.index("panic"):]:
        if f.get("module") or f["function"] not in sysmap.by_name:
            want.append((f["function"], None))
            continue
        ret = sysmap.by_name[f["function"]] + int(f["offset"], 16)
        # The kernel prints the return address's symbol; crash (and coroner) the branch's
        # (ret - 4): different when the call was a function's last instruction.
        want.append((sysmap.name_at(ret - 4), ret + koff))
    blocks = parse_bt(text)
    if not blocks:
        t.check(cmd, "panic task", ["coroner printed no bt block"], text)
        return
    got = blocks[0]["frames"]
    gn = [g[0] for g in got]
    wn = [w[0] for w in want]
    diffs = []
    start = next((i for i in range(len(gn) - len(wn) + 1) if gn[i:i + len(wn)] == wn), None)
    if start is None:
        diffs.append(f"serial frames {' '.join(wn)} not contiguous in coroner's {' '.join(gn)}")
    else:
        # panic's own return address differs (it printed the trace from an earlier call).
        for (name, ret), (_, pc) in list(zip(want, got[start:]))[1:]:
            if ret is not None and pc + 4 != ret:
                diffs.append(f"pc {name}: coroner {pc:x} (+4 = {pc + 4:x}), serial return address {ret:x}")
    t.check(cmd, f"panic task pid {blocks[0]['pid']}: serial trace from panic ({len(want)} frames)", diffs,
            blocks[0]["lines"])


def check_sys(t, text, rec):
    f = field_lines(text)
    cmd = "sys"

    def one(label, got, want):
        t.check(cmd, label, [] if got == want else [f"{label}: coroner {got!r}, drgn {want!r}"], text)

    one("RELEASE", f.get("RELEASE"), rec["uts"]["release"])
    present, online = rec["cpus"].get("present"), rec["cpus"].get("online")
    if isinstance(present, list) and isinstance(online, list):
        want = str(len(present))
        if len(online) != len(present):
            want += f" [OFFLINE: {len(present) - len(online)}]"
        one("CPUS", f.get("CPUS"), want)
    one("TASKS", f.get("TASKS"), str(len(rec["tasks"])))
    one("MACHINE", (f.get("MACHINE") or "").split(" ")[0], rec["uts"]["machine"])
    line = (rec.get("serial_panic") or {}).get("panic_line")
    if line:
        one("PANIC", f.get("PANIC"), f'"{line}"')
    else:
        t.skip(cmd, "PANIC: no panic line on the serial console")


def check_ps(t, text, rec):
    cmd = "ps"
    rows = parse_ps(text)
    by_task = {r["task"]: r for r in rows}
    current = {h(c["task"]) for c in rec["current"] if c.get("task")}
    has_ppid = any("ppid" in x for x in rec["tasks"])
    if not has_ppid:
        t.skip(cmd, "PPID: not in the drgn recording (made by a drgn_record.py older than its ppid)")
    for task in rec["tasks"]:
        addr = h(task["address"])
        label = f"pid {task.get('pid')} {task.get('comm')} task {addr:x}"
        r = by_task.get(addr)
        if r is None:
            t.check(cmd, label, [f"no ps line for task {addr:x}"])
            continue
        diffs = []
        if r["pid"] != task.get("pid"):
            diffs.append(f"PID {r['pid']}, drgn {task.get('pid')}")
        if has_ppid and r["ppid"] != task.get("ppid"):
            diffs.append(f"PPID {r['ppid']} of pid {task.get('pid')} {task.get('comm')}, drgn {task.get('ppid')}")
        if r["cpu"] != task.get("cpu"):
            diffs.append(f"CPU {r['cpu']}, drgn {task.get('cpu')}")
        want_st = STATE_CODES.get(task.get("state"), task.get("state"))
        if r["st"] != want_st:
            diffs.append(f"ST {r['st']}, drgn {task.get('state')} ({want_st})")
        comm = task.get("comm", "")
        want_comm = f"[{comm}]" if task.get("kthread") else comm
        if r["comm"] != want_comm:
            diffs.append(f"COMM {r['comm']!r}, drgn {want_comm!r}")
        if r["active"] != (addr in current):
            diffs.append(f"'>' marker {'set' if r['active'] else 'missing'}, drgn per-CPU current: "
                         f"{'yes' if addr in current else 'no'}")
        t.check(cmd, label, diffs, [r["line"]])
    extra = set(by_task) - {h(x["address"]) for x in rec["tasks"]}
    if extra:
        t.check(cmd, "no other tasks", [f"ps line for a task drgn does not list: {a:x}" for a in sorted(extra)])


def expected_log_lines(rec):
    out = []
    for r in rec["log"]:
        ns = r["timestamp_ns"]
        prefix = f"[{ns // 1000000000:5d}.{(ns % 1000000000) // 1000:06d}] "
        parts = r["text"].split("\n")
        out.append((r["seq"], (prefix + parts[0]).rstrip()))
        for p in parts[1:]:
            out.append((r["seq"], (" " * len(prefix) + p).rstrip()))
    return out


def check_log(t, text, rec):
    cmd = "log"
    if "log" not in rec:
        t.skip(cmd, f"no log in the recording ({rec.get('log_error')})")
        return
    got = [l.rstrip() for l in text.split("\n")]
    while got and not got[-1]:
        got.pop()
    want = expected_log_lines(rec)
    # One comparison per record; a record whose lines are not where expected fails.
    seqs = collections.OrderedDict()
    for i, (seq, line) in enumerate(want):
        seqs.setdefault(seq, []).append((i, line))
    for seq, lines in seqs.items():
        diffs = []
        for i, line in lines:
            g = got[i] if i < len(got) else "<missing>"
            if g != line:
                diffs.append(f"line {i + 1}: coroner {g!r}, drgn {line!r}")
        t.check(cmd, f"record seq {seq}", diffs)
    if len(got) > len(want):
        t.check(cmd, "no extra lines", [f"{len(got) - len(want)} lines after the last record: {got[len(want)]!r}"])


def link_addresses(path):
    """Every symbol of a System.map by name (its first line): the link-time addresses."""
    out = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3:
                out.setdefault(parts[2], int(parts[0], 16))
    return out


def kernel_offset(rec):
    """KERNELOFFSET from the dump's VMCOREINFO as drgn recorded it (0 without KASLR)."""
    for line in rec.get("vmcoreinfo", {}).get("lines", []):
        if line.startswith("KERNELOFFSET="):
            return int(line.split("=", 1)[1], 16)
    return 0


def check_sym(t, outputs, rec, link):
    offset = kernel_offset(rec)
    for name, s in rec["symbols"].items():
        cmd = "sym"
        if s is None:
            t.skip(cmd, f"sym {name}: drgn has no such symbol")
            continue
        text = outputs.get(f"sym {name}", "")
        m = re.match(r"^([0-9a-f]+) \((.)\) (\S+)", text)
        if not m:
            t.check(cmd, name, [f"sym {name}: no symbol line"], text)
            continue
        diffs = []
        ours, theirs = int(m[1], 16), h(s["address"])
        if ours != theirs:
            # Named apart (the allow-list can then say which relation it exempts, on any dump):
            # drgn's value is the System.map link address and coroner's that plus KERNELOFFSET.
            l = link.get(name)
            if offset and l is not None and theirs == l and ours == (l + offset) & (2**64 - 1):
                diffs.append(f"sym {name}: drgn gives the link address, coroner adds KERNELOFFSET")
            else:
                diffs.append(f"sym {name}: coroner {m[1]}, drgn {s['address']}")
        if m[3] != name:
            diffs.append(f"sym {name}: coroner names it {m[3]}")
        t.check(cmd, name, diffs, text)


def check_mod(t, text, rec):
    cmd = "mod"
    rows = {}
    for line in text.split("\n"):
        m = re.match(r"^([0-9a-f]{16})\s+(\S+)\s+([0-9a-f]+)\s+(\d+)\s", line)
        if m:
            rows[m[2]] = (int(m[1], 16), int(m[3], 16), int(m[4]), line)
    for mod in rec["modules"]:
        name = mod["name"]
        r = rows.get(name)
        if r is None:
            t.check(cmd, name, [f"no mod line for {name}"], text)
            continue
        size = sum(x["size"] for x in mod["mem"]) if "mem" in mod else mod.get("size")
        diffs = []
        if r[0] != h(mod["address"]):
            diffs.append(f"MODULE {r[0]:x}, drgn {mod['address']}")
        if r[1] != h(mod.get("base")):
            diffs.append(f"BASE {r[1]:x}, drgn {mod.get('base')}")
        if r[2] != size:
            diffs.append(f"SIZE {r[2]}, drgn {size}")
        t.check(cmd, name, diffs, [r[3]])
    extra = set(rows) - {m["name"] for m in rec["modules"]}
    if extra:
        t.check(cmd, "no other modules", [f"mod line for {n}, not in drgn's list" for n in sorted(extra)])


def le64(hexbytes):
    b = bytes.fromhex(hexbytes)
    return [int.from_bytes(b[i:i + 8], "little") for i in range(0, len(b) - 7, 8)]


def parse_rd(text):
    vals = []
    for line in text.split("\n"):
        m = re.match(r"^\s*([0-9a-f]+):\s+((?:[0-9a-f]{16}\s+){1,2})", line + " ")
        if m:
            vals += [int(v, 16) for v in m[2].split()]
    return vals


def translation_commands(rec):
    """(kind, label, entry, [(cmd, what)]) per usable translation; user ones need set PID."""
    out = []
    for e in rec["translations"]:
        if "error" in e or "paddr" not in e:
            continue
        va, pa = h(e["vaddr"]), h(e["paddr"])
        label = f"{e['kind']} {e.get('note', '')} {va:x}"
        cmds = []
        if e["kind"] == "user":
            cmds.append((f"vtop -c {e['pid']} {va:x}", "vtop"))
            if "bytes_virt" in e:
                cmds.append((f"rd -u {va:x} 2", "rd"))
        else:
            cmds.append((f"vtop {va:x}", "vtop"))
            if "bytes_virt" in e:
                cmds.append((f"rd {va:x} 2", "rd"))
        if "bytes_phys" in e:
            cmds.append((f"rd -p {pa:x} 2", "rd -p"))
        out.append((e, label, cmds))
    return out


def check_translations(t, outputs, rec):
    skipped = [e for e in rec["translations"] if "error" in e]
    for e in skipped:
        t.skip("vtop", f"{e.get('kind')} {e.get('note', '')}: drgn could not translate it ({e['error']})")
    for e, label, cmds in translation_commands(rec):
        va, pa = h(e["vaddr"]), h(e["paddr"])
        for cmd, what in cmds:
            key = user_key(e["pid"], cmd) if e["kind"] == "user" and what == "rd" else cmd
            text = outputs.get(key, "")
            diffs = []
            if what == "vtop":
                m = None
                for line in text.split("\n"):
                    m = re.match(r"^\s*([0-9a-f]+)\s+([0-9a-f]+|\(not mapped\))\s*$", line)
                    if m and int(m[1], 16) == va:
                        break
                    m = None
                if not m:
                    diffs.append(f"{cmd}: no VIRTUAL/PHYSICAL line")
                elif m[2] == "(not mapped)" or int(m[2], 16) != pa:
                    diffs.append(f"{cmd}: PHYSICAL {m[2]}, drgn {pa:x}")
            else:
                want = le64(e["bytes_phys"] if what == "rd -p" else e["bytes_virt"])
                got = parse_rd(text)
                if got != want:
                    diffs.append(f"{cmd}: coroner {' '.join(f'{v:016x}' for v in got) or '<nothing>'}, "
                                 f"drgn {' '.join(f'{v:016x}' for v in want)}")
            t.check(what, label, diffs, text)


def check_struct(t, outputs, rec):
    cmd = "struct"
    for task in rec["tasks"]:
        c = f"struct task_struct.pid,comm {h(task['address']):x}"
        text = outputs.get(c, "")
        m_pid = re.search(r"^\s*pid = (-?\d+),?$", text, re.M)
        m_comm = re.search(r'^\s*comm = "(.*)",?$', text, re.M)
        diffs = []
        if not m_pid or int(m_pid[1]) != task.get("pid"):
            diffs.append(f"pid: coroner {m_pid[1] if m_pid else '<none>'}, drgn {task.get('pid')}")
        comm = m_comm[1].split("\\000")[0] if m_comm else None
        if comm != task.get("comm"):
            diffs.append(f"comm: coroner {comm!r}, drgn {task.get('comm')!r}")
        t.check(cmd, f"pid {task.get('pid')} {task.get('comm')}", diffs, text)


def check_kmem(t, text, rec):
    cmd = "kmem -i"
    mi = rec.get("meminfo")
    if not mi:
        t.skip(cmd, "TOTAL MEM, FREE: the recording has no meminfo "
                    f"({rec.get('meminfo_error', 'drgn_record.py older than its meminfo')})")
        return
    for label, key in (("TOTAL MEM", "totalram_pages"), ("FREE", "free_pages")):
        if mi.get(key) is None:
            t.skip(cmd, f"{label}: no {key} in the recording")
            continue
        m = re.search(rf"^\s*{label}\s+(\d+)\s", text, re.M)
        got = int(m[1]) if m else None
        t.check(cmd, f"{label} pages", [] if got == mi[key] else
                [f"{label} pages: coroner {got}, drgn {key} {mi[key]}"], text)


def check_errors(t, outputs):
    """Once per command word: no output says a symbol is missing (an x86_64-only symbol looked
    up on arm64: the rest of that output is then missing too)."""
    found = collections.OrderedDict()
    for key, text in outputs.items():
        word = key.split()[0]
        lines = found.setdefault(word, [])
        for line in text.split("\n"):
            if re.search(r"symbol not found: ", line) and f"{line} (in: {key})" not in lines:
                if not any(l.startswith(line + " ") for l in lines):
                    lines.append(f"{line} (in: {key})")
    for word, lines in found.items():
        t.check(word, "no 'symbol not found' error", [f"error line: {l}" for l in lines])


# --- running coroner


def run_coroner(binary, set_dir, dump, commands, outdir, timeout):
    """commands: [(key, command line)]; returns ({key: output}, CompletedProcess or message).
    Outputs go to one file per line (by index: the same command may run in two contexts)."""
    script = os.path.join(outdir, "_script")
    with open(script, "w") as f:
        for i, (_, cmd) in enumerate(commands):
            f.write(f"{cmd} > {os.path.join(outdir, f'{i:05d}.txt')}\n")
    env = dict(os.environ, TZ="UTC", LC_ALL="C.UTF-8")
    try:
        p = subprocess.run([os.path.abspath(binary), "-s", "vmlinux", dump], stdin=open(script), cwd=set_dir,
                           env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"coroner did not finish in {timeout}s"
    outputs = {}
    for i, (key, _) in enumerate(commands):
        path = os.path.join(outdir, f"{i:05d}.txt")
        outputs[key] = open(path, errors="replace").read() if os.path.exists(path) else ""
    return outputs, p


def user_key(pid, cmd):
    return f"{cmd} (set {pid})"


def commands_for(rec):
    """[(key, command line)]: the key is the command, or for rd -u the command and its task."""
    cmds = ["sys", "ps", "bt", "bt -a", "foreach bt", "log", "mod", "kmem -i"]
    cmds += [f"sym {n}" for n, s in rec["symbols"].items() if s is not None]
    cmds += [f"struct task_struct.pid,comm {h(x['address']):x}" for x in rec["tasks"]]
    user = []
    for e, _, cs in translation_commands(rec):
        for c, what in cs:
            if e["kind"] == "user" and what == "rd":
                user.append((e["pid"], c))
            elif c not in cmds:
                cmds.append(c)
    out = [(c, c) for c in cmds]
    # rd -u reads through the current context's mm: set it per task, at the end.
    last = None
    for pid, c in user:
        if pid != last:
            out.append((f"set {pid}", f"set {pid}"))
            last = pid
        out.append((user_key(pid, c), c))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--coroner", required=True)
    ap.add_argument("--set", action="append")
    ap.add_argument("--only", help="compare only this dump (manifest name)")
    ap.add_argument("--allowlist", default=os.path.join(HERE, "arm64_allowlist.tsv"))
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    sets = args.set or default_sets()
    if not sets:
        print(f"SKIP arm64 oracle: no arm64 fixture set under {oracle.fixture_root()}/sets-arm64 "
              "(fixtures/make-fixtures-arm64.sh makes one)")
        return 0
    allow = []
    if os.path.exists(args.allowlist):
        for r in oracle.read_tsv(args.allowlist):
            if len(r) < 5 or not r[4].strip():
                raise SystemExit(f"{args.allowlist}: entry without a reason: {r}")
            allow.append((r[0], r[1], r[2], re.compile(r[3]), r[4]))

    totals = collections.Counter()
    summary = []
    for set_dir in sets:
        set_name = os.path.basename(os.path.normpath(set_dir))
        manifest = oracle.read_tsv(os.path.join(set_dir, "manifest.tsv"))
        cols = manifest[0]
        sysmap = SystemMap(os.path.join(set_dir, "System.map"))
        link = link_addresses(os.path.join(set_dir, "System.map"))
        for row in manifest[1:]:
            entry = dict(zip(cols, row))
            dump = entry["name"]
            if args.only and dump != args.only:
                continue
            t = Tally(allow, set_name, dump, args.verbose)
            rec, why = load_reference(set_dir, dump)
            if rec is None:
                print(f"FAIL {set_name}/{dump}: no usable drgn recording: {why}")
                t.check("recording", "drgn recording", [why])
                summary.append(t)
                continue
            cmds = commands_for(rec)
            with tempfile.TemporaryDirectory(prefix="arm64-oracle.") as tmp:
                outputs, p = run_coroner(args.coroner, set_dir, entry["path"], cmds, tmp, args.timeout)
            if outputs is None:
                t.check("session", "coroner session", [p])
                summary.append(t)
                continue
            if p.returncode < 0:
                t.check("session", "coroner exits normally",
                        [f"coroner killed by signal {-p.returncode}: {p.stderr.strip()[-500:]}"])
            if not any(outputs.values()):
                t.check("session", "coroner opened the dump",
                        [f"no output at all (exit {p.returncode}): {p.stderr.strip()[-500:]}"])
                summary.append(t)
                continue
            check_sys(t, outputs["sys"], rec)
            check_ps(t, outputs["ps"], rec)
            panic_tasks = [x for x in rec["tasks"] if x.get("pid") == rec["crashed_thread"].get("pid")
                           and x.get("is_current_on_cpu") is not None]
            check_bt_command(t, "bt", outputs["bt"], panic_tasks[:1], rec)
            check_serial_trace(t, outputs["bt"], rec, sysmap)
            current = {h(c["task"]) for c in rec["current"] if c.get("task")}
            check_bt_command(t, "bt -a", outputs["bt -a"],
                             [x for x in rec["tasks"] if h(x["address"]) in current], rec)
            check_bt_command(t, "foreach bt", outputs["foreach bt"], rec["tasks"], rec)
            check_log(t, outputs["log"], rec)
            check_sym(t, outputs, rec, link)
            check_mod(t, outputs["mod"], rec)
            check_translations(t, outputs, rec)
            check_struct(t, outputs, rec)
            check_kmem(t, outputs["kmem -i"], rec)
            check_errors(t, outputs)
            if rec.get("_via"):
                t.skips.insert(0, ("recording", f"drgn could not read {dump}: compared with {rec['_via']}'s "
                                                "recording (same memory, check-kdump-arm64.py)"))
            summary.append(t)

    print()
    print("arm64 oracle (coroner vs drgn 0.3.0 + serial console): compared / passed / allowed / failed")
    for t in summary:
        print(f"{t.set_name} {t.dump}")
        for cmd, b in t.counts.items():
            if b["compared"]:
                print(f"    {cmd:<24} {b['compared']:4d} {b['passed']:4d} {b['allowed']:4d} {b['failed']:4d}")
            for k in ("compared", "passed", "allowed", "failed"):
                totals[k] += b[k]
        for cmd, why in t.skips:
            print(f"    SKIP {cmd}: {why}")
    if not args.only and not args.set:
        for n, (set_glob, dump_glob, c, rx, _) in enumerate(allow):
            if n not in USED_ENTRIES:
                print(f"note: allow-list entry {set_glob} {dump_glob} {c!r} {rx.pattern!r} matched nothing")
    print(f"{totals['passed']} passed, {totals['allowed']} allowed, {totals['failed']} failed "
          f"(of {totals['compared']} compared)")
    return 1 if totals["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
