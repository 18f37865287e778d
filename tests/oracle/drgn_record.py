#!/usr/bin/env python3
"""The drgn side of the arm64 oracle: what drgn 0.3.0 reads from one dump, as one JSON file.

Run by the oracle chroot's python3 (fixtures/make-fixtures-arm64.sh does it, in a private
mount namespace with the inputs bind-mounted):

  drgn_record.py --vmlinux VMLINUX [--serial SERIAL_LOG] [--release RELEASE]
                 [--same-as DUMP] --name NAME --out OUT.json DUMP

crash 9 for arm64 is not packaged for an x86_64 host, so this is the reference for arm64
dumps. The JSON holds (keys sorted; addresses as "0x..." strings, so no reader loses bits):
  dump, drgn_version, platform, release, uts      what was opened; init_uts_ns
  vmcoreinfo {lines, arm64}                       the VMCOREINFO note; its arm64 lines
  cpus {possible, present, online}, current[]     per CPU: the running task (cpu_curr) and
                                                  the idle task
  crashed_thread {pid, comm, cpu}                 drgn's crashed thread (the CPU notes)
  tasks[]                                         every task (the task list plus each CPU's
                                                  idle task): pid tgid ppid comm address state
                                                  (task_state_to_char) cpu on_cpu is_current
                                                  stack (vmalloc'd stack base) and trace:
                                                  frames {pc sp name function is_inline
                                                  interrupted (registers from pt_regs or a CPU
                                                  note) symbol file line} or trace_error
  log[]                                           printk records: seq timestamp_ns level
                                                  facility caller_tid caller_cpu text
  symbols{}                                       a few symbols: address, size
  meminfo {totalram_pages, free_pages}            kmem -i's TOTAL MEM and FREE, in pages
  modules[]                                       name, base, size per module (before 6.4
                                                  the core layout, with text_size/ro_size;
                                                  6.4+ MOD_TEXT, and every mem[] region)
  translations[]                                  kernel virtual -> physical (linear map,
                                                  image, vmalloc stack, module, vmemmap,
                                                  per-cpu) and user addresses of workload
                                                  tasks (follow_phys), each with the first
                                                  16 bytes read both ways
  serial_panic                                    the dying kernel's own panic report from the
                                                  serial console: the CPU/PID/Comm line, the
                                                  "Call trace:" functions in order, the Kernel
                                                  Offset and PHYS_OFFSET lines
A dump drgn cannot open (QEMU's arm64 kdump-zlib: see open_dump) still gets a file, with
"drgn_error" and, when given, "same_moment_as" (the ELF dump of the same stopped guest, whose
recording stands for it).
"""
import argparse
import json
import os
import re
import shutil
import sys
import tempfile

import drgn
from drgn import FaultError, Object
from drgn.helpers.linux.cpumask import (cpu_online_mask, cpu_possible_mask, cpu_present_mask,
                                        for_each_cpu)
from drgn.helpers.linux.mm import access_remote_vm, follow_phys, virt_to_page, virt_to_phys
from drgn.helpers.linux.module import for_each_module
from drgn.helpers.linux.percpu import per_cpu_ptr
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.printk import get_printk_records
from drgn.helpers.linux.sched import cpu_curr, idle_task, task_cpu, task_state_to_char

MAX_FRAMES = 64          # per task
SYMBOLS = ["_text", "_stext", "_etext", "_sdata", "_end", "init_task", "jiffies", "jiffies_64",
           "linux_banner", "init_uts_ns", "swapper_pg_dir", "init_mm", "vectors", "panic",
           "sysrq_handle_crash", "__per_cpu_offset", "kimage_voffset", "memstart_addr",
           "vmemmap_start", "runqueues", "prb", "log_buf_len", "idmap_pg_dir", "__start_rodata"]


def hx(v):
    return None if v is None else f"0x{int(v):x}"


def err(e):
    return f"{type(e).__name__}: {e}"


