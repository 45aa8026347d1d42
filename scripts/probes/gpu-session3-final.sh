#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs): the session-3 checks in one lease: the 1 x 2 hang probe five times, the CUDA
# connect() tests, and bench --connect at 2 x 1 on NVLink with and without the call check. Results in $OUT.
# Usage: bash scripts/gpu-run.sh bash scripts/probes/gpu-session3-final.sh
hangs=0
for i in 1 2 3 4 5; do rm -f $OUT/stacks.txt; timeout 45 bash scripts/probes/connect-hang.sh 30 > /dev/null 2>&1; [[ -f $OUT/stacks.txt ]] && hangs=$((hangs+1)); grep -h "^\[rank 0\] | 64 KiB | local |" $OUT/hang.txt | head -1; done
echo "probe after the reaper fix: $hangs hangs in 5 attempts"
rm -f $OUT/report*.json $OUT/stacks.txt
timeout 150 node node_modules/mocha/bin/mocha.js --grep 'connect\(\) on CUDA' > $OUT/gpu-connect-tests.txt 2>&1; echo "connect tests rc=$?"; grep -E "passing|failing|pending|✔|[0-9]+\) " $OUT/gpu-connect-tests.txt | head -12
for check in "" "--no-check-calls"; do
  NCCL_HOSTID=one timeout 100 node dist/src/cli/main.js launch --nnodes 2 --emulate-machines --master-port 29600 -- node dist/src/cli/main.js bench --connect --backend cuda --pipelines fairring,nccl --bytes 25MiB --buckets 64 --iters 2 --warmup 1 --repeat 3 $check 2>&1 | grep "^\[rank 0\] | 25" | sed "s/^/[checks ${check:-on}] /"
done
