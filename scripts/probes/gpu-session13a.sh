#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), for session 13: where the JS thread's time goes when one large bucket is reduced
# at a time (session 12: 616 µs of JS per iteration at 1 x 2 with one 256 MiB bucket, against 140-175 µs for
# the same shape on the CPU backend). `bench` at 1 x 2 and 2 x 1, one 256 MiB bucket, and at 2 x 1 64 x 25 MiB for
# comparison, each under node --cpu-prof (100 µs), summarized by scripts/probes/cpuprof-top.mjs into prof.txt.
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session13a.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
{
  cpu_prof "1x2 256MiB" 25 --warmup 2 --repeat 3 --machines 1 --devices 2 --bytes 256MiB --buckets 1 --iters 20
  cpu_prof "2x1 256MiB" 25 --warmup 2 --repeat 3 --machines 2 --devices 1 --bytes 256MiB --buckets 1 --iters 20
  cpu_prof "2x1 25MiB" 25 --warmup 2 --repeat 3 --machines 2 --devices 1 --bytes 25MiB --buckets 64 --iters 5
} 2>&1 | tee "$out/prof.txt"
since "all took"