# --- opening the dump

def kdump_signature_offset(path):
    """Offset of the diskdump header ("KDUMP   ") in a kdump file (0) or a flattened stream
    (after the 4096-byte flat header and the first 16-byte chunk header); None otherwise."""
    with open(path, "rb") as f:
        head = f.read(8192)
    if head.startswith(b"KDUMP   "):
        return 0
    if head.startswith(b"makedumpfile") and head[4096 + 16:4096 + 24] == b"KDUMP   ":
        return 4096 + 16
    return None


def kdump_header(path, off):
    """The diskdump header's numbers (and, for a regular kdump file, the kdump sub-header's),
    as QEMU wrote them: on arm64 its block_size is 64 KiB whatever the guest's page size, so
    pfns in the bitmaps and max_mapnr count 64 KiB blocks."""
    import struct
    with open(path, "rb") as f:
        f.seek(off)
        head = f.read(4096)
        h = {"header_version": struct.unpack_from("<i", head, 8)[0]}
        uts = head[12:12 + 6 * 65]
        h["utsname"] = [uts[i * 65:(i + 1) * 65].split(b"\0")[0].decode("latin-1") for i in range(6)]
        o = (12 + 6 * 65 + 7) & ~7
        names = ("tv_sec tv_usec status block_size sub_hdr_size bitmap_blocks max_mapnr "
                 "total_ram_blocks device_blocks written_blocks current_cpu nr_cpus").split()
        h.update(zip(names, struct.unpack_from("<qqiiiIIIIIii", head, o)))
        if off == 0 and h["block_size"] > 0:
            f.seek(h["block_size"])
            sub = f.read(120)
            names = ("phys_base dump_level split start_pfn end_pfn offset_vmcoreinfo size_vmcoreinfo "
                     "offset_note size_note offset_eraseinfo size_eraseinfo start_pfn_64 end_pfn_64 "
                     "max_mapnr_64").split()
            h["sub_header"] = dict(zip(names, struct.unpack_from("<QiiQQQQQQQQQQQ", sub, 0)))
            h["sub_header"]["phys_base"] = hx(h["sub_header"]["phys_base"])
    return h


def open_dump(args, notes):
    """A drgn Program for the dump. QEMU 7.2 writes the kdump header's utsname empty except
    machine "Unknown" on arm64, and libkdumpfile 0.5.6 then cannot tell the architecture
    ("KDUMP_ATTR_ARCH_NAME: Key has no value"): such a dump is opened through a temporary copy
    whose utsname is filled in (sysname Linux, nodename coroner, release RELEASE, version #1,
    machine aarch64); the memory is untouched. notes gets what was done."""
    path = args.dump
    off = kdump_signature_offset(path)
    if off is not None:
        with open(path, "rb") as f:
            f.seek(off + 12 + 4 * 65)
            machine = f.read(65).split(b"\0")[0]
        notes["kdump_header_machine"] = machine.decode("latin-1")
        notes["kdump_header"] = kdump_header(path, off)
        if machine in (b"", b"Unknown"):
            tmpdir = tempfile.mkdtemp(prefix="drgn-record.")
            copy = os.path.join(tmpdir, os.path.basename(path))
            shutil.copyfile(path, copy)
            with open(copy, "r+b") as f:
                f.seek(off + 12)
                for v in ("Linux", "coroner", args.release or "", "#1", "aarch64", ""):
                    f.write(v.encode()[:64].ljust(65, b"\0"))
            notes["opened_patched_copy"] = ("utsname of the kdump header filled in a temporary "
                                            "copy (QEMU left it empty/'Unknown')")
            path = copy
    prog = drgn.Program()
    prog.set_core_dump(path)
    try:
        prog.load_debug_info([args.vmlinux])
    except drgn.MissingDebugInfoError as e:
        # Modules' debug info is not given; the kernel's is what matters.
        notes["missing_debug_info"] = str(e)[:500]
    return prog


