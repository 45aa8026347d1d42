#!/usr/bin/env python3
# Runs a command and reports the CPU time (user + system, from /proc) each of its threads used, summed by thread
# name (the addon names its threads fr-issuer, fr-watcher, fr-executor, ...; Node's main thread is the first
# "node"), sampled every 20 ms so that threads which end early are counted up to their last sample.
# Usage: thread-cpu.py <command...>
import collections
import os
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")
proc = subprocess.Popen(sys.argv[1:])
pid = proc.pid
last = {}  # tid -> (name, ticks)
start = time.monotonic()
while proc.poll() is None:
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        break
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                head, tail = f.read().rsplit(")", 1)
            name = head.split("(", 1)[1]
            fields = tail.split()
            last[tid] = ("node (main)" if tid == str(pid) else name, int(fields[11]) + int(fields[12]))
        except OSError:
            pass
    time.sleep(0.02)
wall = time.monotonic() - start
by = collections.Counter()
count = collections.Counter()
for name, ticks in last.values():
    by[name] += ticks
    count[name] += 1
total = sum(by.values())
print(f"thread CPU over {wall:.1f} s, {total * 1000 / TICK:.0f} ms in all:", file=sys.stderr)
for name, ticks in by.most_common():
    print(f"  {name:16s} {ticks * 1000 / TICK:8.0f} ms  {100 * ticks / max(total, 1):5.1f}%  ({count[name]} thread(s))", file=sys.stderr)
sys.exit(proc.wait())
