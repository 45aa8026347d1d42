#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 6, closing lease: the whole CUDA suite on this build; the CPU backend's
# host cost per slice on the GPU host's cores; the 2 x 1 floor in 5 interleaved pairs against fr.cu. Output in
# $OUT (info.txt, gpu-tests.txt, host.txt, floor.txt). Usage: FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session6g.sh
set -uo pipefail
out=${OUT:-/tmp/fairring-out}
mkdir -p "$out"
timeout 320 bash scripts/gpu-suite.sh tests
{
  nproc
  for topo in "1 1" "2 1" "2 2" "2 4"; do
    set -- $topo
    node dist/src/cli/main.js bench --backend cpu --machines "$1" --devices "$2" --pipelines fairring --bytes 256 --buckets 64 --iters 60 --warmup 5 --repeat 3 | grep -E '^\| [0-9]|^CPU backend'
  done
} 2>&1 | tee "$out/host.txt"
bash scripts/gpu-floor.sh 5 | grep -E 'ratio|pair'
rm -f "$out"/floor-*
