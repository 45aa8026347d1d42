#!/usr/bin/env python3
# Samples where one thread of a process sits (its state and the system call it is in, from /proc) every ~200 µs
# while the process runs, and prints a histogram per window of the given seconds. Used to tell whether the
# JS thread is idle (epoll_wait), blocked (futex) or inside a driver call (ioctl) while the bench runs.
# Usage: thread-states.py <window seconds> <command...>; the thread sampled is the command's main thread.
import collections
import subprocess
import sys
import time

NAMES = {0: "read", 1: "write", 7: "poll", 16: "ioctl", 24: "sched_yield", 35: "nanosleep", 202: "futex",
         230: "clock_nanosleep", 232: "epoll_wait", 281: "epoll_pwait", 441: "epoll_pwait2"}

window = float(sys.argv[1])
proc = subprocess.Popen(sys.argv[2:])
pid = proc.pid
start = time.monotonic()
counts = collections.defaultdict(collections.Counter)
while proc.poll() is None:
    t = time.monotonic() - start
    try:
        with open(f"/proc/{pid}/task/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        with open(f"/proc/{pid}/task/{pid}/syscall") as f:
            call = f.read().split()[0]
    except OSError:
        break
    if state == "R" or call == "running":
        key = "running"
    else:
        key = NAMES.get(int(call), f"syscall {call}") if call.lstrip("-").isdigit() else call
    counts[int(t // window)][key] += 1
    time.sleep(0.0002)
for w in sorted(counts):
    c = counts[w]
    total = sum(c.values())
    parts = ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in c.most_common(6))
    print(f"{w * window:5.1f}-{(w + 1) * window:.1f} s ({total} samples): {parts}", file=sys.stderr)
sys.exit(proc.wait())
