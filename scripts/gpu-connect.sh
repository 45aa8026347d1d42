#!/usr/bin/env bash
# On the GPU machine (through scripts/gpu-run.sh): one process per rank through `fairring-rx launch`, the engine
# (`bench --connect`) against fr.cu (when FR_SRC names its folder) in the same lease: 1 x GPUs on NVLink; 2 x 1
# with one NCCL host id (NVLink between the machines) and emulated over loopback sockets. Results in $OUT.
# Usage: FR_SRC=<dir> bash scripts/gpu-run.sh bash scripts/gpu-connect.sh [repeat]
set -uo pipefail
repeat=${1:-3}
out=${OUT:-/tmp/fairring-out}
mkdir -p "$out"
gpus=$(nvidia-smi -L | wc -l)
source "$(dirname "$0")/fr-yardstick.sh"
fr=$(fr_build)
port=29400
launch() { port=$((port + 20)); timeout 300 node dist/src/cli/main.js launch --master-port "$port" --timeout 280 "$@"; echo "(exit $?)"; echo; }
bench=(node dist/src/cli/main.js bench --connect --backend cuda --repeat "$repeat")
{
  nvidia-smi -L
  echo "## 1 x $gpus, a process per GPU (NVLink)"
  if [[ -n $fr ]]; then bash "$fr" 1 "$gpus" nccl 26214400 64 1 5; bash "$fr" 1 "$gpus" fairring 26214400 64 1 5; fi
  launch --nproc-per-node "$gpus" -- "${bench[@]}" --pipelines local,nccl --bytes 25MiB --buckets 64 --iters 2 --warmup 1
  launch --nproc-per-node "$gpus" -- "${bench[@]}" --pipelines local,nccl --bytes 64KiB --buckets 2000 --iters 1 --warmup 1
  if [[ $gpus -ge 2 ]]; then
    echo "## 2 x 1, one NCCL host id (NVLink between the machines)"
    if [[ -n $fr ]]; then bash "$fr" 2 1 fairring 26214400 64 1 5; bash "$fr" 2 1 nccl 26214400 64 1 5; fi
    NCCL_HOSTID=one launch --nnodes 2 --emulate-machines -- "${bench[@]}" --pipelines fairring,nccl --bytes 25MiB --buckets 64 --iters 2 --warmup 1
    NCCL_HOSTID=one launch --nnodes 2 --emulate-machines -- "${bench[@]}" --pipelines fairring,nccl --bytes 64KiB --buckets 2000 --iters 1 --warmup 1
  fi
  echo "## 2 x 1 emulated over loopback sockets (correctness-grade: bound by NCCL's proxy threads)"
  if [[ -n $fr ]]; then FR_HOSTS=emulate bash "$fr" 2 1 fairring 26214400 64 1 3; FR_HOSTS=emulate bash "$fr" 2 1 nccl 26214400 64 1 3; fi
  launch --nnodes 2 --emulate-machines -- "${bench[@]}" --pipelines fairring,nccl --bytes 25MiB --buckets 16 --iters 1 --warmup 1
} 2>&1 | tee "$out/connect.md"
