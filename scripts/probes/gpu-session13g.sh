#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 13: the reference loop capturing one whole `bench` iteration (every bucket,
# so it uses the slots in the engine's order) and `bench` awaiting each iteration without a sync per iteration.
# The CUDA tests of the loop's values, the engine against that loop (loop_table), and the floor (2 x 1, 64 x 25 MiB,
# 5 pairs against fr.cu; the pairs' files stay in /tmp, the summary comes back).
# Usage: bash scripts/bundle.sh, then FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session13g.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
timeout 240 node node_modules/mocha/bin/mocha.js --reporter scripts/mocha-inline-reporter.cjs --grep "reference loop computes" \
  > "$out/loop-tests.txt" 2>&1
echo "loop tests rc=$?"; grep -E 'passing|failing|pending|failed: ' "$out/loop-tests.txt"
loop_table 2>&1 | tee "$out/loop.txt"
since "loop table done at"
OUT=/tmp/floor timeout 300 bash scripts/gpu-floor.sh 5 > /dev/null 2>&1
grep -E '^pair|ratio: median' /tmp/floor/floor.txt | tee "$out/floor.txt"
since "all took"