# --- the parts of the recording

def record_vmcoreinfo(prog):
    try:
        raw = prog["VMCOREINFO"].string_().decode("latin-1")
    except (KeyError, LookupError, FaultError) as e:
        return {"error": err(e)}
    lines = [l for l in raw.split("\n") if l]
    arm64_keys = ("VA_BITS", "kimage_voffset", "PHYS_OFFSET", "TCR_EL1_T1SZ", "KERNELOFFSET",
                  "KERNELPACMASK", "USERPACMASK", "MAX_PHYSMEM_BITS", "PAGESIZE", "SYMBOL(swapper_pg_dir)",
                  "SYMBOL(_stext)", "NUMBER(VA_BITS)", "VMALLOC_START", "VMEMMAP_START", "MODULES_VADDR")
    arm64 = [l for l in lines if any(k in l for k in arm64_keys)]
    return {"lines": lines, "arm64": arm64}


def cpus_of(mask):
    try:
        return list(for_each_cpu(mask))
    except (FaultError, LookupError) as e:
        return err(e)


def task_entry(prog, task, current_of):
    t = {"address": hx(task.value_())}
    try:
        t["pid"] = task.pid.value_()
        t["tgid"] = task.tgid.value_()
        t["ppid"] = task.real_parent.pid.value_()
        t["comm"] = task.comm.string_().decode("latin-1")
        t["state"] = task_state_to_char(task)
        t["cpu"] = task_cpu(task)
        t["on_cpu"] = bool(task.on_cpu.value_())
        t["is_current_on_cpu"] = current_of.get(task.value_())
        t["stack"] = hx(task.stack.value_())
        t["kthread"] = bool(task.flags.value_() & 0x00200000)   # PF_KTHREAD
    except (FaultError, LookupError) as e:
        t["error"] = err(e)
    try:
        trace = prog.stack_trace(task)
        frames = []
        for i, fr in enumerate(trace):
            if i >= MAX_FRAMES:
                t["trace_truncated"] = True
                break
            f = {"pc": hx(fr.pc), "name": fr.name, "function": fr.function_name,
                 "is_inline": fr.is_inline, "interrupted": fr.interrupted}
            try:
                f["sp"] = hx(fr.sp)
            except (LookupError, ValueError):
                f["sp"] = None
            try:
                sym = fr.symbol()
                f["symbol"] = sym.name
                f["offset"] = hx(fr.pc - sym.address)
            except LookupError:
                f["symbol"] = None
            try:
                src = fr.source()
                f["file"], f["line"] = src[0], src[1]
            except LookupError:
                pass
            frames.append(f)
        t["trace"] = frames
    except (FaultError, ValueError, LookupError) as e:
        t["trace_error"] = err(e)
    return t


def record_tasks(prog, cpus):
    current_of = {}
    current = []
    idles = []
    for cpu in cpus:
        c = {"cpu": cpu}
        try:
            cur = cpu_curr(prog, cpu)
            current_of[cur.value_()] = cpu
            c["task"] = hx(cur.value_())
            c["pid"] = cur.pid.value_()
            c["comm"] = cur.comm.string_().decode("latin-1")
        except (FaultError, LookupError) as e:
            c["error"] = err(e)
        try:
            idle = idle_task(prog, cpu)
            c["idle_task"] = hx(idle.value_())
            idles.append(idle)
        except (FaultError, LookupError) as e:
            c["idle_error"] = err(e)
        try:
            c["per_cpu_offset"] = hx(prog["__per_cpu_offset"][cpu].value_())
        except (FaultError, LookupError) as e:
            c["per_cpu_offset_error"] = err(e)
        current.append(c)
    tasks = []
    seen = set()
    for task in list(idles) + list(for_each_task(prog)):
        if task.value_() in seen:
            continue
        seen.add(task.value_())
        tasks.append(task_entry(prog, task, current_of))
    tasks.sort(key=lambda t: (t.get("pid", -1), t["address"]))
    return current, tasks


