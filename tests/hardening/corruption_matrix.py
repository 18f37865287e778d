#!/usr/bin/env python3
"""Corruption matrix: damaged variants of real fixture dumps, every main command on each.

From each base dump of a fixture set this derives variants:
  trunc@OFF   the file cut at OFF (inside headers, bitmaps, page descriptors, notes, page data)
  flip@OFF    one bit flipped at OFF (headers, sub-header, notes, descriptors), seeded
  zero:SYM    (ELF dumps) the page holding kernel symbol SYM's data zeroed: the task list head,
              the printk ring's descriptors and text, the slab cache list, the module list,
              the top-level page table (the page init_mm.pgd points to)
  junk:SYM    the same page filled with seeded random bytes (garbage pointers)
  badpage@N   (kdump) the compressed data of the N-th stored page overwritten with junk
  wrong-vmlinux  the other kernel's vmlinux with this dump (refused), and with --force
  flat trunc@OFF / flip@OFF  (flattened dumps) cuts and flips in the header and in the first
              record's big-endian offset and size
Every location is found through the dump's own headers and coroner's `sym`, `struct -o`, `p`
and `vtop` on the intact dump, so the same damage is aimed at x86_64 and arm64 dumps alike
(--arm64: the arm64 sets of fixtures/make-fixtures-arm64.sh, with --arm64-dumps).
It runs `sys`, `bt -a`, `foreach bt`, `ps`, `log`, `kmem -i`, `kmem -s`, `dev`, `mod` on each,
one process per command. Pass criteria per run:
  - no crash: the process exits normally (no signal), no sanitizer report on stderr;
  - a time bound (--timeout seconds per command) and a memory bound (--max-rss MiB);
  - a command that fails says why with a location: its error names an address, an offset, a
    file, a structure or a symbol (a hexadecimal number or a path), never a bare "failed".
Exit status 1 when any run breaks a criterion; the table goes to stdout (and --report FILE).

  python3 tests/hardening/corruption_matrix.py --coroner build/ci/shell/coroner [--quick]
"""
import argparse
import os
import random
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

COMMANDS = ["sys", "bt -a", "foreach bt", "ps", "log", "kmem -i", "kmem -s", "dev", "mod"]
# Kernel data whose page is zeroed / filled with junk (kept when the symbol exists).
# "SYMBOL" or "SYMBOL:STRUCT.MEMBER" (the page holding that member of the structure at SYMBOL,
# for structures larger than a page: init_task's task list link is 2 KiB in).
# "*EXPR": the page EXPR (a pointer, printed by `p`) points to: the top-level kernel page table
# through init_mm.pgd, whatever the architecture calls it (init_top_pgt, swapper_pg_dir).
TARGET_SYMBOLS = ["init_task:task_struct.tasks", "_printk_rb_static_descs", "__log_buf", "slab_caches", "modules",
                  "*init_mm.pgd"]
# An address is any 0x-prefixed number (crash's "invalid kernel virtual address: 0x587" names
# one) or a bare hexadecimal of 6+ digits (kernel addresses printed crash's way).
LOCATION = re.compile(r"0x[0-9a-f]+|[0-9a-f]{6,}|/|offset|\b(page|pfn|cpu|task|pid|symbol|member|struct|section|note|header|descriptor|cache|list|module)\b",
                      re.I)
SANITIZER = re.compile(r"AddressSanitizer|UndefinedBehaviorSanitizer|runtime error:|LeakSanitizer")


def fixture_root():
    return os.environ.get("CORONER_FIXTURES", os.path.expanduser("~/.cache/coroner/fixtures"))


def sets(kind="sets"):
    """The fixture sets of one architecture family: "sets" (x86_64) or "sets-arm64"."""
    root = os.path.join(fixture_root(), kind)
    return sorted(os.path.join(root, d) for d in os.listdir(root)) if os.path.isdir(root) else []


