#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 12: the CUDA failure test that failed once in lease 4 ("after a timeout",
# 1 x 2, its message did not name the lonely stage), 5 times with this build (watcher cap 100 µs, merge cap 2)
# and 5 times with base (7f86a8e: 1 ms, 4), printing the full message when it fails.
# Usage: bash scripts/bundle.sh && bash scripts/probes/base-bundle.sh 7f86a8e, then
#        bash scripts/gpu-run.sh bash scripts/probes/gpu-session12f.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
unpack_base
cp dist/test/integration/failure.test.js base/dist/test/integration/
{
  for i in $(seq 1 ${RUNS:-5}); do
    for dir in ${DIRS:-. base}; do
      (cd "$dir" && timeout 60 node node_modules/mocha/bin/mocha.js --no-config --timeout 120000 --reporter dot \
        --grep "failures leave the devices usable \[cuda\]" dist/test/integration/failure.test.js 2>&1 |
        grep -E "passing|failing|AssertionError|did not finish" | sed "s/^/run $i $dir: /")
    done
  done
  since "all took"
} 2>&1 | tee "$out/failure.txt"
