#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 8, first lease: the clique-ordered aborter's first run on a GPU. The CUDA
# suite (gpu-tests.txt), then the vanishing-rank job RUNS times (default 4) with ranks 0 and 1 under cuda-gdb
# (summary on stdout; logs of failed runs copied to $OUT). Usage: bash scripts/gpu-run.sh bash scripts/probes/gpu-session8.sh
set -uo pipefail
out=${OUT:-/tmp/fairring-out}
mkdir -p "$out"
start=$(date +%s)
timeout 330 bash scripts/gpu-suite.sh tests
echo "suite took $(( $(date +%s) - start )) s"
RUNS=${RUNS:-4} GDB_RANKS="0 1" LOGS=/tmp/vanish timeout 240 bash scripts/probes/vanish-gdb.sh
for f in /tmp/vanish/vanish-gdb-*.txt; do
  grep -q 'received signal' "$f" && cp "$f" "$out/"
done
echo "all took $(( $(date +%s) - start )) s"
