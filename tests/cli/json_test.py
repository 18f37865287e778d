#!/usr/bin/env python3
"""--json and -j (docs/json.md): on every dump of the first fixture set, `coroner --json` runs
ps, log, sym, kmem -i, kmem -s, dev, mod, sys and bt (bt -a, bt, bt -a -l, foreach bt: every task
and frame against the text of the same command with -s); every output line must parse with json.loads
(one document per command), and the values must agree with the text output of the same commands
in a session without --json (the text is what the oracle compares with crash). Also: -j for one
command in a text session, error documents (a command without JSON output, a bad option, an
unknown command, a symbol not found) and the exit status, and string escaping (control bytes,
invalid UTF-8) through sym's error document.

Usage: json_test.py --coroner BIN [--only DUMP]   (prints 'N passed, N failed')
"""
import argparse
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oracle"))
from oracle import first_set, read_tsv  # noqa: E402

COMMANDS = ["sys", "ps", "log", "sym jiffies", "sym schedule", "sym -l", "kmem -i", "kmem -s", "dev", "mod", "sys -t"]


class Checker:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {name}\n{str(detail)[:2000]}")
        return ok


def run(coroner, cwd, argv, stdin):
    p = subprocess.run([coroner, *argv], input=stdin.encode(), capture_output=True, cwd=cwd,
                       env=dict(os.environ, TZ="UTC"), timeout=600)
    return p.returncode, p.stdout.decode("utf-8", "surrogateescape"), p.stderr.decode("utf-8", "replace")


def text_outputs(coroner, cwd, dump_args, commands):
    """Each command's text, split on an echo marker between commands."""
    marker = "=====JSONTEST====="
    script = "".join(f"{c}\n!echo {marker}\n" for c in commands)
    rc, out, err = run(coroner, cwd, ["-s", "vmlinux", *dump_args], script)
    parts = out.split(marker + "\n")
    return parts[:len(commands)]


def check_sys(c, where, doc, text):
    fields = {}
    for line in text.splitlines():
        m = re.match(r"^ *([A-Z ]+): (.*)$", line)
        if m:
            fields[m.group(1).strip()] = m.group(2)
    c.check(f"{where}: sys RELEASE", doc["release"] == fields.get("RELEASE"), (doc["release"], fields.get("RELEASE")))
    c.check(f"{where}: sys TASKS", str(doc["tasks"]) == fields.get("TASKS"), (doc["tasks"], fields.get("TASKS")))
    c.check(f"{where}: sys CPUS", fields.get("CPUS", "").startswith(str(doc["cpus"])), (doc["cpus"], fields.get("CPUS")))
    c.check(f"{where}: sys UPTIME", doc["uptime"] == fields.get("UPTIME"), (doc["uptime"], fields.get("UPTIME")))
    c.check(f"{where}: sys DATE", doc["date_text"] == fields.get("DATE"), (doc["date_text"], fields.get("DATE")))
    c.check(f"{where}: sys LOAD AVERAGE", ", ".join(f"{x:.2f}" for x in doc["load_average"]) == fields.get("LOAD AVERAGE"))
    c.check(f"{where}: sys MEMORY", doc["memory"] == fields.get("MEMORY"), (doc["memory"], fields.get("MEMORY")))
    c.check(f"{where}: sys PANIC", fields.get("PANIC", "").startswith(json.dumps(doc["panic"])), (doc["panic"], fields.get("PANIC")))
    kernel_text = fields.get("KERNEL", "")
    c.check(f"{where}: sys KERNEL", doc["kernel"] == kernel_text.removesuffix("  [TAINTED]"), (doc["kernel"], kernel_text))
    c.check(f"{where}: sys tainted", doc["tainted"] == kernel_text.endswith("  [TAINTED]"), (doc["tainted"], kernel_text))
    c.check(f"{where}: sys dumpfiles", doc["dumpfiles"][0] in (fields.get("DUMPFILE", "") + fields.get("DUMPFILES", "")))


