#!/usr/bin/env bash
# Probe (GPU machine), for session 15: the rest of the CPU targets' gap on the GPU host after its slower JS (14 µs
# per slice at 2 x 2, 29 at 2 x 4, session 14) against the lead that its faster wake-ups hand JS more, smaller
# progress reports per slice: js-cpu.mjs (event-loop active time, the JS thread's CPU, progress reports per
# bucket) at 1 x 1, 2 x 2 and 2 x 4, 3 rounds. The development machine gave 0.04, 0.48 and 0.82 reports per
# bucket. Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session15a.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
for round in 1 2 3; do
  for topo in "1 1" "2 2" "2 4"; do
    timeout 60 node scripts/probes/js-cpu.mjs $topo 64 64 200 | sed "s/^/round $round /"
  done
done 2>&1 | tee "$out/reports.txt"
# The machine's costs, the cache line handed between threads among them (development machine 53–64 ns).
node scripts/probes/machine-costs.mjs 2>&1 | tee "$out/machine.txt"
# The JS thread's native and kernel time at 2 x 2 and 2 x 4 (perf, where the host has it).
for topo in "2 2" "2 4"; do
  bash scripts/probes/thread-profile.sh $topo 2>&1 | sed "s/^/${topo/ /x} /"
done | tee "$out/thread-profile.txt"
since "all took"
