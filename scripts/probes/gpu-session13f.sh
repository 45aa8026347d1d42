#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 13: the native reference loop with replayed waits that keep the program's
# order across iterations (before, a wait on a record of the captured all-reduce stayed on that record, so
# iterations overlapped where the program orders them). The CUDA tests of the loop's values at 1 x 2 and 2 x 1;
# iteration-latency.mjs; the engine against the new loop (loop_table); this build's and base/'s (e3ae42a, the old
# loop) rows side by side at 2 x 1, one 256 MiB bucket and 64 x 25 MiB.
# Usage: bash scripts/bundle.sh && bash scripts/probes/base-bundle.sh e3ae42a, then
# bash scripts/gpu-run.sh bash scripts/probes/gpu-session13f.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
unpack_base
timeout 240 node node_modules/mocha/bin/mocha.js --reporter scripts/mocha-inline-reporter.cjs --grep "reference loop computes" \
  > "$out/loop-tests.txt" 2>&1
echo "loop tests rc=$?"; grep -E 'passing|failing|pending|failed: ' "$out/loop-tests.txt"
{
  for size in "256 1 256MiB" "25 64 25MiB"; do
    read -r mib buckets bytes <<< "$size"
    timeout 120 node scripts/probes/iteration-latency.mjs 1 2 "$mib" 200 3
    timeout 120 node scripts/probes/iteration-latency.mjs 2 1 "$mib" 200 3
    bench_rows . "this:" "$bytes" "$buckets"
    bench_rows base "base:" "$bytes" "$buckets"
  done
  loop_table
} 2>&1 | tee "$out/loop.txt"
since "all took"
