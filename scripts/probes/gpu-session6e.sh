#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 6, last lease: the CUDA connect tests (ranks crashed at exit in the third
# lease); a V8 CPU profile of the JS thread at 2 x 1 on CUDA (64 x 25 MiB, fairring, one process); the 2 x 1
# floor in 3 interleaved pairs, this build against bundle/base.tar.xz (the same tree without the watcher's
# change: it spun on cudaEventQuery after each completion). Output in $OUT.
# Usage: FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session6e.sh
set -uo pipefail
out=${OUT:-/tmp/fairring-out}
mkdir -p "$out" base && tar -xJf bundle/base.tar.xz -C base && ln -sfn ../node_modules base/node_modules
timeout 200 node node_modules/mocha/bin/mocha.js --grep 'connect\(\) on CUDA' > "$out/connect.txt" 2>&1; echo "connect rc=$?" | tee -a "$out/connect.txt"
grep -E 'passing|failing|pending' "$out/connect.txt"
node --cpu-prof --cpu-prof-interval 50 --cpu-prof-dir="$out/prof-2x1" dist/src/cli/main.js bench --backend cuda --machines 2 --devices 1 \
  --pipelines fairring --bytes 25MiB --buckets 64 --iters 30 --warmup 2 --repeat 1 2>&1 | grep -E '^\| [0-9]'
BASE=base bash scripts/gpu-floor.sh 3 | grep -E 'ratio|pair'
rm -f "$out"/floor-*
