#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 9's last lease: the session's final build. The CUDA suite (now with the
# NCCL profile test); the vanishing-rank job twice with both survivors under cuda-gdb; the floor (gpu-floor.sh,
# 5 pairs) with the session's first build (0995e61, scripts/probes/base-bundle.sh 0995e61) as BASE in every
# pair; the issuer's timeline (FAIRRING_NCCL_PROFILE_LOG, issuer-timeline.mjs) for the engine alone at 2 x 1,
# 25 MiB x 64 and 64 KiB x 2000 (timeline.txt). Needs FR_SRC (fr.cu's folder).
# Usage: bash scripts/bundle.sh && bash scripts/probes/base-bundle.sh 0995e61, then
#        FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session9g.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
unpack_base
run_suite 330
vanish_gdb 2 120 "$out"
since "vanish done at"
for size in "6553600 64 20" "16384 2000 3"; do
  FAIRRING_NCCL_PROFILE_LOG=/tmp/timeline.csv timeout 60 node scripts/probes/engine-groups.mjs $size 2>&1 | grep -v "^$"
  node scripts/probes/issuer-timeline.mjs /tmp/timeline.csv 150
done 2>&1 | tee "$out/timeline.txt"
BASE=base timeout 240 bash scripts/gpu-floor.sh 5 | grep -E "^pair|ratio"
since "all took"
