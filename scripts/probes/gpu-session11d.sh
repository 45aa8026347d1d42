#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 11: is the JS thread's time per slice larger on CUDA than on the CPU
# backend on the same host? `fairring` at 2 x 1, 64 buckets of 256 B on the CPU backend and of 256 B and 25 MiB
# on CUDA (bench rows: wall, JS busy and CPU per slice); then the engine alone at 25 MiB x 64 x 30 under
# node --cpu-prof at 100 µs (engine.cpuprofile).
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session11d.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
b() { timeout 90 node dist/src/cli/main.js bench --machines 2 --devices 1 --pipelines fairring --buckets 64 --iters 5 --warmup 2 --repeat 5 "$@" | grep -E '^\| [0-9]' | sed "s/^/$* /"; }
{
  b --backend cpu --bytes 256
  b --backend cuda --bytes 256
  b --backend cuda --bytes 25MiB
  b --backend cpu --bytes 256
} 2>&1 | tee "$out/backends.txt"
P=8 timeout 60 node --cpu-prof --cpu-prof-interval 100 --cpu-prof-dir=/tmp/prof scripts/probes/engine-groups.mjs 6553600 64 30
mv /tmp/prof/*.cpuprofile "$out/engine.cpuprofile"
since "all took"
