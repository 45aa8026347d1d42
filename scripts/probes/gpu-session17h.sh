#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), for session 17: three builds, interleaved: base/ (collect without the self copy),
# mid/ (and a device record wakes the watcher only where it sleeps without a deadline), this (and the harvest
# asks the devices with no lock held): the native loop (loop-merge.mjs) at 2 x 1, 2000 x 64 KiB profiled and
# 64 x 25 MiB; the engine's bench rows at 64 KiB and 1 MiB; then the CUDA suite on this build.
# Usage: bash scripts/bundle.sh; base-bundle.sh <mid rev>, renamed bundle/mid.tar.xz; base-bundle.sh <base rev>;
# then bash scripts/gpu-run.sh bash scripts/probes/gpu-session17h.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
unpack_base
mkdir -p mid && tar -xJf bundle/mid.tar.xz -C mid && ln -sfn ../node_modules mid/node_modules
for who in base mid; do mkdir -p $who/scripts/probes && cp scripts/probes/loop-merge.mjs $who/scripts/probes/; done
for round in 1 2; do
  for who in . mid base; do
    (cd $who && FAIRRING_NCCL_PROFILE=1 timeout 90 node scripts/probes/loop-merge.mjs 2 1 65536 2000 8 3 2>&1 | sed "s|^|round $round $who: |")
    [[ $round == 1 ]] && (cd $who && timeout 60 node scripts/probes/loop-merge.mjs 2 1 26214400 64 8 3 2>&1 | sed "s|^|round $round $who: |")
  done
done | tee "$out/loop.txt"
since "loops done at"
for w in "65536 2000" "1048576 256"; do
  for round in 1 2; do
    for who in . mid base; do bench_rows $who "round $round $who:" $w; done
  done
done 2>&1 | tee "$out/rows.txt"
since "rows done at"
run_suite 300