def record_meminfo(prog):
    """What `kmem -i` is made of: totalram (the _totalram_pages counter, 5.0+, else
    totalram_pages) and the free pages (vm_zone_stat[NR_FREE_PAGES]), in pages."""
    out = {}
    try:
        out["totalram_pages"] = prog["_totalram_pages"].counter.value_()
    except LookupError:
        out["totalram_pages"] = prog["totalram_pages"].value_()
    nr_free = prog.constant("NR_FREE_PAGES").value_()
    out["free_pages"] = prog["vm_zone_stat"][nr_free].counter.value_()
    return out


def record_log(prog):
    out = []
    for r in get_printk_records(prog):
        out.append({"seq": r.seq, "timestamp_ns": r.timestamp, "level": r.level,
                    "facility": r.facility, "caller_tid": r.caller_tid, "caller_cpu": r.caller_cpu,
                    "continuation": r.continuation, "text": r.text.decode("utf-8", "replace")})
    return out


def record_symbols(prog):
    out = {}
    for name in SYMBOLS:
        try:
            s = prog.symbol(name)
            out[name] = {"address": hx(s.address), "size": s.size}
        except LookupError:
            out[name] = None
    return out


def record_modules(prog):
    out = []
    for mod in for_each_module(prog):
        m = {"name": mod.name.string_().decode("latin-1"), "address": hx(mod.value_())}
        try:
            try:
                mem = mod.mem                # 6.4+: mod->mem[MOD_TEXT, MOD_DATA, ...]
            except AttributeError:
                mem = None
            if mem is not None:
                # base/size: MOD_TEXT; mem: every region, with its enum mod_mem_type name.
                m["base"] = hx(mem[0].base.value_())
                m["size"] = mem[0].size.value_()
                types = {v: k for k, v in prog.type("enum mod_mem_type").enumerators}
                m["mem"] = [{"type": types.get(i, str(i)), "base": hx(mem[i].base.value_()),
                             "size": mem[i].size.value_()} for i in range(len(mem))]
            else:
                # base/size: the whole core layout (text, rodata, data); text_size, ro_size.
                core = mod.core_layout
                m["base"] = hx(core.base.value_())
                m["size"] = core.size.value_()
                m["text_size"] = core.text_size.value_()
                m["ro_size"] = core.ro_size.value_()
        except (AttributeError, LookupError, FaultError) as e:
            m["error"] = err(e)
        out.append(m)
    return out


def probe(prog, kind, vaddr, phys=None, how=None, note=None, mm=None):
    """One translation: drgn's physical address for vaddr (phys given, or from `how`), and
    16 bytes read through the virtual and the physical address (they must agree). A user
    address (mm given) is read through that mm (access_remote_vm)."""
    e = {"kind": kind, "vaddr": hx(vaddr)}
    if note:
        e["note"] = note
    try:
        if phys is None:
            phys = how()
        e["paddr"] = hx(phys)
    except (FaultError, LookupError, ValueError) as x:
        e["error"] = err(x)
        return e
    try:
        if mm is not None:
            e["bytes_virt"] = access_remote_vm(mm, vaddr, 16).hex()
        else:
            e["bytes_virt"] = prog.read(vaddr, 16).hex()
    except FaultError as x:
        e["bytes_virt_error"] = err(x)
    try:
        e["bytes_phys"] = prog.read(phys, 16, True).hex()
    except FaultError as x:
        e["bytes_phys_error"] = err(x)
    return e


