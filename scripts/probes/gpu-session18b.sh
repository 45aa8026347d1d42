#!/usr/bin/env bash
# Probe (GPU machine, 1 GPU), for session 18: the host's plain-JS speed (machine-costs.mjs), the CUDA suite on
# main (805ba45, the staging slot of M-1 rows and bc2d22e had not run on a GPU), then `fairring` against its
# native loop at 1 x 1 (64 x 25 MiB, one 256 MiB, 2000 x 64 KiB; medians of 3 runs).
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session18b.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
nproc; lscpu | grep -E "^Model name|^CPU\(s\)|Thread|Core"
timeout 60 node scripts/probes/machine-costs.mjs | tee "$out/machine-costs.txt"
run_suite 400
for work in "26214400 64" "268435456 1" "65536 2000"; do
  set -- $work
  timeout 60 node dist/src/cli/main.js bench --backend cuda --machines 1 --devices 1 --pipelines fairring \
    --bytes "$1" --buckets "$2" --iters 3 --warmup 1 --repeat 3 | grep -E '^\| [0-9]' | sed "s/^/1x1 /"
done 2>&1 | tee "$out/loop-1x1.txt"
since "done at"
