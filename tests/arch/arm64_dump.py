#!/usr/bin/env python3
"""arm64 translation on real dumps: coroner opens every dump of the arm64 fixture sets
(fixtures/make-fixtures-arm64.sh: ~/.cache/coroner/fixtures/sets-arm64/<set>/, or the sets
named by $CORONER_ARM64_SET) and checks facts that break when address translation breaks:

  - sys: RELEASE is the set's kernel-release, PANIC is found, MEMORY is printed;
  - linux_banner read through the kernel image map (rd -a SYMBOL), through the linear map
    (ptov of vtop's physical address) and physically (rd -p) is the same
    "Linux version <release>" text;
  - jiffies: `p jiffies`, rd of the symbol, rd of its linear-map alias and rd -p agree;
  - vtop of a linear-map address: the page-table walk lands on the page that the linear-map
    arithmetic gives; vtop of a vmalloc address (a module) walks to a VALID entry;
  - log: the first record is the boot banner, the release appears in it;
  - struct task_struct.pid,comm init_task: pid 0, comm swapper/0;
  - kmem -i: 0 < FREE <= TOTAL MEM; ps: pid 1 exists; mod: prints its header.

Usage: arm64_dump.py --coroner BIN
Exit status 0 when every check passed, 77 (ctest's SKIP_RETURN_CODE) with a SKIP line when no
arm64 set exists, 1 otherwise.
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile

SKIP = 77


def sets():
    if os.environ.get("CORONER_ARM64_SET"):
        return os.environ["CORONER_ARM64_SET"].split(":")
    root = os.environ.get("CORONER_FIXTURES") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "coroner", "fixtures")
    return sorted(d for d in glob.glob(os.path.join(root, "sets-arm64", "*")) if os.path.isfile(os.path.join(d, "vmlinux")))


def dumps(set_dir):
    out = []
    for f in sorted(os.listdir(set_dir)):
        if f.endswith((".elf", ".kdump", ".flat")) and not f.endswith(".serial.log"):
            out.append(os.path.join(set_dir, f))
    return out


class Session:
    """Runs a batch of commands in one coroner process; output split per command."""

    def __init__(self, coroner, vmlinux, dump):
        self.coroner, self.vmlinux, self.dump = coroner, vmlinux, dump

    def run(self, commands):
        # Each command redirected to its own file (as oracle.py does), so errors and output
        # stay with their command.
        with tempfile.TemporaryDirectory() as tmp:
            files = [os.path.join(tmp, f"{i}.out") for i in range(len(commands))]
            script = "".join(f"{c} > {f}\n" for c, f in zip(commands, files))
            p = subprocess.run([self.coroner, "-s", self.vmlinux, self.dump], input=script, capture_output=True,
                               text=True, timeout=600)
            outs = []
            for c, f in zip(commands, files):
                if not os.path.exists(f):
                    raise RuntimeError(f"coroner exited {p.returncode} before `{c}`: {p.stderr.strip()[-500:]}")
                outs.append(open(f).read())
            return outs


def hexnum(s):
    return int(s, 16)


def check_dump(coroner, set_dir, dump):
    failures = []
    release = open(os.path.join(set_dir, "kernel-release")).read().strip()
    s = Session(coroner, os.path.join(set_dir, "vmlinux"), dump)

    def expect(cond, what):
        if not cond:
            failures.append(what)

    first = s.run(["sys", "sym linux_banner", "sym jiffies", "sym init_task", "p jiffies", "log", "kmem -i", "ps", "mod"])
    sys_out, banner_sym, jiffies_sym, init_sym, p_jiffies, log, kmem, ps, mod = first
    expect(re.search(rf"^     RELEASE: {re.escape(release)}$", sys_out, re.M), f"sys RELEASE is not {release}: {sys_out!r}")
    expect(re.search(r'^       PANIC: "\S', sys_out, re.M), f"sys found no panic: {sys_out!r}")
    expect(re.search(r"^      MEMORY: \d", sys_out, re.M), f"sys has no MEMORY: {sys_out!r}")
    m_banner = re.match(r"([0-9a-f]+) \(\w\) linux_banner", banner_sym)
    m_jiffies = re.match(r"([0-9a-f]+) \(\w\) jiffies", jiffies_sym)
    m_init = re.match(r"([0-9a-f]+) \(\w\) init_task", init_sym)
    if not (m_banner and m_jiffies and m_init):
        return failures + [f"sym failed: {banner_sym!r} {jiffies_sym!r} {init_sym!r}"]
    banner, jiffies, init_task = (hexnum(m.group(1)) for m in (m_banner, m_jiffies, m_init))
    m = re.match(r"jiffies = \$\d+ = (\d+)", p_jiffies)
    expect(m, f"p jiffies: {p_jiffies!r}")
    jiffies_value = int(m.group(1)) if m else None
    log_lines = log.splitlines()
    expect(log_lines and re.match(r"\[\s*0\.000000\] (Booting Linux|Linux version)", log_lines[0]), f"log's first line: {log_lines[:1]}")
    expect(f"Linux version {release} " in log, "log lacks the Linux version line")
    mt = re.search(r"TOTAL MEM\s+(\d+)", kmem)
    mf = re.search(r"FREE\s+(\d+)", kmem)
    expect(mt and mf and 0 < int(mf.group(1)) <= int(mt.group(1)), f"kmem -i: {kmem[:300]!r}")
    expect(re.search(r"^>?\s+1\s+0\s+\d+\s+[0-9a-f]+\s", ps, re.M), "ps has no pid 1")
    expect(mod.startswith("     MODULE       NAME"), f"mod: {mod[:200]!r}")
    module = re.search(r"^([0-9a-f]{16})  \S", mod.splitlines()[1], re.M) if len(mod.splitlines()) > 1 else None

    # The log without the vmlinux (coroner --dmesg: VMCOREINFO and the page tables alone;
    # QEMU's arm64 kdump files carry no machine in their header): the same records' text.
    p = subprocess.run([coroner, "--dmesg", dump], capture_output=True, text=True, timeout=300)
    expect(p.returncode == 0, f"coroner --dmesg exited {p.returncode}: {p.stderr.strip()[-300:]}")
    dmesg_text = [re.sub(r"^\[\s*\d+\.\d+\] (\[\s*[TC]\d+\] )?", "", l) for l in p.stdout.splitlines()]
    log_text = [re.sub(r"^\[\s*\d+\.\d+\] ", "", l) for l in log_lines]
    expect(dmesg_text == log_text, f"--dmesg's records differ from log's: {len(dmesg_text)} vs {len(log_text)} lines")

    # Physical addresses by the walk, then the linear-map aliases.
    cmds = [f"vtop {banner:x}", f"vtop {jiffies:x}", f"struct task_struct.pid,comm {init_task:x}"]
    if module:
        cmds.append(f"vtop {module.group(1)}")
    second = s.run(cmds)

    def vtop_phys(out):
        mm = re.search(r"^([0-9a-f]+)\s+([0-9a-f]+)\s*$", out, re.M)
        return hexnum(mm.group(2)) if mm else None

    banner_pa, jiffies_pa = vtop_phys(second[0]), vtop_phys(second[1])
    expect(banner_pa is not None and jiffies_pa is not None, f"vtop failed: {second[0]!r} {second[1]!r}")
    expect(re.search(r"pid = 0,", second[2]) and 'comm = "swapper/0' in second[2], f"init_task: {second[2]!r}")
    if module:
        expect(re.search(r"\(VALID\|", second[3]) and re.search(r"^   PTE: ", second[3], re.M),
               f"vtop of module {module.group(1)} did not walk to a VALID PTE: {second[3]!r}")
    if banner_pa is None or jiffies_pa is None:
        return failures
    third = s.run([f"ptov {banner_pa:x}", f"ptov {jiffies_pa:x}"])

    def ptov_virt(out):
        mm = re.search(r"^([0-9a-f]+)\s+([0-9a-f]+)\s*$", out, re.M)
        return hexnum(mm.group(1)) if mm else None

    banner_lm, jiffies_lm = ptov_virt(third[0]), ptov_virt(third[1])
    expect(banner_lm is not None and jiffies_lm is not None, f"ptov failed: {third!r}")
    if banner_lm is None or jiffies_lm is None:
        return failures
    fourth = s.run([f"rd -a {banner:x}", f"rd -a {banner_lm:x}", f"rd -64 {jiffies:x}", f"rd -64 {jiffies_lm:x}",
                    f"rd -p -64 {jiffies_pa:x}", f"vtop {banner_lm:x}"])
    want = f"Linux version {release} "
    for what, out in (("image map", fourth[0]), ("linear map", fourth[1])):
        expect(want in out.replace("\n", ""), f"linux_banner through the {what}: {out[:200]!r}")

    def rd_word(out):
        mm = re.search(r":\s+([0-9a-f]{16})", out)
        return hexnum(mm.group(1)) if mm else None

    words = [rd_word(o) for o in fourth[2:5]]
    expect(None not in words and len(set(words)) == 1 and words[0] == jiffies_value,
           f"jiffies disagree: p {jiffies_value}, image {words[0]}, linear {words[1]}, physical {words[2]}")
    # The linear-map address walked: the page the tables give is the arithmetic's page.
    page = re.search(r"^  PAGE: ([0-9a-f]+)", fourth[5], re.M)
    expect(page and vtop_phys(fourth[5]) == banner_pa and hexnum(page.group(1)) <= banner_pa < hexnum(page.group(1)) + (1 << 30),
           f"vtop of the linear alias {banner_lm:x}: {fourth[5]!r}")
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--coroner", required=True)
    args = ap.parse_args()
    found = sets()
    if not found:
        print("SKIP: no arm64 fixture set (~/.cache/coroner/fixtures/sets-arm64/*; make one with "
              "fixtures/make-fixtures-arm64.sh, or name it in $CORONER_ARM64_SET)")
        return SKIP
    bad = 0
    for set_dir in found:
        for dump in dumps(set_dir):
            try:
                failures = check_dump(args.coroner, set_dir, dump)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                failures = [str(e)]
            name = f"{os.path.basename(set_dir)}/{os.path.basename(dump)}"
            if failures:
                bad += 1
                print(f"FAIL {name}")
                for f in failures:
                    print(f"  {f}")
            else:
                print(f"ok   {name}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
