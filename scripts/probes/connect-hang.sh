#!/usr/bin/env bash
# Probe (GPU machine): the 1 x GPUs bench --connect at 2000 x 64 KiB that hung once; if it is still running after
# $1 seconds, dump every rank's threads (gdb, when present) into $OUT, then end it.
set -uo pipefail
wait_s=${1:-60}
out=${OUT:-/tmp/fairring-out}
gpus=$(nvidia-smi -L | wc -l)
NODE_OPTIONS="--report-on-signal --report-directory=$out" NCCL_DEBUG=WARN node dist/src/cli/main.js launch --nproc-per-node "$gpus" --master-port 29500 -- \
  node dist/src/cli/main.js bench --connect --backend cuda --pipelines local,nccl --bytes 64KiB --buckets 2000 --iters 1 --warmup 1 --repeat 3 \
  > "$out/hang.txt" 2>&1 &
launcher=$!
for ((i = 0; i < wait_s; i++)); do kill -0 $launcher 2>/dev/null || break; sleep 1; done
if kill -0 $launcher 2>/dev/null; then
  echo "still running after ${wait_s}s" >> "$out/hang.txt"
  for pid in $(pgrep -f 'bench --connect' | grep -v $launcher); do
    { echo "=== pid $pid"; grep -E 'State|Threads' /proc/$pid/status; for t in /proc/$pid/task/*; do echo "$(cat $t/comm) $(awk '{print $3}' $t/stat) $(cat $t/wchan 2>/dev/null)"; done; } >> "$out/stacks.txt"
    kill -USR2 $pid
  done
  sleep 5
  kill $launcher; sleep 6; pkill -9 -f 'bench --connect'
fi
tail -3 "$out/hang.txt"
