#!/usr/bin/env bash
# Probe (GPU machine), session 14: the CUDA suite stopped after the queue test "replays a captured program whose
# timing pair was submitted already" (gpu-session14a.sh, suite cut at 420 s with no failure printed: the JS thread
# blocked). The CUDA queue tests alone, their threads' stacks dumped if still running after 100 s; then the rest
# of the CUDA suite, without them.
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session14b.sh
set -uo pipefail
source scripts/probes/lib.sh
source scripts/probes/dump-if-hung.sh
probe_begin
mocha=(node node_modules/mocha/bin/mocha.js --reporter scripts/mocha-inline-reporter.cjs)
"${mocha[@]}" --grep 'queue \[cuda\]' > "$out/queue-tests.txt" 2>&1 &
dump_if_hung $! 100 "$out/queue-hang.txt" "$out/queue-stacks.txt"
cat "$out/queue-hang.txt"
tail -5 "$out/queue-tests.txt"
since "queue tests done at"
timeout 330 "${mocha[@]}" --grep '^(?!.*queue \[cuda\]).*(cuda|CUDA)' > "$out/gpu-tests.txt" 2>&1
echo "rest rc=$?"
grep -E 'passing|failing|pending' "$out/gpu-tests.txt"
grep -A12 -E '^      failed: ' "$out/gpu-tests.txt" | head -60
since "all took"