def check_ps(c, where, doc, text):
    rows = {}
    for line in text.splitlines()[1:]:
        m = re.match(r"^([> ])\s*(\d+)\s+(\d+)\s+(\d+)\s+([0-9a-f]+)\s+(\S\S)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+(.*)$", line)
        if not c.check(f"{where}: ps text line parses", m, line):
            return
        rows.setdefault(m.group(5), m.groups())
    tasks = doc["tasks"]
    c.check(f"{where}: ps: as many tasks as text lines", len(tasks) == len(text.splitlines()) - 1,
            (len(tasks), len(text.splitlines()) - 1))
    bad = []
    for t in tasks:
        r = rows.get(t["task"][2:])
        comm = f"[{t['comm']}]" if t["kernel_thread"] else t["comm"]
        want = (">" if t["active"] else " ", str(t["pid"]), str(t["ppid"]), str(t["cpu"]), t["task"][2:], t["state"],
                f"{t['pct_mem']:.1f}", str(t["vsz"]), str(t["rss"]), comm)
        if r != want:
            bad.append((r, want))
    c.check(f"{where}: ps: every task as in the text (pid, ppid, cpu, state, %mem, vsz, rss, comm)", not bad, bad[:3])


def log_text(records):
    """The text `log` prints, rebuilt from the JSON records as log.cc's put_text does."""
    out = []
    for r in records:
        if r["text"] is None:
            out.append("\n")
            continue
        ns = r["timestamp_ns"]
        prefix = f"[{ns // 1000000000:5}.{ns % 1000000000 // 1000:06}] "
        body = []
        for ch in r["text"]:
            if ch == "\n":
                body.append("\n" + " " * len(prefix))
            elif ("\x20" <= ch < "\x7f") or ("\t" <= ch <= "\r"):
                body.append(ch)
            else:
                body.append("." * len(ch.encode("utf-8", "surrogatepass")) if ch != "\ufffd" else ".")
        out.append(prefix + "".join(body) + "\n")
    return "".join(out)


def check_log(c, where, doc, text):
    recs = doc["records"]
    c.check(f"{where}: log: records", len(recs) > 0)
    c.check(f"{where}: log: seq ascending", all(a["seq"] < b["seq"] for a, b in zip(recs, recs[1:])))
    c.check(f"{where}: log: levels and facilities are numbers",
            all(isinstance(r["level"], int) and isinstance(r["facility"], int) for r in recs))
    rebuilt = log_text(recs)
    if not c.check(f"{where}: log: the records rebuild the text output", rebuilt == text):
        a, b = rebuilt.splitlines(), text.splitlines()
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                print(f"  first difference at line {i}:\n  json: {x!r}\n  text: {y!r}")
                break
        else:
            print(f"  lines: json {len(a)}, text {len(b)}")


def sym_text_line(s):
    line = f"{s['address'][2:]:>0} ({s['type']}) {s['name']}" + (f"+{s['offset']}" if s["offset"] else "")
    if s["file"] is not None:
        line += f" {s['file']}: {s['line']}"
    return line


def check_sym(c, where, cmd, doc, text):
    if cmd == "sym -l":
        lines = [l for l in text.splitlines() if " MODULE " not in l or "START:" not in l and "END:" not in l]
        lines = [l for l in lines if not re.search(r" MODULE( \S+)? (START|END): ", l)]
        got = [sym_text_line(s) for s in doc["symbols"]]
        # In sym -l, module symbols have no " [module]" in the text.
        c.check(f"{where}: sym -l: every symbol line", got == lines,
                next(((a, b) for a, b in zip(got, lines) if a != b), (len(got), len(lines))))
        return
    got = [sym_text_line(s) + (f" [{s['module']}]" if s["module"] else "") for s in doc["symbols"]]
    c.check(f"{where}: {cmd}", got == text.splitlines() and not doc["errors"], (got, text))


def check_kmem_i(c, where, doc, text):
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^\s*([A-Z ]+?)\s+(\d+)\s+(\S+(?: [KMG]B)?)\s+(?:(\d+)% of ([A-Z ]+)|----)$", line)
        if m:
            rows[m.group(1)] = m.groups()
    c.check(f"{where}: kmem -i: as many rows", len(rows) == len(doc["rows"]), (len(rows), len(doc["rows"])))
    bad = []
    for r in doc["rows"]:
        want = (r["label"], str(r["pages"]), r["size"], None if r["percent"] is None else str(r["percent"]), r["of"])
        if rows.get(r["label"]) != want:
            bad.append((rows.get(r["label"]), want))
    c.check(f"{where}: kmem -i: every row (pages, size, percent)", not bad, bad)
    total = next(r for r in doc["rows"] if r["label"] == "TOTAL MEM")
    c.check(f"{where}: kmem -i: TOTAL MEM bytes", total["bytes"] == total["pages"] * 4096 or total["bytes"] % total["pages"] == 0)


