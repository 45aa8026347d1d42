#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 11: where the engine's time goes at 2 x 1 against the native loop. The
# engine alone (engine-groups.mjs) at parallelism 8 and 32, 25 MiB x 64 and 64 KiB x 2000: µs per bucket, when
# the buckets resolved, the NCCL profile line, and the issuer's timeline with how much of it had groups in flight.
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session11a.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
for p in 8 32; do
  for size in "6553600 64 10" "16384 2000 3"; do
    P=$p FAIRRING_NCCL_PROFILE_LOG=/tmp/timeline.csv timeout 60 node scripts/probes/engine-groups.mjs $size 2>&1 | grep -v "^$"
    node scripts/probes/issuer-timeline.mjs /tmp/timeline.csv 150
  done
done 2>&1 | tee "$out/timeline.txt"
since "all took"
