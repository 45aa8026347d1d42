#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 7, second lease, part 1: the CUDA failure tests alone (they failed in the
# first lease with aborts run one after the other; a hung run leaves every thread's stack), then the whole CUDA
# suite. Output in $OUT (failures.txt, failures-dump.txt if hung, info.txt, gpu-tests.txt).
# Usage: bash scripts/gpu-run.sh bash scripts/probes/gpu-session7b.sh
set -uo pipefail
out=${OUT:-/tmp/fairring-out}
mkdir -p "$out"
source scripts/probes/dump-if-hung.sh
node node_modules/mocha/bin/mocha.js --grep 'failures leave the devices usable \[cuda\]' > "$out/failures.txt" 2>&1 &
dump_if_hung $! 150 "$out/failures.txt" "$out/failures-dump.txt"
grep -E 'passing|failing|pending|rc=|still running' "$out/failures.txt"
grep -A25 -E '^\s+[0-9]+\) ' "$out/failures.txt" | head -60
timeout 420 bash scripts/gpu-suite.sh tests
echo "suite rc=$?"
