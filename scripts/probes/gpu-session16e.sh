#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 16: stage timings with start times. The CUDA tests of timings (the queue's
# timing pairs and starts, every topology's stage timeline), then `bench --trace` at 2 x 1 and 1 x 2 (16 x 25 MiB
# and 64 x 64 KiB, fairring/local and nccl) read by trace-check.mjs: overlaps within a stream's track, stages
# starting before the one before ended, and how far apart the ranks' starts and ends of a slice are.
# Usage: bash scripts/gpu-run.sh bash scripts/probes/gpu-session16e.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
timeout 200 node node_modules/mocha/bin/mocha.js --no-config --timeout 120000 dist/test/native/queue.test.js dist/test/gpu/allreduce.test.js \
  --grep 'timing|times each' 2>&1 | tail -40 | tee "$out/timing-tests.txt"
since "tests done at"
for md in "2 1 fairring" "1 2 local"; do
  read -r M D p <<<"$md"
  for size in "25MiB 16" "64KiB 64"; do
    read -r bytes buckets <<<"$size"
    f=/tmp/trace-$M$D-$bytes.json
    timeout 60 node dist/src/cli/main.js bench --backend cuda --machines $M --devices $D --pipelines $p,nccl --bytes $bytes \
      --buckets $buckets --iters 2 --warmup 1 --repeat 1 --trace $f > /dev/null 2>&1
    echo "== $M x $D, $buckets x $bytes"
    node scripts/probes/trace-check.mjs $f 5
  done
done 2>&1 | tee "$out/trace-check.txt"
since "all done at"