def one_dump_args(prog, doc):
    """The options of the scripts that damage one dump of one set (--coroner, --set, --dump,
    --timeout, --max-rss) and the files they name: (args, coroner, vmlinux, dump), or None
    after printing why when the fixture is missing (the caller exits 77, ctest's skip)."""
    ap = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--coroner", required=True)
    ap.add_argument("--set", help="fixture set directory (default: the first set)")
    ap.add_argument("--dump", default="kdump.elf")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--max-rss", type=int, default=1024)
    args = ap.parse_args()
    set_dir = args.set or (sets()[:1] or [None])[0]
    if not set_dir or not os.path.exists(os.path.join(set_dir, args.dump)):
        print(f"{prog}: no fixture set: run fixtures/make-fixtures.sh first")
        return None
    return args, os.path.abspath(args.coroner), os.path.join(set_dir, "vmlinux"), os.path.join(set_dir, args.dump)


def set_label(set_dir):
    """A set's name in the table: the package name without its common prefix (the
    architecture must stay visible: 6.1.0-56-cloud-amd64-... and 6.1.0-56-cloud-arm64-...)."""
    name = os.path.basename(set_dir.rstrip("/"))
    return name.removeprefix("linux-image-")[:30]


def elf_machine(path):
    """e_machine of an ELF file (62 x86_64, 183 AArch64), None when unreadable."""
    try:
        with open(path, "rb") as f:
            h = f.read(20)
        return struct.unpack_from("<H", h, 18)[0] if h[:4] == b"\x7fELF" else None
    except OSError:
        return None


# --- dump layouts (only what is needed to aim the damage) -------------------------------

def elf_layout(path):
    """PT_LOAD (paddr, offset, filesz) and PT_NOTE (offset, size) of a 64-bit ELF vmcore."""
    with open(path, "rb") as f:
        eh = f.read(64)
        if eh[:4] != b"\x7fELF" or eh[4] != 2:
            return None
        phoff, = struct.unpack_from("<Q", eh, 32)
        phentsize, phnum = struct.unpack_from("<HH", eh, 54)
        f.seek(phoff)
        ph = f.read(phentsize * phnum)
    loads, notes = [], []
    for i in range(phnum):
        p_type, _, p_offset, _, p_paddr, p_filesz = struct.unpack_from("<IIQQQQ", ph, i * phentsize)
        if p_type == 1:
            loads.append((p_paddr, p_offset, p_filesz))
        elif p_type == 4:
            notes.append((p_offset, p_filesz))
    return {"phoff": phoff, "phend": phoff + phentsize * phnum, "loads": loads, "notes": notes}


def elf_offsets(layout, paddr):
    """Every file offset holding paddr: a kdump ELF maps the kernel image twice (its own
    PT_LOAD inside the RAM one), and the reader keeps only the outer segment."""
    return [off + (paddr - base) for base, off, size in layout["loads"] if base <= paddr < base + size]


def elf_offset(layout, paddr):
    offs = elf_offsets(layout, paddr)
    return offs[0] if offs else None


def kdump_layout(path):
    """Offsets of the kdump-compressed file's parts (makedumpfile's disk_dump_header)."""
    with open(path, "rb") as f:
        h = f.read(4096)
        if h[:8] != b"KDUMP   ":
            return None
        # disk_dump_header: signature[8], header_version, new_utsname (390), 6 bytes of
        # padding, struct timeval (16), status, then block_size at 428.
        block_size, sub_hdr_size, bitmap_blocks, max_mapnr = struct.unpack_from("<iiII", h, 428)
        size = os.fstat(f.fileno()).st_size
        bitmap = block_size * (1 + sub_hdr_size)
        desc = bitmap + block_size * bitmap_blocks
        f.seek(desc)
        first = f.read(24)
    data = struct.unpack_from("<q", first, 0)[0] if len(first) == 24 else desc
    return {"block": block_size, "sub": block_size, "bitmap": bitmap, "desc": desc, "data": data, "size": size}


FLAT_HEADER = 4096  # makedumpfile's flattened format: a 4 KiB header, then (offset, size) records


