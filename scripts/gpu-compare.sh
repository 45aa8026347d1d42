#!/usr/bin/env bash
# On the GPU machine (through scripts/gpu-run.sh): the engine's pipelines and its native reference loop against
# an independent native yardstick (fr.cu, built here with nvcc and the host's NCCL, when FR_SRC names its
# folder), at one machine x all GPUs and at GPUs machines x 1, in one lease, results into $OUT.
# Usage: bash scripts/gpu-run.sh bash scripts/gpu-compare.sh [repeat]
set -uo pipefail
repeat=${1:-5}
out=${OUT:-/tmp/fairring-out}
mkdir -p "$out"
gpus=$(nvidia-smi -L | wc -l)
source "$(dirname "$0")/fr-yardstick.sh"
fr=$(fr_build)
bench() { node dist/src/cli/main.js bench --backend cuda --repeat "$repeat" "$@"; echo; }
{
  nvidia-smi -L
  for topo in "1 $gpus" "$gpus 1"; do
    set -- $topo
    pipes=$([[ $1 == 1 ]] && echo local,nccl || echo fairring,nccl)
    if [[ -n $fr ]]; then
      for mode in fairring nccl; do
        bash "$fr" "$1" "$2" "$mode" 26214400 64 1 5
        bash "$fr" "$1" "$2" "$mode" 268435456 1 1 5
      done
    fi
    bench --machines "$1" --devices "$2" --pipelines "$pipes" --bytes 25MiB --buckets 64 --iters 2 --warmup 1
    # At one device per machine the staging slot bounds the slice: 64 MiB / 8 slots = 8 MiB by default.
    [[ $2 == 1 ]] && bench --machines "$1" --devices "$2" --pipelines "$pipes" --bytes 25MiB --buckets 64 --iters 2 --warmup 1 --memory-bytes 256MiB
    bench --machines "$1" --devices "$2" --pipelines "$pipes" --bytes 256MiB --buckets 1 --iters 4 --warmup 1
    [[ $2 == 1 ]] && bench --machines "$1" --devices "$2" --pipelines "$pipes" --bytes 256MiB --buckets 1 --iters 4 --warmup 1 --memory-bytes 256MiB
    bench --machines "$1" --devices "$2" --pipelines "$pipes" --bytes 64KiB --buckets 2000 --iters 1 --warmup 1
    bench --machines "$1" --devices "$2" --pipelines "$pipes" --bytes 25MiB --buckets 64 --iters 1 --warmup 1 --repeat 1 --timings --memory-bytes 256MiB
  done
} 2>&1 | tee "$out/compare.md"