def check_kmem_s(c, where, doc, text):
    lines = text.splitlines()[1:]
    got = [f"{x['cache'][2:]:<16} {x['objsize']:>8} {x['allocated']:>10} {x['total']:>9} {x['slabs']:>6} "
           f"{x['ssize'] // 1024:>5}k  {x['name']}" for x in doc["caches"]]
    c.check(f"{where}: kmem -s: every cache", got == lines,
            next(((a, b) for a, b in zip(got, lines) if a != b), (len(got), len(lines))))


def check_dev(c, where, doc, text):
    chr_text, _, blk_text = text.partition("\n\n")
    for kind, part in (("chrdev", chr_text), ("blkdev", blk_text)):
        lines = part.splitlines()[1:]
        c.check(f"{where}: dev {kind}: as many devices", len(lines) == len(doc[kind]), (len(lines), len(doc[kind])))
        bad = []
        for d, line in zip(doc[kind], lines):
            f = line.split()
            name = d["name"] if d["name"] is not None else "(unknown)"
            if d["operations_address"] is None:
                want = [str(d["major"]), name, "(none)"]
            else:
                addr = d["cdev" if kind == "chrdev" else "gendisk"]
                want = [str(d["major"]), name, addr[2:], d["operations"] or d["operations_address"][2:]]
            if f != want:
                bad.append((f, want))
        c.check(f"{where}: dev {kind}: every device (major, name, address, operations)", not bad, bad[:3])


def check_mod(c, where, doc, text):
    lines = [l for l in text.splitlines()[1:] if not l.startswith("mod: ")]
    got = [[m["module"][2:], m["name"], m["base"][2:], str(m["size"]),
            m["object_file"] or "(not loaded)" + ("  [CONFIG_KALLSYMS]" if m["kallsyms"] else "")] for m in doc["modules"]]
    want = [re.split(r"\s{2,}", l.strip(), maxsplit=4) for l in lines]
    c.check(f"{where}: mod: every module (address, name, base, size, object file)", got == want,
            next(((a, b) for a, b in zip(got, want) if a != b), (len(got), len(want))))


# bt: each JSON command with the text command it is checked against (-s: the text names each
# frame symbol+offset, which the JSON gives as symbol and offset).
BT_COMMANDS = [("bt -a", "bt -a -s"), ("bt", "bt -s"), ("bt -a -l", "bt -a -l -s"), ("foreach bt", "foreach bt -s")]
BT_HEADER = re.compile(r'^PID: (\d+)\s+TASK: ([0-9a-f]+)\s+CPU: (\d+)\s+COMMAND: "(.*)"$')
BT_FRAME = re.compile(r"^\s*#(\d+) \[([0-9a-f]+)\] (\S+) at ([0-9a-f]+)(?: \[(\S+)\])?$")
BT_REGS = re.compile(r"^    RIP: ([0-9a-f]+)  RSP: ([0-9a-f]+)  RFLAGS: ([0-9a-f]+)$")
BT_LINE = re.compile(r"^    (\S*[/.]\S*): (\d+)$")


def parse_bt_text(text):
    """The tasks of bt's text: header fields, the start registers, and per frame: level, sp, ip,
    label, module, the stack named by a `--- <STACK> ---` line before it, its source line, and
    its exception frame (RIP label, RIP, RSP, source line)."""
    tasks = []
    cur = None
    left = None
    for line in text.splitlines():
        m = BT_HEADER.match(line)
        if m:
            cur = {"pid": int(m.group(1)), "task": int(m.group(2), 16), "cpu": int(m.group(3)), "command": m.group(4),
                   "start": None, "frames": [], "stopped": None}
            tasks.append(cur)
            left = None
            continue
        if cur is None:
            continue
        m = BT_FRAME.match(line)
        if m:
            cur["frames"].append({"level": int(m.group(1)), "sp": int(m.group(2), 16), "label": m.group(3),
                                  "ip": int(m.group(4), 16), "module": m.group(5), "left": left, "line": None,
                                  "exception": None})
            left = None
            continue
        m = re.match(r"^--- <(.*)> ---$", line)
        if m:
            left = m.group(1)
            continue
        frame = cur["frames"][-1] if cur["frames"] else None
        m = re.match(r"^    \[exception RIP: (.*)\]$", line)
        if m:
            exc = {"rip_label": m.group(1), "line": None}
            if frame:
                frame["exception"] = exc
            else:
                cur["start"] = exc
            continue
        m = BT_REGS.match(line)
        if m:
            holder = frame if frame else cur
            key = "exception" if frame else "start"
            if holder[key] is None or "rip" in holder[key]:
                holder[key] = {"rip_label": None, "line": None}  # user mode: no [exception RIP:] line
            holder[key].update(rip=int(m.group(1), 16), rsp=int(m.group(2), 16))
            continue
        m = BT_LINE.match(line)
        if m and frame:
            if frame["exception"] and "rip" in frame["exception"]:
                frame["exception"]["line"] = (m.group(1), int(m.group(2)))
            else:
                frame["line"] = (m.group(1), int(m.group(2)))
            continue
        if line.startswith("bt: "):
            cur["stopped"] = line[4:]
    return tasks


