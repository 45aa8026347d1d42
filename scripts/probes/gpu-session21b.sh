#!/usr/bin/env bash
# Probe (GPU machine, 1 GPU), session 21: bench's warm-up until steady on CUDA. `fairring` and its native loop at
# 1 x 1 (2000 x 64 KiB, 64 x 25 MiB, one 256 MiB), bench's defaults otherwise; then 2 x 1 emulated across two
# processes on the one GPU (`launch --emulate-machines`, NCCL over loopback sockets), where each rank reads its own
# JS time and the warm-up's stop is agreed by an all-reduce per round: a correctness run (it must end, both ranks
# in step), with the warm-up's length printed.
# Usage: bash scripts/bundle.sh; bash scripts/gpu-run.sh bash scripts/probes/gpu-session21b.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
timeout 60 node scripts/probes/machine-costs.mjs | grep jsLoop | tee "$out/machine.txt"
for work in "64KiB 2000 3" "25MiB 64 3" "256MiB 1 20"; do
  read -r size buckets iters <<< "$work"
  /usr/bin/time -f "bench took %e s" timeout 120 node dist/src/cli/main.js bench --backend cuda --machines 1 --devices 1 --pipelines fairring \
    --bytes "$size" --buckets "$buckets" --iters "$iters" --repeat 5 2>&1 | grep -E '^\| [0-9]|took' | sed "s/^/1x1 /"
done 2>&1 | tee "$out/one-gpu.txt"
since "1x1 done at"
NCCL_SOCKET_NTHREADS=4 NCCL_NSOCKS_PERTHREAD=4 /usr/bin/time -f "job took %e s" timeout 200 node dist/src/cli/main.js launch --nnodes 2 --emulate-machines \
  --master-port 29600 --timeout 180 -- node dist/src/cli/main.js bench --connect --backend cuda --pipelines fairring --bytes 64KiB \
  --buckets 64 --iters 2 --warmup 1 --warmup-ms 5000 --repeat 3 2>&1 | grep -E '\| [0-9]|took|rror|exit' | tee "$out/emulated.txt"
since "done at"
