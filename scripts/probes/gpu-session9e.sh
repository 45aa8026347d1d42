#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 9's fifth lease: the plan's 1 MiB cap on merged items, kept or lifted
# (FAIRRING_MERGE_MAX_ITEM_BYTES: build 52578e8 with scripts/probes/patches/merge-cap.patch), in interleaved pairs with the NCCL
# group profile: the engine alone at 2 x 1 (engine-groups.mjs), 25 MiB x 64 (5 pairs) and 4 MiB x 64 (3 pairs),
# into cap.txt; then the floor's pairs as gpu-session9c.sh (floor.txt). Needs FR_SRC (fr.cu's folder).
# Usage: FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session9e.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
lift=FAIRRING_MERGE_MAX_ITEM_BYTES=1099511627776
one() {  # one <label> <floats> [env...]
  local label=$1 floats=$2
  shift 2
  echo "$label: $(env FAIRRING_NCCL_PROFILE=1 "$@" timeout 60 node scripts/probes/engine-groups.mjs "$floats" 64 5 2>&1 | tr '\n' ' ')"
}
{
  for i in 1 2 3 4 5; do
    one "pair $i capped 25MiB" 6553600 NCCL_NVLS_ENABLE=0
    one "pair $i lifted 25MiB" 6553600 $lift
  done
  for i in 1 2 3; do
    one "pair $i capped 4MiB" 1048576 NCCL_NVLS_ENABLE=0
    one "pair $i lifted 4MiB" 1048576 $lift
  done
} 2>&1 | tee "$out/cap.txt"
bash scripts/probes/floor-pairs.sh "$lift" | tee "$out/floor.txt"
since "all took"
