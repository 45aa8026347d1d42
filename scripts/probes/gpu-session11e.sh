#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 11: a slice settled by a report is sent to the Queue at once (this build)
# against one report's slices sent at its end (base, scripts/probes/base-bundle.sh 89da2d8): `fairring` at 2 x 1,
# 25 MiB x 64 and 256 B x 64, 3 interleaved rounds (bench rows); the floor, 3 pairs with base in each.
# Usage: bash scripts/bundle.sh && bash scripts/probes/base-bundle.sh 89da2d8, then
#        FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session11e.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
unpack_base
{
  for round in 1 2 3; do
    for size in "25MiB 64" "256 64"; do
      bench_rows . "round $round this:" $size
      bench_rows base "round $round base:" $size
    done
  done
} 2>&1 | tee "$out/ab.txt"
since "a/b done at"
BASE=base timeout 200 bash scripts/gpu-floor.sh 3 | grep -E "^pair|ratio" | tee "$out/floor-summary.txt"
rm -f "$out"/floor-*.json "$out"/floor-*.md
since "all took"
