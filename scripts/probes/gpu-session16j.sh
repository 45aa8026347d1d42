#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 16's last: the clock anchors taken with no lock held (25186e8). `bench
# --trace` at 2 x 1 and 1 x 2 read by trace-check.mjs (and how many starts were unknown), then the CUDA suite.
# Usage: bash scripts/gpu-run.sh bash scripts/probes/gpu-session16j.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
for md in "2 1 fairring" "1 2 local"; do
  read -r M D p <<<"$md"
  f=/tmp/trace-$M$D.json
  timeout 60 node dist/src/cli/main.js bench --backend cuda --machines $M --devices $D --pipelines $p,nccl --bytes 64KiB \
    --buckets 64 --iters 2 --warmup 1 --repeat 1 --timings --trace $f --json /tmp/bench-$M$D.json > /dev/null 2>&1
  echo "== $M x $D, 64 x 64 KiB"
  node scripts/probes/trace-check.mjs $f 5
done 2>&1 | tee "$out/trace-check.txt"
since "traces done at"
run_suite 330
