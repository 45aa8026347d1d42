#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 12: the CUDA failure test that failed once in lease 4's suite, run after
# the tests that preceded it there (the CUDA exit tests, whose child processes end with NCCL kernels on the
# devices, and the profile test), twice, printing the full message when it fails.
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session12g.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
{
  for i in 1 2; do
    timeout 150 node node_modules/mocha/bin/mocha.js --no-config --timeout 120000 --reporter dot --grep "cuda|CUDA" \
      dist/test/native/exit.test.js dist/test/gpu/exit.test.js dist/test/gpu/profile.test.js dist/test/integration/failure.test.js 2>&1 |
      grep -E "passing|failing|Error|did not finish" | sed "s/^/run $i: /"
    since "run $i done at"
  done
} 2>&1 | tee "$out/sequence.txt"
