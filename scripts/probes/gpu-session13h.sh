#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 13: where the JS thread's time per all-reduce goes on CUDA in a steady state
# (node --cpu-prof at 100 µs over `bench` runs long enough that start-up is a small part: 1 x 2 one 256 MiB bucket
# x 1000 iterations, 2 x 1 2000 x 64 KiB x 3), summarized with inclusive times; then the floor against fr.cu with
# base/ (e3ae42a, before this session's issuer changes) in every pair.
# Usage: bash scripts/bundle.sh && bash scripts/probes/base-bundle.sh e3ae42a, then
# FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session13h.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
unpack_base
{
  cpu_prof "1x2 256MiB" 40 --warmup 1 --repeat 1 --machines 1 --devices 2 --bytes 256MiB --buckets 1 --iters 1000
  cpu_prof "2x1 64KiB" 40 --warmup 1 --repeat 1 --machines 2 --devices 1 --bytes 64KiB --buckets 2000 --iters 3
} 2>&1 > "$out/prof.txt"
grep -E '\| [0-9]' "$out/prof.txt"
since "profiles done at"
OUT=/tmp/floor BASE=base timeout 300 bash scripts/gpu-floor.sh 5 > /dev/null 2>&1
grep -E '^pair|ratio: median' /tmp/floor/floor.txt | tee "$out/floor.txt"
since "all took"
