#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), for session 17: the yardstick table on this build: for 2 x 1 and 1 x 2 and each
# workload, fr.cu (one process per rank) then the native loop (loop-merge.mjs: 1 and 8 iterations, with and
# without its replay call), 2 rounds; the floor (gpu-floor.sh, 4 pairs) first.
# Usage: bash scripts/bundle.sh, then FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session17i.sh
set -uo pipefail
source scripts/probes/lib.sh
source scripts/fr-yardstick.sh
probe_begin
fr=$(fr_build)
timeout 150 bash scripts/gpu-floor.sh 4 | grep -E "ratio:|^pair"
since "floor done at"
{
  for round in 1 2; do
    for topo in "2 1" "1 2"; do
      for w in "26214400 64" "268435456 1" "65536 2000"; do
        read -r m d <<<"$topo"
        read -r bytes buckets <<<"$w"
        bash "$fr" $m $d fairring $bytes $buckets 1 5 | sed "s/^/round $round fr.cu ${m}x${d}: /"
        timeout 90 node scripts/probes/loop-merge.mjs $m $d $bytes $buckets 8 3 2>&1 | sed "s/^/round $round loop: /"
      done
    done
  done
  since "yardstick done at"
} 2>&1 | tee "$out/yardstick.txt"
