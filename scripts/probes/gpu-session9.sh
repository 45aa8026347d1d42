#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), for session 9's first lease: the build of session 8's end (nonblocking
# communicators with the reviews' fixes: releases through ncclCommFinalize, asyncError under the NCCL lock),
# none of which has run on a GPU. The CUDA suite (gpu-tests.txt); the vanishing-rank job twice with both
# survivors under cuda-gdb (logs of failed runs into $OUT); the 2 x 1 stream of 2000 x 64 KiB and the floor's
# workload (64 x 25 MiB) against bundle/base.tar.xz (scripts/probes/base-bundle.sh: blocking communicators),
# 2 interleaved rounds each (small.txt, big.txt).
# Usage: bash scripts/probes/base-bundle.sh (after scripts/bundle.sh), then
#        bash scripts/gpu-run.sh bash scripts/probes/gpu-session9.sh
set -uo pipefail
out=${OUT:-/tmp/fairring-out}
mkdir -p "$out" base && tar -xJf bundle/base.tar.xz -C base && ln -sfn ../node_modules base/node_modules
start=$(date +%s)
timeout 300 bash scripts/gpu-suite.sh tests
echo "suite done at $(( $(date +%s) - start )) s"
RUNS=2 GDB_RANKS="0 1" LOGS=/tmp/vanish timeout 120 bash scripts/probes/vanish-gdb.sh
for f in /tmp/vanish/vanish-gdb-*.txt; do
  grep -q 'received signal' "$f" && cp "$f" "$out/"
done
bench() {  # bench <folder> <label> <size> <buckets>
  (cd "$1" && timeout 60 node dist/src/cli/main.js bench --backend cuda --machines 2 --devices 1 --pipelines fairring \
    --bytes "$3" --buckets "$4" --iters 3 --warmup 1 --repeat 3) | grep -E '^\| [0-9]' | sed "s/^/$2 /"
}
for round in 1 2; do
  bench . "round $round this:" 64KiB 2000
  bench base "round $round base:" 64KiB 2000
done 2>&1 | tee "$out/small.txt"
for round in 1 2; do
  bench . "round $round this:" 25MiB 64
  bench base "round $round base:" 25MiB 64
done 2>&1 | tee "$out/big.txt"
echo "all took $(( $(date +%s) - start )) s"
