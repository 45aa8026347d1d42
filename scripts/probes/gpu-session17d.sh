#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), for session 17: collect without the copy to self (this build) against 0110457
# (base/, the copy to self through NCCL): the floor pairs with both engines and this build's loop against
# fr.cu (2 x 1, 64 x 25 MiB), the loop and the engine over 8 iterations (loop-slots.mjs, parallelism 8), and the
# 64 KiB stream's bench rows, interleaved.
# Usage: bash scripts/bundle.sh && bash scripts/probes/base-bundle.sh 0110457, then
# FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session17d.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
unpack_base
mkdir -p base/scripts/probes && cp scripts/probes/loop-slots.mjs base/scripts/probes/
BASE=base timeout 260 bash scripts/gpu-floor.sh 4
since "floor done at"
for round in 1 2; do
  for who in . base; do
    (cd $who && P=8 timeout 60 node scripts/probes/loop-slots.mjs 2 1 25 64 8 1 2>&1 | sed "s|^|round $round $who: |")
  done
done | tee "$out/loop-8.txt"
since "loops done at"
compare_rounds 65536 2000 small.txt
since "done at"
