#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 16: the native loop at 2 x 1 reached 0.72-0.80x of fr.cu's five stages in
# the floor pairs (gpu-session16b.sh), while the engine reached 0.81-0.93x. Is it the slot count (fr.cu stages
# each slice in its own slot at D = 1; the loop and the engine reuse `parallelism` slots) or the replay's own
# cost before it issues? fr.cu, then loop-slots.mjs at parallelism 8, 16 and 64, then fr.cu again; the same at 1 x 2.
# Usage: FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session16c.sh
set -uo pipefail
source scripts/probes/lib.sh
source scripts/fr-yardstick.sh
probe_begin
fr=$(fr_build)
for md in "2 1" "1 2"; do
  for i in 1 2; do bash "$fr" $md fairring 26214400 64 1 5; done
  P="8 16 64" timeout 150 node scripts/probes/loop-slots.mjs $md 25 64 8 5
  for i in 1 2; do bash "$fr" $md fairring 26214400 64 1 5; done
  since "$md done at"
done 2>&1 | tee "$out/loop-slots.txt"
