#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 4: the call check on its own stream and communicator. The CUDA connect()
# tests, then bench --connect at 2 x 1 on NVLink with checks on and off (pipelines fairring, nccl, auto), then the
# 1 x 2 hang probe. Output in $OUT/check.txt. Usage: bash scripts/gpu-run.sh bash scripts/probes/gpu-session4-check.sh
set -uo pipefail
out=${OUT:-/tmp/fairring-out}
{
  timeout 200 node node_modules/mocha/bin/mocha.js --grep 'connect\(\) on CUDA' > "$out/gpu-connect-tests.txt" 2>&1
  echo "connect tests rc=$?"; grep -E "passing|failing|pending|✔|[0-9]+\) " "$out/gpu-connect-tests.txt" | head -12
  for size in "25MiB --buckets 64" "64KiB --buckets 2000"; do
    for check in "" "--no-check-calls"; do
      NCCL_HOSTID=one timeout 120 node dist/src/cli/main.js launch --nnodes 2 --emulate-machines --master-port 29600 -- node dist/src/cli/main.js bench --connect --backend cuda --pipelines fairring,nccl,auto --bytes $size --iters 2 --warmup 1 --repeat 3 $check 2>&1 | grep -E "^\[rank 0\] \| [0-9]" | grep -v 'native loop (nccl)\|native loop (auto)' | sed "s/^\[rank 0\] /[checks $([[ -n $check ]] && echo off || echo on)] /"
    done
  done
  bash scripts/probes/connect-hang-gdb.sh 2 40
} 2>&1 | tee "$out/check.txt"
rm -f "$out"/hang-*.txt
