#!/usr/bin/env bash
# Probe (GPU machine, 1 GPU), for session 18: the watcher polls work after an idle spell from 20 µs again (it
# kept the interval the last busy spell had grown to, up to 100 µs), this build against base/ = main: `fairring`
# at 1 x 1 awaited, one 256 MiB bucket and 8 x 25 MiB per iteration (20 iterations per run, 5 runs), 3
# interleaved rounds; then the CUDA suite on this build.
# Usage: bash scripts/bundle.sh && bash scripts/probes/base-bundle.sh main, then
# bash scripts/gpu-run.sh bash scripts/probes/gpu-session18i.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
unpack_base
for round in 1 2 3; do
  for build in this base; do
    dir=.
    [[ $build == base ]] && dir=base
    for work in "256MiB 1" "25MiB 8"; do
      set -- $work
      (cd "$dir" && timeout 60 node dist/src/cli/main.js bench --backend cuda --machines 1 --devices 1 --pipelines fairring \
        --bytes "$1" --buckets "$2" --iters 20 --warmup 2 --repeat 5) | grep -E '^\| [0-9]' | sed "s/^/round $round $build /"
    done
  done
done 2>&1 | tee "$out/idle-poll.txt"
since "rows done at"
run_suite 240
