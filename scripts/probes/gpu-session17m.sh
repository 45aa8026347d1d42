#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), for session 17, branch exp/issuer-lanes: a group on blocking communicators that
# spans devices issued a part per device at once (each device's part on a thread of its own) against main (base/):
# the CUDA all-reduce tests of every op on float32, the loop's check and many slices (cut at 70 s), then the loop
# (loop-merge.mjs) at 2 x 1 on 64 KiB and 25 MiB and the engine alone on 64 KiB (engine-groups.mjs).
# Usage: bash scripts/bundle.sh && bash scripts/probes/base-bundle.sh main, then
# bash scripts/gpu-run.sh bash scripts/probes/gpu-session17m.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
unpack_base
for f in loop-merge.mjs engine-groups.mjs; do mkdir -p base/scripts/probes && cp scripts/probes/$f base/scripts/probes/; done
timeout 70 node node_modules/mocha/bin/mocha.js --no-config --timeout 60000 dist/test/gpu/allreduce.test.js \
  --grep "every op on float32|reference loop computes|many slices" 2>&1 | grep -E "passing|failing|pending|✔|[0-9]+\)" | head -30
since "tests done at"
for who in . base; do
  (cd $who && timeout 30 node scripts/probes/loop-merge.mjs 2 1 65536 2000 3 2 2>&1 | sed "s|^|$who: |")
  (cd $who && timeout 30 node scripts/probes/loop-merge.mjs 2 1 26214400 64 8 2 2>&1 | sed "s|^|$who: |")
  (cd $who && FAIRRING_NCCL_PROFILE=1 timeout 30 node scripts/probes/engine-groups.mjs 16384 2000 3 2>&1 | sed "s|^|$who: |")
done
since "done at"
