#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 7, fourth lease: with aborts waiting for an issue under way, the CUDA
# vanishing-rank job 4 times with its survivors under cuda-gdb (crashing runs' logs kept), the vanishing-rank test
# 4 times in a mocha of its own, then the whole CUDA suite. Output in $OUT (vanish.txt, vanish-gdb-<run>.txt of
# crashes, info.txt, gpu-tests.txt). Usage: bash scripts/gpu-run.sh bash scripts/probes/gpu-session7e.sh
set -uo pipefail
out=${OUT:-/tmp/fairring-out}
mkdir -p "$out"
RUNS=4 GDB_RANKS="0 1" LOGS=/tmp/vanish timeout 240 bash scripts/probes/vanish-gdb.sh > "$out/vanish.txt" 2>&1
for f in /tmp/vanish/vanish-gdb-*.txt; do grep -q 'received signal' "$f" && cp "$f" "$out/"; done
for i in 1 2 3 4; do
  timeout 90 node node_modules/mocha/bin/mocha.js --grep 'CUDA.*a rank that vanishes' > /tmp/vanish-mocha-$i.txt 2>&1
  echo "mocha run $i rc=$? $(grep -E 'passing|failing' /tmp/vanish-mocha-$i.txt | tr '\n' ' ')" >> "$out/vanish.txt"
done
grep -E '^run|^mocha' "$out/vanish.txt"
timeout 420 bash scripts/gpu-suite.sh tests
echo "suite rc=$?"
