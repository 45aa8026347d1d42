#!/usr/bin/env bash
# Probe (GPU machine), session 5: the CUDA suite on this build; the CPU backend's host cost per slice on the GPU
# host's 16 cores (the development machine has 2); the 2 x 1 floor in 3 pairs against fr.cu. Output in $OUT
# (info.txt, gpu-tests.txt, session5.txt). Usage: FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session5.sh
set -uo pipefail
out=${OUT:-/tmp/fairring-out}
mkdir -p "$out"
bash scripts/gpu-suite.sh tests
{
  nproc
  for topo in "1 1" "2 1" "2 2" "2 4"; do
    set -- $topo
    node dist/src/cli/main.js bench --backend cpu --machines "$1" --devices "$2" --pipelines fairring --bytes 256 --buckets 64 --iters 60 --warmup 5 --repeat 3 | grep -E '^\| [0-9]|^CPU backend'
  done
  bash scripts/gpu-floor.sh 3 | grep -E 'ratio|pair|GPU'
} 2>&1 | tee "$out/session5.txt"
rm -f "$out"/floor-*
