#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 11: do merged groups' bursts of completions hold the engine back? The
# engine alone at 2 x 1, 25 MiB x 64, 30 rounds: merge cap 8 (default) against 4 at parallelism 8, and
# parallelism 16 with memoryBytes 512 MiB (so that a 25 MiB bucket stays one slice) at caps 8 and 4; then
# 64 KiB x 2000 at the same four; three interleaved passes.
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session11h.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
{
  for size in "6553600 64 30" "16384 2000 3"; do
    for pass in 1 2 3; do
      for cfg in "P=8 MG=8" "P=8 MG=4" "P=16 MG=8 MEM=536870912" "P=16 MG=4 MEM=536870912"; do
        env $cfg timeout 60 node scripts/probes/engine-groups.mjs $size 2>&1 | grep -E "^engine" | sed "s/^/pass $pass $cfg: /"
      done
    done
  done
} 2>&1 | tee "$out/clusters.txt"
since "all took"
