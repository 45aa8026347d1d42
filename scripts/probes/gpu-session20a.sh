#!/usr/bin/env bash
# Probe (GPU machine, 1 GPU), for session 20's first call: the CUDA suite on main after the day's native changes
# (type tags per handle, the addon refusing a worker's environment, replay returning its hand-over time), then
# `fairring` against its native loop at 1 x 1 as bench now times the loop (from the hand-over read inside the
# call, host time over the replay alone), and the CPU targets' rows (3 rounds).
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session20a.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
run_suite 330
for bytes in 64K 25M; do
  buckets=64
  [[ $bytes == 64K ]] && buckets=2000
  timeout 90 node dist/src/cli/main.js bench --backend cuda --machines 1 --devices 1 --pipelines fairring \
    --bytes "$bytes" --buckets "$buckets" --iters 3 --warmup 2 --repeat 5 | grep -E '^\| [0-9]|^CUDA|^NVIDIA|ranks'
done 2>&1 | tee "$out/loop-1x1.txt"
since "loop rows done at"
for round in 1 2 3; do cpu_rows . "round $round main" "1 1" "2 2" "2 4"; done 2>&1 | tee "$out/cpu-rows.txt"
since "done at"
