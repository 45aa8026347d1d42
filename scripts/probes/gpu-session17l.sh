#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), for session 17: does a larger slice help one 256 MiB bucket at 2 x 1? memoryBytes
# 256 MiB (the default: 32 MiB slots, 9 slices per bucket), 512 MiB (5 slices) and 2 GiB (1 slice, as fr.cu's
# S=1): the loop (loop-merge.mjs, 8 iterations) and the engine (engine-groups.mjs, 8 rounds), 2 rounds; fr.cu once.
# Usage: bash scripts/bundle.sh, then FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session17l.sh
set -uo pipefail
source scripts/probes/lib.sh
source scripts/fr-yardstick.sh
probe_begin
fr=$(fr_build)
{
  bash "$fr" 2 1 fairring 268435456 1 1 5 | sed "s/^/fr.cu: /"
  for round in 1 2; do
    for mem in 268435456 536870912 2147483648; do
      MEM=$mem timeout 60 node scripts/probes/loop-merge.mjs 2 1 268435456 1 8 3 2>&1 | sed "s/^/round $round loop: /"
      MEM=$mem timeout 60 node scripts/probes/engine-groups.mjs 67108864 1 8 2>&1 | grep "per bucket" | sed "s/^/round $round MEM=$mem /"
    done
  done
  since "done at"
} 2>&1 | tee "$out/big-slices.txt"
