#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), for session 17: the native loop at 2 x 1 with the merge cap at 1 (direct) and 2
# (the default), its replay call timed apart (loop-merge.mjs), 64 x 25 MiB and 2000 x 64 KiB, 1 and 8 iterations,
# 3 rounds; the 64 KiB runs with FAIRRING_NCCL_PROFILE=1 (the issuer's NCCL groups). And which profilers exist.
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session17e.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
{
  command -v nsys perf ncu; ls /usr/local/cuda*/bin 2>/dev/null | grep -E 'nsys|ncu' | head
  for merge in 1 2; do
    MERGE=$merge timeout 60 node scripts/probes/loop-merge.mjs 2 1 26214400 64 8 3
    MERGE=$merge FAIRRING_NCCL_PROFILE=1 timeout 90 node scripts/probes/loop-merge.mjs 2 1 65536 2000 8 3
  done
  since "done at"
} 2>&1 | tee "$out/loop-merge.txt"