def check_bt(c, where, cmd, docs, text):
    """docs: the JSON documents of one bt command (one, or one per task under foreach)."""
    tasks = [t for d in docs for t in d.get("tasks", [])]
    if not c.check(f"{where}: {cmd}: documents without errors",
                   docs and all(d.get("command") == "bt" and "error" not in d for d in docs), docs[:2]):
        return
    want = parse_bt_text(text)
    if not c.check(f"{where}: {cmd}: as many tasks as the text", len(tasks) == len(want), (len(tasks), len(want))):
        return
    lines = cmd.endswith("-l")
    bad = []
    nframes = 0
    for t, w in zip(tasks, want):
        head = (t["pid"], int(t["task"], 16), t["cpu"], t["command"])
        if head != (w["pid"], w["task"], w["cpu"], w["command"]):
            bad.append(("header", head, w))
            continue
        if (t["start"] is None) != (w["start"] is None) or (
                t["start"] and (int(t["start"]["registers"]["rip"], 16), int(t["start"]["registers"]["rsp"], 16))
                != (w["start"]["rip"], w["start"]["rsp"])):
            bad.append(("start registers", t["pid"], t["start"], w["start"]))
        if len(t["frames"]) != len(w["frames"]) or (t["stopped"] or t.get("error")) != w["stopped"]:
            bad.append(("frames", t["pid"], len(t["frames"]), len(w["frames"]), t["stopped"], t.get("error"), w["stopped"]))
            continue
        for i, (f, x) in enumerate(zip(t["frames"], w["frames"])):
            nframes += 1
            label = int(f["ip"], 16) if f["symbol"] is None else f["symbol"] + (f"+{f['offset']}" if f["offset"] else "")
            label = f"{label:x}" if isinstance(label, int) else label
            got = (f["level"], int(f["sp"], 16), int(f["ip"], 16), label, f["module"])
            if got != (x["level"], x["sp"], x["ip"], x["label"], x["module"]):
                bad.append(("frame", t["pid"], got, x))
            # A `--- <STACK> ---` line names the stack the previous frame was on.
            if x["left"] is not None and (i == 0 or t["frames"][i - 1]["stack"] != x["left"]
                                          or f["stack"] == x["left"]):
                bad.append(("stack", t["pid"], i, f["stack"], x["left"]))
            if x["left"] is None and i and f["stack"] != t["frames"][i - 1]["stack"]:
                bad.append(("stack changed without a --- line", t["pid"], i, f["stack"]))
            if lines and ((f["file"], f["line"]) if f["file"] else None) != x["line"]:
                bad.append(("source line", t["pid"], i, f["file"], f["line"], x["line"]))
            e, y = f["exception"], x["exception"]
            if (e is None) != (y is None):
                bad.append(("exception", t["pid"], i, e, y))
            elif e:
                rip_label = None if e["rip_symbol"] is None else e["rip_symbol"] + (
                    f"+{e['rip_offset']}" if e["rip_offset"] else "")
                if e["mode"] == "kernel" and rip_label is None:
                    rip_label = "unknown or invalid address"
                got = (rip_label, int(e["registers"]["rip"], 16), int(e["registers"]["rsp"], 16))
                if got != (y["rip_label"], y["rip"], y["rsp"]):
                    bad.append(("exception registers", t["pid"], i, got, y))
                if lines and e["mode"] == "kernel" and ((e["file"], e["line"]) if e["file"] else None) != y["line"]:
                    bad.append(("exception source line", t["pid"], i, e["file"], e["line"], y["line"]))
    c.check(f"{where}: {cmd}: every task and frame as the text shows it ({len(tasks)} tasks, {nframes} frames)",
            not bad and nframes > 0, bad[:5])


