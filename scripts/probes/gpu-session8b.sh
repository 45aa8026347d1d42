#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 8, second lease: nonblocking communicators, aborts all at once and never
# under the issuer's NCCL calls. The 2 x 1 stream of 2000 x 64 KiB, this build against bundle/base.tar.xz (the
# blocking communicators before), 2 interleaved rounds (small.txt); the CUDA suite (gpu-tests.txt); then the
# vanishing-rank job RUNS times (default 2) with ranks 0 and 1 under cuda-gdb (logs of failed runs into $OUT).
# Usage: bash scripts/gpu-run.sh bash scripts/probes/gpu-session8b.sh
set -uo pipefail
out=${OUT:-/tmp/fairring-out}
mkdir -p "$out" base && tar -xJf bundle/base.tar.xz -C base && ln -sfn ../node_modules base/node_modules
start=$(date +%s)
small() {  # small <folder> <label>
  (cd "$1" && timeout 60 node dist/src/cli/main.js bench --backend cuda --machines 2 --devices 1 --pipelines fairring \
    --bytes 64KiB --buckets 2000 --iters 3 --warmup 1 --repeat 3) | grep -E '^\| 64 KiB' | sed "s/^/$2 /"
}
for round in 1 2; do
  small . "round $round this:"
  small base "round $round base:"
done 2>&1 | tee "$out/small.txt"
echo "small took $(( $(date +%s) - start )) s"
timeout 330 bash scripts/gpu-suite.sh tests
echo "suite done at $(( $(date +%s) - start )) s"
RUNS=${RUNS:-2} GDB_RANKS="0 1" LOGS=/tmp/vanish timeout 150 bash scripts/probes/vanish-gdb.sh
for f in /tmp/vanish/vanish-gdb-*.txt; do
  grep -q 'received signal' "$f" && cp "$f" "$out/"
done
echo "all took $(( $(date +%s) - start )) s"
