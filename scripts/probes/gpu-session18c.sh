#!/usr/bin/env bash
# Probe (GPU machine, 1 GPU), for session 18: (1) bench's warm-up in slices: `fairring` and its loop at 1 x 1,
# one 256 MiB bucket per iteration, --warmup 2 alone (--warmup-slices 0, as before) against the new default
# (256 slices), 3 interleaved rounds; the 2000 x 64 KiB stream once. (2) The CPU targets' rows on this host,
# this build against base/ = exp/executor-spin (the CPU executor spinning 50 µs before it sleeps), 3 rounds,
# and the sliced job.
# Usage: bash scripts/bundle.sh && bash scripts/probes/base-bundle.sh exp/executor-spin (keeping bundle.sh's
# output), then bash scripts/gpu-run.sh bash scripts/probes/gpu-session18c.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
unpack_base
one() {  # one <label> <bench options...>
  local label=$1
  shift
  timeout 90 node dist/src/cli/main.js bench --backend cuda --machines 1 --devices 1 --pipelines fairring --iters 3 \
    --repeat 3 "$@" | grep -E '^\| [0-9]' | sed "s/^/$label /"
}
for round in 1 2 3; do
  one "round $round warmup 2 iterations:" --bytes 256MiB --buckets 1 --warmup 2 --warmup-slices 0
  one "round $round warmup 256 slices:" --bytes 256MiB --buckets 1 --warmup 2
done 2>&1 | tee "$out/warmup-1x1.txt"
one "1x1 2000 x 64 KiB:" --bytes 64KiB --buckets 2000 --warmup 1 | tee -a "$out/warmup-1x1.txt"
since "warm-up rows done at"
cpu_ab 3 executor-spin.txt "1 1" "2 2" "2 4"
for round in 1 2 3; do
  cpu_row --machines 2 --devices 2 --bytes 16KiB --buckets 1 --slice-bytes 256 | sed "s/^/round $round sliced 2x2 /"
done 2>&1 | tee "$out/sliced.txt"
since "done at"
