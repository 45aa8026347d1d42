#!/usr/bin/env bash
# Probe (GPU machine, 1 GPU), for session 18: fewer submits per slice (scripts/probes/patches/fewer-submits.patch:
# a job's last slice no longer flushes mid-turn; `want` flushes only for a record not yet submitted), this build
# against base/ = main: the CPU
# targets' rows and js-cpu.mjs (3 interleaved rounds), the sliced job, and on CUDA at 1 x 1 the
# 2000 x 64 KiB stream (3 rounds); the host's plain-JS speed first.
# Usage: bash scripts/bundle.sh && bash scripts/probes/base-bundle.sh main, then
# bash scripts/gpu-run.sh bash scripts/probes/gpu-session18d.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
unpack_base
timeout 60 node scripts/probes/machine-costs.mjs | grep -E "jsLoop|wakeRound|cacheLine"
for round in 1 2 3; do
  for build in this base; do
    dir=.
    [[ $build == base ]] && dir=base
    (cd "$dir" && timeout 60 node dist/src/cli/main.js bench --backend cuda --machines 1 --devices 1 --pipelines fairring \
      --bytes 64KiB --buckets 2000 --iters 3 --warmup 1 --repeat 3) | grep -E '^\| [0-9]' | sed "s/^/round $round $build cuda 1x1 /"
    (cd "$dir" && cpu_row --machines 2 --devices 2 --bytes 16KiB --buckets 1 --slice-bytes 256) | sed "s/^/round $round $build sliced 2x2 /"
  done
done 2>&1 | tee "$out/cuda-sliced.txt"
since "cuda and sliced rows done at"
cpu_ab 3 targets.txt "1 1" "2 2" "2 4"
since "done at"
