#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 9's fourth lease: why merged groups speed the native loop at 25 MiB and
# not the engine. The engine alone (engine-groups.mjs) with the NCCL group profile, which now counts calls per
# group and programs per issuer batch: 25 MiB x 64 and 64 KiB x 2000, the merge cap as it is and lifted
# (FAIRRING_MERGE_MAX_ITEM_BYTES: build 52578e8 with scripts/probes/patches/merge-cap.patch), 2 rounds (groups.txt).
# Usage: bash scripts/gpu-run.sh bash scripts/probes/gpu-session9d.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
lift=FAIRRING_MERGE_MAX_ITEM_BYTES=1099511627776
for round in 1 2; do
  for cap in capped lifted; do
    e=FAIRRING_NCCL_PROFILE=1; [[ $cap == lifted ]] && e="$e $lift"
    echo "r$round $cap 25MiB: $(env $e timeout 60 node scripts/probes/engine-groups.mjs 6553600 64 5 2>&1 | tr '\n' ' ')"
    echo "r$round $cap 64KiB: $(env $e timeout 60 node scripts/probes/engine-groups.mjs 16384 2000 1 2>&1 | tr '\n' ' ')"
  done
done 2>&1 | tee "$out/groups.txt"