def record_translations(prog, tasks, modules):
    out = []
    init_mm = prog["init_mm"].address_of_()

    def kern(kind, addr, note=None):
        out.append(probe(prog, kind, addr, how=lambda: follow_phys(init_mm, addr).value_(), note=note))

    for name in ("_text", "init_task", "jiffies", "linux_banner"):
        try:
            kern("kernel-image", prog.symbol(name).address, note=name)
        except LookupError:
            pass
    # The linear map: task_structs come from the slab.
    by_comm = {t.get("comm"): t for t in tasks}
    for comm in ("cor-sleep1", "sh", "cor-busy"):
        t = by_comm.get(comm)
        if t is None:
            continue
        addr = int(t["address"], 16)
        kern("linear-map", addr, note=f"task_struct of {comm} pid {t.get('pid')}")
        try:
            out[-1]["virt_to_phys"] = hx(virt_to_phys(prog, addr).value_())
        except (FaultError, LookupError, ValueError) as x:
            out[-1]["virt_to_phys_error"] = err(x)
        try:
            page = virt_to_page(prog, addr).value_()
            kern("vmemmap", page, note=f"struct page of the task_struct of {comm}")
        except (FaultError, LookupError, ValueError) as x:
            out.append({"kind": "vmemmap", "error": err(x)})
        if t.get("stack"):
            # VMAP_STACK: the kernel stack is vmalloc'd; its top (stack + THREAD_SIZE - 16) is
            # in use. THREAD_SIZE from the type: sizeof(union thread_union) or 16 KiB pages.
            stack = int(t["stack"], 16)
            try:
                tsize = prog.type("union thread_union").size
            except LookupError:
                tsize = 0
            kern("vmalloc", stack, note=f"kernel stack base of {comm}")
            if tsize:
                kern("vmalloc", stack + tsize - 16, note=f"kernel stack top - 16 of {comm} (THREAD_SIZE {tsize})")
    for m in modules:
        if m.get("base"):
            kern("module", int(m["base"], 16), note=f"module {m['name']} base")
    try:
        ptr = per_cpu_ptr(prog["runqueues"].address_of_(), 0).value_()
        kern("per-cpu", ptr, note="runqueues on CPU 0")
    except (FaultError, LookupError, ValueError) as x:
        out.append({"kind": "per-cpu", "error": err(x)})
    # User addresses of workload tasks, through their own page tables.
    for comm in ("cor-sleep1", "cor-piper", "cor-threads"):
        t = by_comm.get(comm)
        if t is None:
            continue
        task = Object(prog, "struct task_struct *", int(t["address"], 16))
        try:
            mm = task.mm
            for field in ("start_stack", "arg_start", "start_code", "start_brk"):
                addr = getattr(mm, field).value_()
                e = probe(prog, "user", addr, how=lambda: follow_phys(mm, addr).value_(),
                          note=f"{comm} pid {t.get('pid')} mm->{field}", mm=mm)
                e["pid"] = t.get("pid")
                e["pgd"] = hx(mm.pgd.value_())
                out.append(e)
        except (FaultError, LookupError, ValueError) as x:
            out.append({"kind": "user", "note": comm, "error": err(x)})
    return out


TRACE_LINE = re.compile(r"^\[\s*[0-9.]+\]\s+([A-Za-z0-9_.$]+)\+(0x[0-9a-f]+)/(0x[0-9a-f]+)(?: \[([^\]]+)\])?\s*$")


