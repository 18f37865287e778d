#!/usr/bin/env python3
"""`net -s PID`, `net -S PID`, `net -n PID`, `net -s TASK` and `net -R ADDRESS` against crash 9,
on the socket-holding processes of the networked fixture dump (qemu-net.elf, see
fixtures/net-workload.c), with PIDs and addresses read from each dump.

PIDs depend on the boot and socket addresses on KASLR and the allocator, so the oracle's
literal lists (commands/net.tsv) can only name these processes through `foreach NAME net`.
This script reads `foreach cor-tcp-srv ... net -s` from coroner's own output (PID, TASK and
each socket's SOCKET and SOCK addresses), builds the PID, task and address forms from it, and
runs them through crash 9 (fixtures/crash-oracle.sh, recordings cached in the fixture set) and
coroner, comparing the outputs exactly as oracle.py does. A wrong address in coroner's output
still fails: crash then prints nothing (or other sockets) for that reference. Dumps without
the processes (every dump but qemu-net.elf) are skipped.

Usage: net_hook.py --coroner BIN [--set DIR] [--only DUMP] [--all] [-v]  (qemu-net* dumps by default)
Exit status 0 when every comparison passed.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import oracle  # noqa: E402  (default_sets, read_tsv, run_coroner, compare_with_crash)

HOLDERS = ["cor-tcp-srv", "cor-tcp-cli", "cor-udp", "cor-inet6", "cor-unix", "cor-misc-sock"]
DISCOVERY = "foreach " + " ".join(HOLDERS) + " net -s"
TASK = re.compile(r'^PID: (\d+)\s+TASK: ([0-9a-f]+)\s+CPU: \d+\s+COMMAND: "([^"]+)"')
SOCKET = re.compile(r"^\s*(\d+) ([0-9a-f]+) ([0-9a-f]+) ")


def discover(binary, set_dir, dump_files, tmp):
    """{comm: (pid, task, [(fd, socket, sock)])} from coroner's `foreach ... net -s`."""
    out = oracle.coroner_outputs(binary, set_dir, dump_files, [DISCOVERY], tmp)
    found, current = {}, None
    for line in out[DISCOVERY].splitlines():
        m = TASK.match(line)
        if m:
            current = found.setdefault(m.group(3), (int(m.group(1)), m.group(2), []))
            continue
        m = SOCKET.match(line)
        if m and current is not None:
            current[2].append((int(m.group(1)), m.group(2), m.group(3)))
    return found


def commands_for(found):
    if not all(h in found and found[h][2] for h in HOLDERS):
        return []
    cmds = []
    for h in HOLDERS:
        pid, task, _ = found[h]
        cmds += [f"net -s {pid}", f"net -S {pid}"]
    srv, cli, udp, inet6 = (found[h] for h in HOLDERS[:4])
    cmds += [f"net -n {srv[0]}", f"net -s {srv[1]}", f"net -n {srv[1]}", f"net -S -x {udp[0]}",
             f"net -s {srv[0]} {cli[0]}", f"net -s 1 {udp[0]}"]
    # References by socket and by sock address, from foreach (every task) and for one task.
    _, tcp_socket, tcp_sock = srv[2][-1]
    _, v6_socket, v6_sock = inet6[2][-1]
    cmds += [f"foreach net -s -R {tcp_socket}", f"foreach net -s -R {tcp_sock}",
             f"foreach net -S -R {v6_sock}", f"net -s -R {v6_socket} {inet6[0]}",
             f"net -s -R {tcp_socket} {inet6[0]}", f"foreach net -s -R 0x{udp[2][0][2]}"]
    return cmds


def commands_for_dump(binary, set_dir, dump_files, tmp, verbose):
    return commands_for(discover(binary, set_dir, dump_files, tmp))


if __name__ == "__main__":
    # The socket holders run only in the networked guest.
    sys.exit(oracle.hook_main("net_hook", "net-hook", commands_for_dump, lambda name: name.startswith("qemu-net")))
