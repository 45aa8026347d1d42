#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 13: where the JS thread sits while `bench` runs one large bucket at a time
# (session 13's first lease: at 1 x 2, 256 MiB, its event loop was busy 1313 µs per 1437 µs iteration while the
# process used 810 µs of CPU; the native loop's alike), sampled from /proc by thread-states.py in 0.5 s windows:
# 1 x 2 one 256 MiB bucket (2000 iterations: the engine, then the loop), 2 x 1 the same, 2 x 1 64 x 25 MiB.
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session13d.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
states() {  # label, bench options...
  local label=$1
  shift
  timeout 120 python3 scripts/probes/thread-states.py 0.5 node dist/src/cli/main.js bench --backend cuda \
    --pipelines fairring --warmup 1 --repeat 1 "$@" 2>&1 | grep -E '^\| [0-9]|samples' | sed "s/^/$label /"
}
{
  states "1x2 256MiB" --machines 1 --devices 2 --bytes 256MiB --buckets 1 --iters 2000
  states "2x1 256MiB" --machines 2 --devices 1 --bytes 256MiB --buckets 1 --iters 300
  states "2x1 25MiB" --machines 2 --devices 1 --bytes 25MiB --buckets 64 --iters 60
} 2>&1 | tee "$out/states.txt"
since "all took"
