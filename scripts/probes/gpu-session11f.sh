#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 11: does the issuer's own polling slow NCCL? The engine alone at 2 x 1
# (engine-groups.mjs), 25 MiB x 64 and 256 B x 64, with FAIRRING_NCCL_PROFILE=1, for this build and addon
# variants in bundle/variants: poll50 (groups in flight polled every 50 µs, not 5), poll50spin20 (and the issuer
# spinning 20 µs before it sleeps, not 100), cap200 (the watcher's poll cap 200 µs, not 1 ms); two passes.
# Usage: bash scripts/bundle.sh, the variants copied into bundle/variants, then
#        bash scripts/gpu-run.sh bash scripts/probes/gpu-session11f.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
cp native/build/Release/fairring.node bundle/variants/main.node
{
  for pass in 1 2; do
    for v in main poll50 poll50spin20 cap200; do
      cp bundle/variants/$v.node native/build/Release/fairring.node
      for size in "6553600 64 10" "64 64 30"; do
        FAIRRING_NCCL_PROFILE=1 timeout 60 node scripts/probes/engine-groups.mjs $size 2>&1 | grep -E "^engine|NCCL groups" |
          sed -E "s/^/$v: /; s/ncclGroupEnd returned after ([0-9.]+) us mean.*settled within ([0-9]+) us \(50%\), ([0-9]+) us \(90%\).*/end \1 us, settle p50 \2 p90 \3/"
      done
    done
  done
  cp bundle/variants/main.node native/build/Release/fairring.node
} 2>&1 | tee "$out/variants.txt"
since "all took"
