#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 15: the host's round trip between iterations in the bucket streams
# (stream-latency.mjs): awaited iterations, two sets overlapped and the native loop, at 1 x 2 and 2 x 1, for
# 64 x 25 MiB (5 rounds of 5 iterations) and 2000 x 64 KiB (3 rounds of 2).
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session15d.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
for topo in "1 2" "2 1"; do
  timeout 120 node scripts/probes/stream-latency.mjs $topo 25 64 5 5
  timeout 120 node scripts/probes/stream-latency.mjs $topo 0.0625 2000 2 3
done 2>&1 | tee "$out/stream-latency.txt"
since "all took"
