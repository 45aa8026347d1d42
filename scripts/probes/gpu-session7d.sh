#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 7, third lease: the CUDA vanishing-rank job 6 times with its survivors
# under cuda-gdb (one died of SIGSEGV in the second lease); the native submit's cost per slice on the CPU
# backend on this host's cores; the 2 x 1 64 KiB bucket stream at parallelism 8, 16 and 32 (is it bound by the
# host's round trip?). Output in $OUT. Usage: bash scripts/gpu-run.sh bash scripts/probes/gpu-session7d.sh
set -uo pipefail
out=${OUT:-/tmp/fairring-out}
mkdir -p "$out"
RUNS=6 GDB_RANKS="0 1" timeout 330 bash scripts/probes/vanish-gdb.sh 2>&1 | tee "$out/vanish.txt"
{
  nproc
  for topo in "1 1" "2 1" "2 2" "2 4"; do node scripts/probes/submit-cost.mjs $topo; done
} 2>&1 | tee "$out/submit.txt"
for p in 8 16 32 8; do
  node dist/src/cli/main.js bench --backend cuda --machines 2 --devices 1 --pipelines fairring --bytes 64KiB --buckets 2000 \
    --iters 3 --warmup 1 --repeat 3 --parallelism $p | grep -E '^\| 64 KiB' | sed "s/^/parallelism $p: /"
done 2>&1 | tee "$out/parallelism.txt"
