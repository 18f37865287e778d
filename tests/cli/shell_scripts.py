#!/usr/bin/env python3
"""The coroner shell driven as a script: commands on standard input and from -i FILE, errors in
the middle of a script and the exit status, history (h, r), --stop-on-error, `q`, redirections and pipes, `!cmd`,
aliases, eval, --osrelease, --log, `coroner DUMP` finding its vmlinux (CORONER_DEBUG_ROOT), and a
command plugin loaded with extend (examples/plugin). Uses the first fixture set's kdump.elf.

Usage: shell_scripts.py --coroner BIN [--plugin LIB.so]   (prints 'N passed, N failed')
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oracle"))
from oracle import first_set  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--coroner", required=True)
    ap.add_argument("--plugin")
    args = ap.parse_args()
    coroner = os.path.abspath(args.coroner)
    s = first_set("shell_scripts")
    if s is None:
        return 1
    release = open(os.path.join(s, "kernel-release")).read().strip()
    passed = failed = 0

    def run(argv, stdin="", env=None, cwd=s):
        e = dict(os.environ, TZ="UTC")
        e.update(env or {})
        p = subprocess.run([coroner, *argv], input=stdin, capture_output=True, text=True, cwd=cwd, env=e,
                           timeout=300)
        return p.returncode, p.stdout, p.stderr

    def check(name, ok, detail=""):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print(f"FAIL {name}\n{detail}")

    base = ["-s", "vmlinux", "kdump.elf"]
    rc, sym_out, _ = run(base, "sym jiffies\n")
    check("a good script exits 0", rc == 0 and re.match(r"^[0-9a-f]{16} \([A-Za-z]\) jiffies", sym_out), sym_out)
    jiffies_line = sym_out

    # dis of an address in no symbol, as crash 9.0.2 prints it on the same dump: its warning in
    # the output, then gdb's lines indented (the label column empty); an unreadable one stops
    # after its address, an error(INFO) failure. An expression's address gets gdb's `<>` label.
    rc, out, err = run(base, "dis 0\n")
    check("dis 0: crash's warning, the address, a failure",
          rc == 1 and out == "WARNING: 0: no associated kernel symbol found\n   0x0:\t\n", f"rc={rc}\n{out!r}{err}")
    rc, ps_out, _ = run(base, "ps 1\n")
    task = ps_out.splitlines()[-1].split()[3] if rc == 0 and len(ps_out.splitlines()) == 2 else "0"
    rc, out, err = run(base, f"dis {task} 2\ndis ({task}+4) 1\n")
    lines = out.splitlines()
    check("dis of a data address: the warning, then indented lines; an expression: `<>`",
          rc == 0 and len(lines) == 4 and lines[0] == f"WARNING: {task}: no associated kernel symbol found"
          and lines[1].startswith(f"   0x{task}:\t") and re.match(r"   0x[0-9a-f]+:\t", lines[2])
          and lines[3].startswith(f"0x{int(task, 16) + 4:x} <>:\t"), f"rc={rc}\n{out}{err}")

    rc, out, err = run(base, "sym jiffies\nnosuchcmd\nsym jiffies\n")
    check("an error in the middle: the script goes on, exit status 1",
          rc == 1 and out == jiffies_line + "nosuchcmd: command not found\n" + jiffies_line, f"rc={rc}\n{out}{err}")

    # crash's history commands on the script's own lines: h lists them (not itself), r re-runs
    # one (echoed after the prompt, then entered in the list), a bad request fails.
    rc, out, err = run(base, "h\nsym jiffies\n# a comment\nh\nr sy\nr 2\nhist\nr 9\nr xyz\n")
    want = ("coroner: no commands entered!\n" + jiffies_line + "[1] sym jiffies\n[2] # a comment\n"
            + "coroner> sym jiffies\n" + jiffies_line + "coroner> # a comment\n"
            + "[1] sym jiffies\n[2] # a comment\n[3] sym jiffies\n[4] # a comment\n"
            + "coroner: command 9 not entered yet!\ninvalid repeat request: r xyz\n")
    check("h lists the script's commands; r, r N, r PREFIX re-run them; bad requests fail",
          rc == 1 and out == want, f"rc={rc}\n{out}{err}")
    rc, out, err = run(base, "set -v\n")
    check("set -v: scroll off without a terminal", rc == 0 and out.startswith("        scroll: off (none)\n"), out)

    rc, out, err = run(["--stop-on-error", *base], "sym jiffies\nsym -z\nsym jiffies\n")
    # As crash: getopt's complaint on stderr, crash's usage block on the output.
    check("--stop-on-error ends at the first failure", rc == 1 and out.count("jiffies") == 1
          and "sym: invalid option -- 'z'" in err
          and out.endswith("Usage:\n  sym [-l] | [-M] | [-m module] | [-p|-n] | [-q string] | [symbol | vaddr]\n"
                           "Enter \"help sym\" for details.\n"), f"rc={rc}\n{out}{err}")

    rc, out, err = run(base, "sym jiffies\nq\nnosuchcmd\n")
    check("q ends the script; what came before counts", rc == 0 and out == jiffies_line, f"rc={rc}\n{out}{err}")

    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "cmds")
        with open(script, "w") as f:
            f.write("# a comment\n\nsym jiffies\nsym no_such_symbol_here\n")
        rc, out, err = run(["-i", script, *base], "sym jiffies\n")
        check("-i FILE then standard input; a failure in the file sets the status",
              rc == 1 and out.startswith(jiffies_line) and out.endswith(jiffies_line) and out.count("jiffies") >= 2,
              f"rc={rc}\n{out}{err}")

        target = os.path.join(tmp, "out.txt")
        rc, out, err = run(base, f"sym jiffies > {target}\nsym jiffies >> {target}\nsym jiffies | wc -l\n")
        text = open(target).read() if os.path.exists(target) else ""
        check("> file, >> file, | pipeline", rc == 0 and text == jiffies_line * 2 and out.strip() == "1",
              f"rc={rc}\nfile={text!r}\nout={out!r}{err}")

        many = "qemu-many.elf" if os.path.exists(os.path.join(s, "qemu-many.elf")) else "kdump.elf"
        rc, out, err = run(["-s", "vmlinux", many], "foreach bt | head -2\nsym jiffies\n")
        check("a pipe whose reader quits early stops the command, no failure",
              rc == 0 and out.startswith("PID: ") and out.count("PID: ") == 1 and out.endswith(" jiffies\n"),
              f"rc={rc}\n{out}{err}")

        # crash's eval: -b/-l only before the expression; a word with another letter starts it.
        rc, out, err = run(base, "eval -Z\n")
        check("eval -Z is the expression -Z (crash 9.0.2), not a usage error",
              rc == 1 and (out + err) == "eval: invalid expression: (-Z)\n", f"rc={rc}\n{out}{err}")
        rc, out, err = run(base, "eval 5 -l\n")
        check("eval 5 -l: -l after the expression is part of it",
              rc == 1 and (out + err) == "eval: invalid expression: (5 -l)\n", f"rc={rc}\n{out}{err}")

        rc, out, err = run(base, "!echo hello from the shell\n!false\n")
        check("!cmd runs a shell command; its failure is the command's", rc == 1 and out == "hello from the shell\n",
              f"rc={rc}\n{out}{err}")

        rc, out, err = run(base, "alias js sym jiffies\njs\nalias js \"\"\njs\n")
        check("alias: defined, used, deleted", rc == 1 and out == "ORIGIN   ALIAS    COMMAND\nruntime  js       sym jiffies \n"
              + jiffies_line + "alias deleted: js\njs: command not found\n", f"rc={rc}\n{out}{err}")

        rc, out, err = run(base, "alias jc \"sym jiffies | wc -c\"\njc\n")
        check("an alias holding a pipe", rc == 0 and out.splitlines()[-1].strip() == str(len(jiffies_line)),
              f"rc={rc}\n{out}{err}")

        rc, out, err = run(base, "eval 128m\neval -b 41dc065\neval jiffies\neval (1 << 32)\n")
        jaddr = jiffies_line.split()[0]
        expect = ("hexadecimal: 8000000  (128MB)\n    decimal: 134217728  \n      octal: 1000000000\n"
                  "     binary: 0000000000000000000000000000000000001000000000000000000000000000\n")
        check("eval", rc == 0 and out.startswith(expect) and "   bits set: 26 20 19 18 16 15 14 6 5 2 0 \n" in out
              and f"hexadecimal: {jaddr}  \n" in out and "hexadecimal: 100000000  (4GB)\n" in out, f"rc={rc}\n{out}{err}")

        rc, out, err = run(["--osrelease", "kdump.elf"])
        check("--osrelease DUMP", rc == 0 and out == release + "\n", f"rc={rc}\n{out}{err}")
        rc, log_out, err = run(["--log", "kdump.elf"])
        rc2, dmesg_out, _ = run(["--dmesg", "kdump.elf"])
        check("--log DUMP prints the log", rc == 0 and rc2 == 0 and log_out == dmesg_out and "Linux version" in log_out,
              f"rc={rc}\n{log_out[:300]}{err}")

        # coroner DUMP alone: the vmlinux is found under the debug root by release.
        root = os.path.join(tmp, "root")
        os.makedirs(os.path.join(root, "usr/lib/debug/boot"))
        rc, out, err = run(["-s", "kdump.elf"], "sym jiffies\n", env={"CORONER_DEBUG_ROOT": root})
        check("DUMP alone, no vmlinux anywhere: where it looked", rc == 2 and out == ""
              and f"{root}/usr/lib/debug/boot/vmlinux-{release}: not found" in err
              and f"{root}/boot/vmlinux-{release}: not found" in err, f"rc={rc}\n{out}{err}")
        os.symlink(os.path.realpath(os.path.join(s, "vmlinux")), os.path.join(root, "usr/lib/debug/boot/vmlinux-" + release))
        rc, out, err = run(["-s", "kdump.elf"], "sym jiffies\n", env={"CORONER_DEBUG_ROOT": root})
        check("DUMP alone finds /usr/lib/debug/boot/vmlinux-RELEASE", rc == 0 and out == jiffies_line, f"rc={rc}\n{out}{err}")

        if args.plugin:
            plugin = os.path.abspath(args.plugin)
            rc, out, err = run(base, f"extend {plugin}\nextend\nhelp symval\nsymval jiffies\nsymval -z\n"
                               f"extend -u {plugin}\nsymval jiffies\n")
            lines = out.splitlines()
            ok = (rc == 1 and lines[0] == f"{plugin}: shared object loaded"
                  and re.search(rf"^{re.escape(plugin)}\s+symval\s*$", out, re.M)
                  and "symval - show the 8-byte value stored at kernel symbols" in out
                  and re.search(rf"^jiffies: {jaddr}: [0-9a-f]{{16}}$", out, re.M)
                  and "symval: invalid option -- 'z'" in err and 'Enter "help symval" for details.' in out
                  and f"{plugin}: shared object unloaded" in out and lines[-1] == "symval: command not found")
            check("extend: load a plugin, run its command, unload it", ok, f"rc={rc}\n{out}{err}")

    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