def flat_layout(path):
    """Offsets of a flattened dump's parts: its header, the first record's big-endian offset and
    size fields and data, and the second record's header."""
    with open(path, "rb") as f:
        if f.read(16) != b"makedumpfile\0\0\0\0":
            return None
        f.seek(FLAT_HEADER)
        rec = f.read(16)
        size = os.fstat(f.fileno()).st_size
    if len(rec) < 16:
        return None
    _, first_size = struct.unpack(">qq", rec)
    second = FLAT_HEADER + 16 + first_size if 0 <= first_size < size else None
    return {"first": FLAT_HEADER, "second": second, "size": size}


# --- variants -----------------------------------------------------------------------------

class Variant:
    """A damaged dump: either `make(dst)` writes it (truncations), or `edits` (offset, bytes)
    are applied in place to a working copy of the base dump and undone after the run, so a
    512 MiB ELF dump is copied once per base dump, not once per variant."""
    def __init__(self, name, base, make=None, edits=None):
        self.name, self.base, self.make, self.edits = name, base, make, edits


def copy_truncated(src, dst, length):
    with open(src, "rb") as i, open(dst, "wb") as o:
        left = length
        while left > 0:
            chunk = i.read(min(left, 1 << 22))
            if not chunk:
                break
            o.write(chunk)
            left -= len(chunk)


def apply_edits(path, edits):
    """Writes (offset, bytes) edits into path; returns the edits that undo them."""
    undo = []
    with open(path, "r+b") as f:
        for off, data in edits:
            f.seek(off)
            undo.append((off, f.read(len(data))))
            f.seek(off)
            f.write(data)
    return undo[::-1]


def patched(src, dst, edits):
    """A copy of src with (offset, bytes) edits applied (task_list_cut.py, allocation_caps.py:
    one variant each, so a copy is simpler than editing src in place and undoing it)."""
    shutil.copyfile(src, dst)
    apply_edits(dst, edits)


def coroner_lines(coroner, vmlinux, dump, script):
    p = subprocess.run([coroner, "-s", vmlinux, dump], input=script, capture_output=True, text=True, timeout=120)
    return p.stdout.splitlines()


def member_offset(coroner, vmlinux, dump, struct_name, member):
    """MEMBER's offset in STRUCT from `struct -o` ("  [2192] struct list_head tasks;")."""
    for line in coroner_lines(coroner, vmlinux, dump, f"struct -o {struct_name}\n"):
        m = re.match(r"\s*\[(\d+)\].*[ *]" + re.escape(member) + r"(\[\d+\])?;$", line)
        if m:
            return int(m.group(1))
    return None


def pointer_values(coroner, vmlinux, dump, exprs):
    """Each pointer expression's value from `p` ("$1 = (pgd_t *) 0xffff...")."""
    vals = {}
    out = coroner_lines(coroner, vmlinux, dump, "".join(f"p {x}\n" for x in exprs))
    results = [l for l in out if re.match(r"\$\d+ = ", l)]
    for x, line in zip(exprs, results):
        m = re.search(r"\) (0x[0-9a-f]+)", line)
        if m:
            vals[x] = int(m.group(1), 16)
    return vals


def physical_addresses(coroner, vmlinux, dump, targets):
    """The physical address of each target's data (TARGET_SYMBOLS forms), from coroner's own
    sym, struct -o, p and vtop on the intact dump."""
    pointers = [t[1:] for t in targets if t.startswith("*")]
    virt = {"*" + x: f"{v:x}" for x, v in pointer_values(coroner, vmlinux, dump, pointers).items()} if pointers else {}
    names = {t.split(":")[0]: t for t in targets if not t.startswith("*")}
    for line in coroner_lines(coroner, vmlinux, dump, "".join(f"sym {s}\n" for s in names)):
        parts = line.split()
        if len(parts) >= 3 and parts[2] in names:
            target = names[parts[2]]
            addr = int(parts[0], 16)
            if ":" in target:
                st, mem = target.split(":")[1].split(".")
                off = member_offset(coroner, vmlinux, dump, st, mem)
                if off is None:
                    continue
                addr += off
            virt[target] = f"{addr:x}"
    found = {}
    out = coroner_lines(coroner, vmlinux, dump, "".join(f"vtop {a}\n" for a in virt.values()))
    by_addr = {int(a, 16): s for s, a in virt.items()}
    for i, line in enumerate(out):
        if line.startswith("VIRTUAL") and "PHYSICAL" in line and i + 1 < len(out):
            parts = out[i + 1].split()
            try:
                va, pa = int(parts[0], 16), int(parts[1], 16)
            except (ValueError, IndexError):
                continue
            if va in by_addr:
                found[by_addr[va]] = pa
    return found