def record_serial(path):
    """The panic report the dying kernel printed on the serial console."""
    with open(path, "rb") as f:
        lines = f.read().decode("utf-8", "replace").replace("\r", "").split("\n")
    out = {"file": os.path.basename(path)}
    start = None
    for i, l in enumerate(lines):
        if "Kernel panic - not syncing" in l and "end Kernel panic" not in l:
            start = i
            out["panic_line"] = re.sub(r"^\[\s*[0-9.]+\]\s*", "", l)
    if start is None:
        out["error"] = "no 'Kernel panic - not syncing' line"
        return out
    frames = []
    in_trace = False
    for l in lines[start:]:
        body = re.sub(r"^\[\s*[0-9.]+\]\s*", "", l)
        m = re.match(r"CPU: (\d+) PID: (\d+) Comm: (\S+)", body)
        if m:
            out["cpu"], out["pid"], out["comm"] = int(m[1]), int(m[2]), m[3]
        if body.startswith("Call trace:"):
            in_trace = True
            continue
        if in_trace:
            m = TRACE_LINE.match(l)
            if m:
                frames.append({"function": m[1], "offset": m[2], "size": m[3], "module": m[4]})
                continue
            in_trace = False
        for key, pat in (("kernel_offset", r"Kernel Offset: (\S+)"), ("phys_offset", r"PHYS_OFFSET: (\S+)")):
            m = re.match(pat, body)
            if m:
                out[key] = m[1]
        if "end Kernel panic" in body:
            break
    out["call_trace"] = frames
    markers = {}
    for l in lines:
        m = re.search(r"coroner-fixture: task (\S+) pid (\d+) tgid (\d+)", l)
        if m:
            markers[m[1]] = {"pid": int(m[2]), "tgid": int(m[3])}
        m = re.search(r"coroner-fixture: panic task pid (\d+)", l)
        if m:
            out["panic_task_pid"] = int(m[1])
    out["workload"] = markers
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vmlinux", required=True)
    ap.add_argument("--serial")
    ap.add_argument("--release")
    ap.add_argument("--same-as")
    ap.add_argument("--name", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("dump")
    args = ap.parse_args()

    rec = {"dump": args.name, "drgn_version": drgn.__version__}
    if args.same_as:
        rec["same_moment_as"] = args.same_as
    if args.serial:
        rec["serial_panic"] = record_serial(args.serial)
    notes = {}
    try:
        prog = open_dump(args, notes)
        rec["release"] = prog["init_uts_ns"].name.release.string_().decode()
    except Exception as e:  # noqa: BLE001 -- whatever drgn/libkdumpfile raise, record it
        rec["open_notes"] = notes
        rec["drgn_error"] = err(e)
        write(args.out, rec)
        print(f"drgn_record: {args.name}: drgn cannot read it: {err(e)}", file=sys.stderr)
        return 0
    rec["open_notes"] = notes
    rec["platform"] = {"arch": prog.platform.arch.name, "flags": str(prog.platform.flags)}
    uts = prog["init_uts_ns"].name
    rec["uts"] = {f: getattr(uts, f).string_().decode("latin-1")
                  for f in ("sysname", "nodename", "release", "version", "machine")}
    rec["vmcoreinfo"] = record_vmcoreinfo(prog)
    cpus = {"possible": cpus_of(cpu_possible_mask(prog)), "present": cpus_of(cpu_present_mask(prog)),
            "online": cpus_of(cpu_online_mask(prog))}
    rec["cpus"] = cpus
    try:
        th = prog.crashed_thread()
        rec["crashed_thread"] = {"pid": th.tid, "comm": th.object.comm.string_().decode("latin-1"),
                                 "task": hx(th.object.value_()), "cpu": task_cpu(th.object)}
    except Exception as e:  # noqa: BLE001
        rec["crashed_thread"] = {"error": err(e)}
    cpu_list = cpus["present"] if isinstance(cpus["present"], list) else [0]
    rec["current"], rec["tasks"] = record_tasks(prog, cpu_list)
    try:
        rec["log"] = record_log(prog)
    except Exception as e:  # noqa: BLE001
        rec["log_error"] = err(e)
    rec["symbols"] = record_symbols(prog)
    try:
        rec["meminfo"] = record_meminfo(prog)
    except Exception as e:  # noqa: BLE001
        rec["meminfo_error"] = err(e)
    rec["modules"] = record_modules(prog)
    rec["translations"] = record_translations(prog, rec["tasks"], rec["modules"])
    write(args.out, rec)
    print(f"drgn_record: {args.name}: {len(rec['tasks'])} tasks, {len(rec.get('log', []))} log records",
          file=sys.stderr)
    return 0


def write(path, rec):
    with open(path, "w") as f:
        json.dump(rec, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
