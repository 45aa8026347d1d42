#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), for session 17: a device record wakes the watcher only where it sleeps without a
# deadline (this build) against every record waking it (base/, the commit before): the native loop (loop-merge.mjs,
# the issuer's NCCL groups profiled at 64 KiB), the bench rows at 64 KiB, 1 MiB and 25 MiB, and the floor pairs.
# Usage: bash scripts/bundle.sh && bash scripts/probes/base-bundle.sh HEAD, then
# FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session17f.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
unpack_base
mkdir -p base/scripts/probes && cp scripts/probes/loop-merge.mjs base/scripts/probes/
for round in 1 2; do
  for who in . base; do
    (cd $who && timeout 60 node scripts/probes/loop-merge.mjs 2 1 26214400 64 8 3 2>&1 | sed "s|^|round $round $who: |")
    (cd $who && FAIRRING_NCCL_PROFILE=1 timeout 90 node scripts/probes/loop-merge.mjs 2 1 65536 2000 8 3 2>&1 | sed "s|^|round $round $who: |")
  done
done | tee "$out/loop.txt"
since "loops done at"
for w in "65536 2000" "1048576 256" "26214400 64"; do
  compare_rounds $w "rows-${w%% *}.txt"
done
since "rows done at"
BASE=base timeout 200 bash scripts/gpu-floor.sh 4 | grep -E "ratio:|^pair"
since "done at"
