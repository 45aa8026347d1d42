#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), branch local-blocking: blocking communicators where every rank is in the process.
# The CUDA suite; the vanishing-rank job twice under cuda-gdb (processes: still nonblocking); the floor, 5 pairs
# with main's build as the base in every pair; the engine alone with the NCCL profile at 25 MiB and 64 KiB.
# Usage: bash scripts/bundle.sh && bash scripts/probes/base-bundle.sh main, then
#        FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session12a.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
unpack_base
run_suite 330
vanish_gdb 2 120 "$out"
since "vanish done at"
for size in "6553600 64 30" "16384 2000 3"; do
  FAIRRING_NCCL_PROFILE=1 timeout 60 node scripts/probes/engine-groups.mjs $size 2>&1 | grep -E "^engine|NCCL groups"
  mkdir -p base/scripts/probes && cp scripts/probes/engine-groups.mjs base/scripts/probes/
  (cd base && FAIRRING_NCCL_PROFILE=1 timeout 60 node scripts/probes/engine-groups.mjs $size 2>&1 | grep -E "^engine|NCCL groups" | sed "s/^/base: /")
done 2>&1 | tee "$out/engine.txt"
BASE=base timeout 240 bash scripts/gpu-floor.sh 5 | grep -E "^pair|ratio"
rm -f "$out"/floor-*.json "$out"/floor-*.md
since "all took"
