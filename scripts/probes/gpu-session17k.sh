#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), for session 17: why `fairring` trails its loop on 64 KiB buckets at 2 x 1 since the
# loop got faster: the issuer's NCCL groups and batches (FAIRRING_NCCL_PROFILE) for the engine alone
# (engine-groups.mjs, 2000 x 64 KiB, 3 rounds) and for the loop alone (loop-merge.mjs), 2 rounds.
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session17k.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
for round in 1 2; do
  FAIRRING_NCCL_PROFILE=1 timeout 60 node scripts/probes/engine-groups.mjs 16384 2000 3 2>&1 | sed "s/^/round $round engine: /"
  FAIRRING_NCCL_PROFILE=1 timeout 60 node scripts/probes/loop-merge.mjs 2 1 65536 2000 3 1 2>&1 | sed "s/^/round $round loop: /"
done 2>&1 | tee "$out/groups.txt"
since "done at"
