#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 6, fourth lease: a V8 CPU profile of the JS thread at 2 x 1 on CUDA
# (64 x 25 MiB, fairring, one process) and the 2 x 1 floor in 3 pairs against fr.cu. Output in $OUT
# (session6d.txt, floor.txt, prof-2x1/*.cpuprofile). Usage: FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session6d.sh
set -uo pipefail
out=${OUT:-/tmp/fairring-out}
mkdir -p "$out"
{
  node --cpu-prof --cpu-prof-interval 50 --cpu-prof-dir="$out/prof-2x1" dist/src/cli/main.js bench --backend cuda --machines 2 --devices 1 \
    --pipelines fairring --bytes 25MiB --buckets 64 --iters 30 --warmup 2 --repeat 1 2>&1 | grep -E '^\| [0-9]'
  node dist/src/cli/main.js bench --backend cpu --machines 2 --devices 1 --pipelines fairring --bytes 256 --buckets 64 --iters 60 --warmup 5 --repeat 3 2>&1 | grep -E '^\| [0-9]'
} 2>&1 | tee "$out/session6d.txt"
bash scripts/gpu-floor.sh 3 | grep -E 'ratio|pair'
rm -f "$out"/floor-*
