#!/usr/bin/env bash
# Probe (GPU machine, 1 GPU), for session 18 (scripts/probes/patches/want-answers.patch): after a report, the next
# waiter's record that the Queue knows complete is answered by `want` alone (no report for it), this build against
# base/ = main: the CUDA suite
# first, then the CPU targets' rows and js-cpu.mjs (3 interleaved rounds), the sliced job, submit-cost.mjs at
# 2 x 2 and 2 x 4 (asks and how many found their record complete), and CUDA 1 x 1 2000 x 64 KiB.
# Usage: bash scripts/bundle.sh && bash scripts/probes/base-bundle.sh main, then
# bash scripts/gpu-run.sh bash scripts/probes/gpu-session18g.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
unpack_base
timeout 60 node scripts/probes/machine-costs.mjs | grep -E "jsLoop"
run_suite 240
cp scripts/probes/submit-cost.mjs base/scripts/probes/ 2>/dev/null || { mkdir -p base/scripts/probes && cp scripts/probes/submit-cost.mjs base/scripts/probes/; }
for round in 1 2 3; do
  for build in this base; do
    dir=.
    [[ $build == base ]] && dir=base
    for topo in "2 2" "2 4"; do (cd "$dir" && timeout 60 node scripts/probes/submit-cost.mjs $topo 64) | sed "s/^/round $round $build /"; done
    (cd "$dir" && cpu_row --machines 2 --devices 2 --bytes 16KiB --buckets 1 --slice-bytes 256) | sed "s/^/round $round $build sliced 2x2 /"
    (cd "$dir" && timeout 60 node dist/src/cli/main.js bench --backend cuda --machines 1 --devices 1 --pipelines fairring \
      --bytes 64KiB --buckets 2000 --iters 3 --warmup 1 --repeat 3) | grep -E '^\| [0-9]' | sed "s/^/round $round $build cuda 1x1 /"
  done
done 2>&1 | tee "$out/asks.txt"
since "asks done at"
cpu_ab 3 targets.txt "1 1" "2 2" "2 4"
since "done at"
