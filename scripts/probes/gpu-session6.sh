#!/usr/bin/env bash
# Probe (GPU machine), session 6: the CUDA suite on this build; a V8 CPU profile of the JS thread at 2 x 1 on
# CUDA (64 x 25 MiB, fairring); per-stage device time and parallelism 8/16/32 on the floor workload; the 2 x 1
# floor in 3 pairs against fr.cu. Output in $OUT (info.txt, gpu-tests.txt, session6.txt, floor.txt,
# prof-2x1/*.cpuprofile). Usage: FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session6.sh
set -uo pipefail
out=${OUT:-/tmp/fairring-out}
mkdir -p "$out"
bash scripts/gpu-suite.sh tests
b() { node dist/src/cli/main.js bench --backend cuda --machines 2 --devices 1 --pipelines fairring --bytes 25MiB --buckets 64 "$@" 2>&1 | grep -E '^\| [0-9]|^\| stage|^\|.*ms'; }
{
  echo "== profile"
  node --cpu-prof --cpu-prof-interval 50 --cpu-prof-dir="$out/prof-2x1" dist/src/cli/main.js bench --backend cuda --machines 2 --devices 1 \
    --pipelines fairring --bytes 25MiB --buckets 64 --iters 40 --warmup 2 --repeat 1 2>&1 | grep -E '^\| [0-9]'
  echo "== timings"
  node dist/src/cli/main.js bench --backend cuda --machines 2 --devices 1 --pipelines fairring --bytes 25MiB --buckets 64 --iters 5 --warmup 2 --repeat 1 --timings 2>&1 | tail -25
  for par in 8 16 32 8 16 32; do echo "== parallelism $par"; b --iters 1 --warmup 2 --repeat 5 --parallelism $par; done
} 2>&1 | tee "$out/session6.txt"
bash scripts/gpu-floor.sh 3 | grep -E 'ratio|pair|GPU'
rm -f "$out"/floor-*
