#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 16: the native loop against fr.cu with the same process model. fr.cu runs
# a process per rank, each issuing its own rank's stages; in one process the loop (and the engine) issue every
# rank's work from one issuer thread, which at 2000 x 64 KiB left both at ~0.45x of fr.cu (gpu-session16d.sh).
# Here `bench --connect --no-check-calls` under `fairring-rx launch`, a process per GPU (2 x 1 with one NCCL host
# id, NVLink between the machines; 1 x 2), the engine and its loop, between fr.cu runs of the same workload.
# Usage: FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session16f.sh
set -uo pipefail
source scripts/probes/lib.sh
source scripts/fr-yardstick.sh
probe_begin
fr=$(fr_build)
port=29400
launch() { port=$((port + 20)); timeout 150 node dist/src/cli/main.js launch --master-port "$port" --timeout 140 "$@" | grep -E '^\[rank 0\] \| [0-9]'; }
bench=(node dist/src/cli/main.js bench --connect --no-check-calls --backend cuda)
{
  for w in "26214400 64 25MiB 5" "65536 2000 64KiB 3"; do
    read -r bytes buckets size repeat <<<"$w"
    echo "## 2 x 1, a process per GPU (one NCCL host id), $buckets x $size"
    bash "$fr" 2 1 fairring "$bytes" "$buckets" 1 5
    NCCL_HOSTID=one launch --nnodes 2 --emulate-machines -- "${bench[@]}" --pipelines fairring --bytes "$size" --buckets "$buckets" --iters 1 --warmup 2 --repeat "$repeat"
    bash "$fr" 2 1 fairring "$bytes" "$buckets" 1 5
    since "at"
    echo "## 1 x 2, a process per GPU, $buckets x $size"
    bash "$fr" 1 2 fairring "$bytes" "$buckets" 1 5
    launch --nproc-per-node 2 -- "${bench[@]}" --pipelines local --bytes "$size" --buckets "$buckets" --iters 1 --warmup 2 --repeat "$repeat"
    bash "$fr" 1 2 fairring "$bytes" "$buckets" 1 5
    since "at"
  done
} 2>&1 | tee "$out/connect-loop.txt"