def variants_for(coroner, set_dir, dump, quick, rng):
    path = os.path.join(set_dir, dump)
    size = os.path.getsize(path)
    vmlinux = os.path.join(set_dir, "vmlinux")
    out = []
    k, e, fl = kdump_layout(path), elf_layout(path), flat_layout(path)
    if k:
        cuts = [0, 8, 100, 600, k["block"], k["bitmap"] + 7, (k["bitmap"] + k["desc"]) // 2, k["desc"] + 5, k["desc"] + 24 * 50,
                k["data"] + 3, size // 2, size - 1]
        flips = [8, 16, 0x100 + 32, 0x1a0, k["block"] + 8, k["block"] + 40, k["desc"] + 8, k["desc"] + 24 * 3 + 12]
    elif e:
        first_load = e["loads"][0][1] if e["loads"] else e["phend"]
        cuts = [0, 10, 40, 64, e["phend"] - 3] + [n[0] + n[1] // 2 for n in e["notes"]] + [first_load + 4096, size // 2, size - 1]
        flips = [5, 16, 32, 54, 56, e["phoff"] + 8, e["phoff"] + 56 + 16] + [n[0] + 4 for n in e["notes"]] + [n[0] + 40 for n in e["notes"]]
    elif fl:
        first = fl["first"]
        cuts = [0, 16, first, first + 7, first + 16 + 100] + ([fl["second"] + 9] if fl["second"] else []) + [size // 2, size - 1]
        # The record header's offset (bytes 0-7) and size (8-15) are big-endian: flip a high
        # byte of each (a huge offset or size) and the low byte of the size (a short record).
        flips = [3, 12, first + 1, first + 9, first + 15] + ([fl["second"] + 1, fl["second"] + 9] if fl["second"] else [])
    else:
        return out
    if quick:
        cuts, flips = cuts[::2], flips[::2]
    for c in sorted(set(x for x in cuts if 0 <= x < size)):
        out.append(Variant(f"{dump} trunc@{c:#x}", dump, lambda dst, c=c: copy_truncated(path, dst, c)))
    for f in sorted(set(x for x in flips if 0 <= x < size)):
        bit = 1 << rng.randrange(8)
        with open(path, "rb") as i:
            i.seek(f)
            b = i.read(1)
        out.append(Variant(f"{dump} flip@{f:#x}/{bit:#x}", dump, edits=[(f, bytes([b[0] ^ bit]))]))
    if e:
        syms = TARGET_SYMBOLS[:3] if quick else TARGET_SYMBOLS
        phys = physical_addresses(coroner, vmlinux, path, syms)
        for sym, pa in phys.items():
            offs = elf_offsets(e, pa & ~0xfff)
            if not offs:
                continue
            out.append(Variant(f"{dump} zero:{sym}", dump, edits=[(o, bytes(4096)) for o in offs]))
            junk = bytes(rng.randrange(256) for _ in range(4096))
            out.append(Variant(f"{dump} junk:{sym}", dump, edits=[(o, junk) for o in offs]))
    if k:
        for n in ([1, 200] if quick else [1, 50, 200, 1000]):
            d = k["desc"] + 24 * n
            with open(path, "rb") as f:
                f.seek(d)
                ent = f.read(24)
            if len(ent) < 24:
                continue
            off, sz = struct.unpack_from("<qI", ent, 0)
            if 0 < off < size and 0 < sz <= 65536:
                junk = bytes(rng.randrange(256) for _ in range(min(sz, size - off)))
                out.append(Variant(f"{dump} badpage@{n}", dump, edits=[(off, junk)]))
    return out


# --- running --------------------------------------------------------------------------------

def run_one(argv, stdin_text, timeout, max_rss_mib):
    """Runs argv in its own process group (killed whole on timeout); peak RSS by wait4."""
    start = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         errors="replace", start_new_session=True)
    hung = False
    try:
        out, err = p.communicate(stdin_text, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        hung = True
    # Popen reaped the child; its rusage is folded into RUSAGE_CHILDREN, whose ru_maxrss is
    # the largest child so far. Runs are sequential and the bound is checked on the maximum,
    # so a child over the bound is still caught (possibly reported again on later rows).
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    return {"rc": p.returncode, "out": out, "err": err, "hung": hung, "secs": time.monotonic() - start, "rss": rss}


def judge(cmd, r, max_rss_mib):
    """'' when the run meets the criteria, else why not."""
    if r["hung"]:
        return f"hung (no answer in the time bound)"
    if r["rc"] is not None and r["rc"] < 0:
        return f"killed by signal {-r['rc']}"
    if r["rc"] not in (0, 1):
        return f"exit status {r['rc']}"
    if SANITIZER.search(r["err"]):
        return "sanitizer report: " + SANITIZER.search(r["err"]).group(0)
    if r["rss"] > max_rss_mib:
        return f"peak RSS {r['rss']} MiB over the bound"
    if r["rc"] == 1:
        name = cmd.split()[0]
        lines = [l for l in (r["out"] + "\n" + r["err"]).splitlines() if l.startswith(f"{name}: ") or l.startswith("coroner: ")]
        if not lines:
            return "failed without an error message"
        if not any(LOCATION.search(l) for l in lines):
            return "error names no location: " + lines[-1][:160]
    return ""


HEADER = f"{'SET':30}  {'VARIANT':44}  {'COMMAND':10}  {'RESULT':7}  {'SECS':>6}  VERDICT"


def format_row(row):
    s, v, c, res, secs, why = row
    return f"{s:30}  {v[:44]:44}  {c:10}  {res:7}  {secs:>6}  {why or 'pass'}"


class Rows(list):
    """The table's rows, each also written to PROGRESS as it is made (REPORT.partial while a
    long run goes on, so what was covered survives the run being stopped)."""
    def __init__(self, progress=None):
        super().__init__()
        self.progress = progress
        if progress:
            progress.write(HEADER + "\n")

    def append(self, row):
        super().append(row)
        if self.progress:
            self.progress.write(format_row(row) + "\n")
            self.progress.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--coroner", required=True)
    ap.add_argument("--set", action="append", help="fixture set directory (default: the first set)")
    ap.add_argument("--dumps", default="kdump.lzo-d31,kdump.elf-d31", help="base dumps of x86_64 sets, comma-separated")
    ap.add_argument("--arm64", action="store_true", help="the arm64 sets (the first one unless --set is given)")
    ap.add_argument("--arm64-dumps", default="qemu-zlib.kdump,qemu.elf",
                    help="base dumps of arm64 sets (QEMU's dump-guest-memory names), comma-separated")
    ap.add_argument("--quick", action="store_true", help="fewer variants (ctest)")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per command")
    ap.add_argument("--max-rss", type=int, default=1024, help="MiB per command")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--report")
    args = ap.parse_args()
    set_dirs = args.set or (sets("sets-arm64") if args.arm64 else sets())[:1]
    if not set_dirs:
        print("corruption_matrix: no fixture set: run fixtures/make-fixtures.sh first"
              + (" (fixtures/make-fixtures-arm64.sh for --arm64)" if args.arm64 else ""))
        return 77  # ctest SKIP_RETURN_CODE
    coroner = os.path.abspath(args.coroner)
    rng = random.Random(args.seed)
    progress = open(args.report + ".partial", "w") if args.report else None
    rows, bad = Rows(progress), 0
    work = tempfile.mkdtemp(prefix="coroner-matrix-")
    try:
        for set_dir in set_dirs:
            vmlinux = os.path.join(set_dir, "vmlinux")
            arm64 = elf_machine(vmlinux) == 183
            # The other kernel of the same architecture (the same vmlinux layout, other
            # offsets); a vmlinux of the other architecture is only checked to be refused.
            others = [s for s in sets("sets-arm64" if arm64 else "sets") if s != set_dir]
            foreign = sets("sets" if arm64 else "sets-arm64")[:1]
            for dump in (args.arm64_dumps if arm64 else args.dumps).split(","):
                if not os.path.exists(os.path.join(set_dir, dump)):
                    continue
                variants = variants_for(coroner, set_dir, dump, args.quick, rng)
                for v in variants:
                    if v.edits is not None:
                        dst = os.path.join(work, "patched")
                        if not os.path.exists(dst):
                            shutil.copyfile(os.path.join(set_dir, dump), dst)
                        undo = apply_edits(dst, v.edits)
                    else:
                        dst = os.path.join(work, "variant")
                        v.make(dst)
                    for cmd in COMMANDS:
                        r = run_one([coroner, "-s", vmlinux, dst], cmd + "\n", args.timeout, args.max_rss)
                        why = judge(cmd, r, args.max_rss)
                        bad += bool(why)
                        rows.append((set_label(set_dir), v.name, cmd, "ok" if r["rc"] == 0 else "error",
                                     f"{r['secs']:.2f}", why))
                    if v.edits is not None:
                        apply_edits(dst, undo)
                    else:
                        os.unlink(dst)
                if os.path.exists(os.path.join(work, "patched")):
                    os.unlink(os.path.join(work, "patched"))
                for other in foreign:
                    ov = os.path.join(other, "vmlinux")
                    r = run_one([coroner, "-s", ov, os.path.join(set_dir, dump)], "sys\n", args.timeout, args.max_rss)
                    why = "" if r["rc"] == 1 and "coroner:" in r["err"] else judge("sys", r, args.max_rss) or "not refused"
                    bad += bool(why)
                    rows.append((set_label(set_dir), f"{dump} other-arch-vmlinux", "(open)", "refused", f"{r['secs']:.2f}", why))
                # The other kernel's vmlinux: refused at open (naming both versions), and
                # with --force every command still ends cleanly.
                for other in others[:1]:
                    ov = os.path.join(other, "vmlinux")
                    r = run_one([coroner, "-s", ov, os.path.join(set_dir, dump)], "sys\n", args.timeout, args.max_rss)
                    why = "" if r["rc"] == 1 and "coroner:" in r["err"] else judge("sys", r, args.max_rss) or "not refused"
                    bad += bool(why)
                    rows.append((set_label(set_dir), f"{dump} wrong-vmlinux", "(open)", "refused", f"{r['secs']:.2f}", why))
                    for cmd in COMMANDS:
                        r = run_one([coroner, "-s", "--force", ov, os.path.join(set_dir, dump)], cmd + "\n", args.timeout, args.max_rss)
                        why = judge(cmd, r, args.max_rss)
                        bad += bool(why)
                        rows.append((set_label(set_dir), f"{dump} wrong-vmlinux --force", cmd,
                                     "ok" if r["rc"] == 0 else "error", f"{r['secs']:.2f}", why))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = [HEADER] + [format_row(r) for r in rows]
    variants = len({(r[0], r[1]) for r in rows})
    summary = (f"corruption matrix: {variants} variants, {len(rows)} command runs, "
               f"{sum(1 for r in rows if r[3] == 'error' or r[3] == 'refused')} ended in a clear error, {bad} broke a criterion")
    lines.append(summary)
    text = "\n".join(lines) + "\n"
    if args.report:
        with open(args.report, "w") as f:
            f.write(text)
        progress.close()
        os.unlink(args.report + ".partial")
    print(text if bad or not args.quick else summary)
    if bad:
        print("\n".join(l for l in lines if not l.endswith("pass")))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
