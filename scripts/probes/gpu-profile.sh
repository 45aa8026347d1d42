#!/usr/bin/env bash
# Probe (GPU machine): V8 CPU profiles of the JS thread while the engine runs on CUDA, into $OUT/prof-*/:
# 2 x 1 in one process (64 x 25 MiB and 2000 x 64 KiB, fairring), and the 1 x GPUs bench --connect at 64 KiB
# (a process per GPU, call checks on). Then the 2 x 1 floor workload at parallelism 8, 16 and 32.
# Usage: bash scripts/gpu-run.sh bash scripts/probes/gpu-profile.sh
set -uo pipefail
out=${OUT:-/tmp/fairring-out}
gpus=$(nvidia-smi -L | wc -l)
prof() { echo "--cpu-prof --cpu-prof-interval 50 --cpu-prof-dir=$out/prof-$1"; }
b() { node $(prof "$1") dist/src/cli/main.js bench --backend cuda "${@:2}" 2>&1 | grep -E '^\| [0-9]' | sed "s/^/[$1] /"; }
b 2x1-25M --machines 2 --devices 1 --pipelines fairring --bytes 25MiB --buckets 64 --iters 100 --warmup 1 --repeat 1
b 2x1-64K --machines 2 --devices 1 --pipelines fairring --bytes 64KiB --buckets 2000 --iters 10 --warmup 1 --repeat 1
timeout 120 node dist/src/cli/main.js launch --nproc-per-node "$gpus" --master-port 29700 -- \
  node $(prof connect) dist/src/cli/main.js bench --connect --backend cuda --pipelines nccl --bytes 64KiB --buckets 2000 --iters 4 --warmup 1 --repeat 1 2>&1 | grep -E '^\[rank 0\] \| [0-9]'
for par in 8 16 32; do
  node dist/src/cli/main.js bench --backend cuda --machines 2 --devices 1 --pipelines fairring --bytes 25MiB --buckets 64 --iters 3 --warmup 1 --repeat 3 --parallelism $par 2>&1 | grep -E '^\| [0-9]' | sed "s/^/[parallelism $par] /"
done
