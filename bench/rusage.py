#!/usr/bin/env python3
"""Runs a command and writes "WALL_S CPU_S MAXRSS_KIB" to the file named by -o: wall time,
user + system time of the command and every descendant it waited for, and the largest peak
RSS among them. Like GNU time's "%e %U+%S %M", with microsecond resolution instead of 10 ms.

    bench/rusage.py -o out.txt CMD [ARG...]      # exit status is the command's
"""
import resource
import subprocess
import sys
import time

if len(sys.argv) < 4 or sys.argv[1] != "-o":
    sys.exit("usage: rusage.py -o FILE CMD [ARG...]")
out, cmd = sys.argv[2], sys.argv[3:]
before = resource.getrusage(resource.RUSAGE_CHILDREN)
start = time.perf_counter()
status = subprocess.call(cmd)
wall = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
with open(out, "w") as f:
    f.write(f"{wall:.4f} {cpu:.4f} {after.ru_maxrss}\n")
sys.exit(status)
