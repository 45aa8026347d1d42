#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), branch async-groups: groups left in flight while the issuer goes on
# (native/src/cuda_issue.cc). The CUDA all-reduce matrix (correctness against float64 sums), then the engine
# alone at 2 x 1 with the NCCL group profile and the issuer's timeline, 25 MiB x 64 and 64 KiB x 2000.
# Usage: bash scripts/gpu-run.sh bash scripts/probes/gpu-async.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
timeout 120 node node_modules/mocha/bin/mocha.js --reporter scripts/mocha-inline-reporter.cjs --grep "all-reduce on CUDA" 2>&1 | tail -25
echo "matrix done at $(( $(date +%s) - start )) s"
for size in "6553600 64 10" "16384 2000 2"; do
  FAIRRING_NCCL_PROFILE_LOG=/tmp/timeline.csv timeout 40 node scripts/probes/engine-groups.mjs $size 2>&1 | grep -v "^$"
  node scripts/probes/issuer-timeline.mjs /tmp/timeline.csv 150
done 2>&1 | tee "$out/async.txt"
echo "all took $(( $(date +%s) - start )) s"
