#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 13's last call: the CUDA suite on the final build; the CPU backend's host
# cost per slice on this 32-core host (the issue's CPU targets: `fairring`, 64 x 256 B at 1 x 1, 2 x 2, 2 x 4, and
# one 16 KiB job cut into 256-byte slices at 2 x 2; 40 iterations, medians of 5 runs); and at 1 x 2 the 64 KiB
# bucket stream at parallelism 8, 16 and 32 (engine and loop), for what bounds the engine there.
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session13j.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
run_suite 420
{
  for w in "1 1 --bytes 256 --buckets 64" "2 2 --bytes 256 --buckets 64" "2 4 --bytes 256 --buckets 64" \
    "2 2 --bytes 16KiB --buckets 1 --slice-bytes 256"; do
    set -- $w
    m=$1 d=$2
    shift 2
    timeout 90 node dist/src/cli/main.js bench --backend cpu --machines "$m" --devices "$d" --pipelines fairring --iters 40 \
      --warmup 5 --repeat 5 "$@" | grep -E '^\| [0-9]' | sed "s/^/cpu ${m}x$d $* /"
  done
  for p in 8 16 32; do
    timeout 90 node dist/src/cli/main.js bench --backend cuda --machines 1 --devices 2 --pipelines fairring --bytes 64KiB \
      --buckets 2000 --iters 3 --warmup 1 --repeat 3 --parallelism "$p" | grep -E '^\| [0-9]' | sed "s/^/1x2 parallelism $p /"
  done
} 2>&1 | tee "$out/host.txt"
since "all took"
