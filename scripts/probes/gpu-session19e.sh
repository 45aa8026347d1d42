#!/usr/bin/env bash
# Probe (GPU machine), session 19's last call on one GPU: the CUDA suite on main as it ends the session, then the
# CPU targets' rows on main (cpu_row, 64 x 256 B, 3 rounds at 1 x 1, 2 x 2, 2 x 4, and the sliced 2 x 2 job), and
# where the process's CPU goes by thread (thread-cpu.py around js-cpu.mjs at 2 x 2 and 2 x 4, 2 rounds).
# Usage: npm run build && bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session19e.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
run_suite 300
timeout 60 node scripts/probes/machine-costs.mjs | grep -E "jsLoop"
for round in 1 2 3; do
  for topo in "1 1" "2 2" "2 4"; do
    read -r m d <<< "$topo"
    cpu_row --machines "$m" --devices "$d" --bytes 256 --buckets 64 | sed "s/^/round $round ${m}x$d /"
  done
  cpu_row --machines 2 --devices 2 --bytes 16KiB --buckets 1 --slice-bytes 256 | sed "s/^/round $round 2x2 sliced /"
done 2>&1 | tee "$out/targets.txt"
since "targets done at"
for round in 1 2; do
  for topo in "2 2" "2 4"; do
    python3 scripts/probes/thread-cpu.py node scripts/probes/js-cpu.mjs $topo 64 64 400 | sed "s/^/round $round /"
  done
done 2>&1 | tee "$out/threads.txt"
since "threads done at"
