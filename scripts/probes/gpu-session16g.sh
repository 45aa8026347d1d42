#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 16: merge caps by count and by bytes (the Queue's new mergeBytes) for the
# engine alone at 2 x 1 (engine-groups.mjs, µs per bucket over its rounds). gpu-session16d.sh found, at
# parallelism 8, merge cap 4 faster than the default 2 on 2000 x 64 KiB (97.6 against 119.5 ms per iteration)
# and no better on 64 x 25 MiB; a byte bound lets small groups merge deeply while large ones go alone.
# Configurations interleaved, two passes: MG (count cap) and MB (bytes per set) as engine-groups.mjs takes them.
# Not kept (no byte bound beat the plain caps): the Queue's mergeBytes and engine-groups.mjs's MB are in
# scripts/probes/patches/merge-bytes.patch; apply it (git apply) and rebuild before running this again.
# Usage: bash scripts/gpu-run.sh bash scripts/probes/gpu-session16g.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
configs=("2 -" "4 -" "8 -" "4 4194304" "8 4194304" "16 4194304" "8 1048576")
{
  for pass in 1 2; do
    for w in "6553600 64 5" "262144 256 5" "16384 2000 3"; do
      for c in "${configs[@]}"; do
        read -r mg mb <<<"$c"
        env MG=$mg $([[ $mb != - ]] && echo MB=$mb) timeout 60 node scripts/probes/engine-groups.mjs $w 2>&1 |
          grep -E '^engine:' | sed "s/^/pass $pass MG=$mg MB=$mb /"
      done
    done
    since "pass $pass at"
  done
} 2>&1 | tee "$out/merge-bytes.txt"