def bt_documents(coroner, cwd, dump_args):
    """Each BT_COMMANDS JSON command's documents, from one --json session (split on an echo marker)."""
    marker = "=====JSONTEST====="
    script = "".join(f"{j}\n!echo {marker}\n" for j, _ in BT_COMMANDS)
    rc, out, err = run(coroner, cwd, ["--json", "vmlinux", *dump_args], script)
    parts = out.split(marker + "\n")[:len(BT_COMMANDS)]
    return rc, [[json.loads(l) for l in p.splitlines()] for p in parts], err


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--coroner", required=True)
    ap.add_argument("--only", help="only this dump (manifest name)")
    args = ap.parse_args()
    coroner = os.path.abspath(args.coroner)
    s = first_set("json_test")
    if s is None:
        return 1
    manifest = read_tsv(os.path.join(s, "manifest.tsv"))
    dumps = [dict(zip(manifest[0], r)) for r in manifest[1:]]
    if args.only:
        dumps = [d for d in dumps if d["name"] == args.only]
    c = Checker()

    for d in dumps:
        where = d["name"]
        dump_args = d["path"].split(",")
        rc, out, err = run(coroner, s, ["--json", "vmlinux", *dump_args], "".join(f"{x}\n" for x in COMMANDS))
        lines = out.splitlines()
        if not c.check(f"{where}: --json: one line per command, exit 0", rc == 0 and len(lines) == len(COMMANDS),
                       f"rc={rc} lines={len(lines)}\n{err}\n{out[:500]}"):
            continue
        docs = []
        for cmd, line in zip(COMMANDS, lines):
            try:
                docs.append(json.loads(line))
            except ValueError as e:
                c.check(f"{where}: {cmd}: json.loads", False, f"{e}: {line[:300]}")
                docs.append(None)
        texts = text_outputs(coroner, s, dump_args, COMMANDS)
        for cmd, doc, text in zip(COMMANDS, docs, texts):
            if doc is None:
                continue
            if not c.check(f"{where}: {cmd}: no error document", "error" not in doc and doc.get("command") == cmd.split()[0],
                           doc):
                continue
            if cmd == "sys":
                check_sys(c, where, doc, text)
            elif cmd == "sys -t":
                c.check(f"{where}: sys -t", text == f"TAINTED_MASK: {doc['tainted_mask']:x}  {doc['taint_letters']}\n",
                        (doc, text))
            elif cmd == "ps":
                check_ps(c, where, doc, text)
            elif cmd == "log":
                check_log(c, where, doc, text)
            elif cmd.startswith("sym"):
                check_sym(c, where, cmd, doc, text)
            elif cmd == "kmem -i":
                check_kmem_i(c, where, doc, text)
            elif cmd == "kmem -s":
                check_kmem_s(c, where, doc, text)
            elif cmd == "dev":
                check_dev(c, where, doc, text)
            elif cmd == "mod":
                check_mod(c, where, doc, text)

        # bt, bt -a, bt -a -l, foreach bt: every task and frame against the text.
        try:
            rc, bt_docs, err = bt_documents(coroner, s, dump_args)
        except ValueError as e:
            c.check(f"{where}: bt: every line a JSON document", False, e)
            continue
        c.check(f"{where}: bt: --json session exit 0", rc == 0 and len(bt_docs) == len(BT_COMMANDS), (rc, err))
        bt_texts = text_outputs(coroner, s, dump_args, [t for _, t in BT_COMMANDS])
        for (jcmd, _), docs, text in zip(BT_COMMANDS, bt_docs, bt_texts):
            check_bt(c, where, jcmd, docs, text)

    # Errors, -j, escaping: on the first dump only.
    d = dumps[0]
    dump_args = d["path"].split(",")
    rc, out, err = run(coroner, s, ["--json", "vmlinux", *dump_args], "rd jiffies\nnosuchcmd\nps -Z\nkmem -f\nsym no_such_symbol_x\n")
    docs = [json.loads(l) for l in out.splitlines()]
    c.check("--json: errors are JSON documents, exit status 1",
            rc == 1 and [x.get("command") for x in docs] == ["rd", "nosuchcmd", "ps", "kmem", "sym"]
            and all(isinstance(x.get("error"), str) and x["error"] for x in docs[:4]), (rc, out))
    c.check("--json: sym not found: the document with the name in errors",
            docs[4:] and docs[4]["symbols"] == [] and docs[4]["errors"] == [{"query": "no_such_symbol_x",
                                                                              "error": "symbol not found"}], out)
    rc, out, err = run(coroner, s, ["--json", "vmlinux", *dump_args], "")
    c.check("--json: no banner", rc == 0 and out == "", out)

    rc, out, err = run(coroner, s, ["-s", "vmlinux", *dump_args], "ps -j\nps 1\nsys -j\nkmem -i -j\n")
    lines = out.splitlines()
    ok = rc == 0 and len(lines) == 5
    if ok:
        ps, sysd, kmem = json.loads(lines[0]), json.loads(lines[3]), json.loads(lines[4])
        ok = (ps["command"] == "ps" and lines[1].lstrip().startswith("PID") and sysd["command"] == "sys"
              and any(t["pid"] == 1 and lines[2].split()[0] in ("1", ">1") for t in ps["tasks"])
              and kmem["rows"][0]["label"] == "TOTAL MEM")
    c.check("-j: JSON for that command only, text for the others", ok, out[:1000])

    # bt -j in a text session; options without a JSON form give an error document.
    rc, out, err = run(coroner, s, ["-s", "vmlinux", *dump_args], "bt -j\nbt -f -j\nbt -c 0 -j\nbt -p\n")
    lines = out.splitlines()
    ok = False
    try:
        bt, bad, cpu0 = json.loads(lines[0]), json.loads(lines[1]), json.loads(lines[2])
        ok = (rc == 1 and bt["command"] == "bt" and len(bt["tasks"]) == 1 and bt["tasks"][0]["frames"]
              and bad["command"] == "bt" and "-f" in bad["error"] and [t["cpu"] for t in cpu0["tasks"]] == [0]
              and lines[3].startswith("PID:"))
    except (ValueError, IndexError, KeyError):
        pass
    c.check("bt -j: one document; -f -j an error document; bt -c 0 -j; then text again", ok, out[:1000])

    # foreach bt -j in a text session: one bt document per task, the tasks of `foreach bt`.
    rc, out, err = run(coroner, s, ["-s", "vmlinux", *dump_args], "foreach bt -j\n")
    rc2, text, _ = run(coroner, s, ["-s", "vmlinux", *dump_args], "foreach bt\n")
    ok = False
    try:
        docs = [json.loads(l) for l in out.splitlines()]
        pids = [int(m) for m in re.findall(r"^PID: (\d+)", text, re.M)]
        ok = (rc == 0 and rc2 == 0 and docs and all(d["command"] == "bt" and len(d["tasks"]) == 1 for d in docs)
              and [d["tasks"][0]["pid"] for d in docs] == pids)
    except (ValueError, KeyError):
        pass
    c.check("foreach bt -j: one bt document per task, the same tasks as foreach bt", ok, out[:1000])

    # Escaping: the query of sym's error holds what was typed (a control byte, invalid UTF-8,
    # a quote and a backslash, a non-ASCII character).
    raw = b"sym ab\x01c\x7f\xff\xc3\xa9\xe2\x82 'q\"\\\\z'\n"
    p = subprocess.run([coroner, "--json", "vmlinux", *dump_args], input=raw, capture_output=True, cwd=s, timeout=300)
    ok = False
    try:
        doc = json.loads(p.stdout.decode("utf-8"))
        qs = [e["query"] for e in doc["errors"]]
        # (the shell keeps quotes inside a word, as crash does)
        ok = qs == ["ab\x01c\x7f\ufffd\u00e9\ufffd\ufffd", "'q\"\\\\z'"] and b"\\u0001" in p.stdout and b"\\u007f" in p.stdout
    except (ValueError, KeyError, UnicodeDecodeError) as e:
        qs = e
    c.check("escaping: control bytes and invalid UTF-8 in a JSON string", ok, (p.stdout, qs))

    print(f"{c.passed} passed, {c.failed} failed")
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
