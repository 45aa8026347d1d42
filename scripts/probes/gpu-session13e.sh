#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 13: what an iteration of one large bucket costs the engine beyond its native
# loop (iteration-latency.mjs at 1 x 2 and 2 x 1, 256 MiB), and the issuer's NCCL group times for it
# (FAIRRING_NCCL_PROFILE). Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session13e.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
{
  timeout 120 node scripts/probes/iteration-latency.mjs 1 2 256 200 3
  timeout 120 node scripts/probes/iteration-latency.mjs 2 1 256 200 3
  timeout 120 node scripts/probes/iteration-latency.mjs 2 1 25 200 3
  for topo in "1 2" "2 1"; do
    read -r m d <<< "$topo"
    FAIRRING_NCCL_PROFILE=1 timeout 60 node dist/src/cli/main.js bench --backend cuda --machines "$m" --devices "$d" \
      --pipelines fairring --bytes 256MiB --buckets 1 --iters 200 --warmup 1 --repeat 1 2>&1 | grep -E '^\| [0-9]|NCCL groups' | sed "s/^/${m}x${d} /"
  done
} 2>&1 | tee "$out/latency.txt"
since "all took"
