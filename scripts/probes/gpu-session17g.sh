#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), for session 17: does a thread polling events every 20 µs (as the addon's watcher
# does while records are pending) slow one issuing thread? issuer-threads.cu, modes one and one-polled, 64 KiB
# and 25 MiB buckets, 3 rounds. Usage: bash scripts/gpu-run.sh bash scripts/probes/gpu-session17g.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
nvcc -O2 -arch=sm_90 -o /tmp/issuer-threads scripts/probes/issuer-threads.cu -lnccl -lpthread || exit 1
{
  for round in 1 2 3; do
    for w in "65536 2000" "26214400 64"; do
      for mode in one one-polled; do timeout 120 /tmp/issuer-threads $mode $w 5 | sed "s/^/round $round /"; done
    done
  done
  since "done at"
} 2>&1 | tee "$out/issuer-polled.txt"
