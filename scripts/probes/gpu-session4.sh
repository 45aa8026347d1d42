#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 4: the floor, this build against the previous one (bundle/base.tar.xz:
# its dist/ and addon) in the same lease; bench --connect at 2 x 1 on NVLink with and without call checks, both
# builds; the 1 x 2 hang probe. Output in $OUT/session4.txt. Usage: FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session4.sh
set -uo pipefail
out=${OUT:-/tmp/fairring-out}
mkdir -p base && tar -xJf bundle/base.tar.xz -C base && ln -sfn ../node_modules base/node_modules
{
  BASE=base bash scripts/gpu-floor.sh 5 | grep -E 'ratio|pair'
  rm -f "$out"/floor-*
  for build in . base; do
    for check in "" "--no-check-calls"; do
      for size in "25MiB --buckets 64" "64KiB --buckets 2000"; do
        (cd $build && NCCL_HOSTID=one timeout 100 node dist/src/cli/main.js launch --nnodes 2 --emulate-machines --master-port 29600 -- node dist/src/cli/main.js bench --connect --backend cuda --pipelines fairring,nccl --bytes $size --iters 2 --warmup 1 --repeat 3 $check 2>&1 | grep -E "^\[rank 0\] \| [0-9]" | grep -v 'native loop (nccl)' | sed "s/^/[$build checks ${check:-on}] /")
      done
    done
  done
  bash scripts/probes/connect-hang-gdb.sh 3 40
} 2>&1 | tee "$out/session4.txt"
rm -f "$out"/hang-*.txt
