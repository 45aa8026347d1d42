#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs): the 1 x 2 bench --connect at 2000 x 64 KiB that hangs; up to $1 tries of $2
# seconds each. On a hang, every rank's host threads are dumped with cuda-gdb (the only debugger there) into
# $OUT/gdb-<try>-<pid>.txt, then the job is ended. Usage: bash scripts/gpu-run.sh bash scripts/probes/connect-hang-gdb.sh [tries] [seconds]
set -uo pipefail
tries=${1:-3}
wait_s=${2:-40}
out=${OUT:-/tmp/fairring-out}
gpus=$(nvidia-smi -L | wc -l)
for ((t = 1; t <= tries; t++)); do
  NCCL_DEBUG=WARN node dist/src/cli/main.js launch --nproc-per-node "$gpus" --master-port $((29500 + 10 * t)) -- \
    node dist/src/cli/main.js bench --connect --backend cuda --pipelines local,nccl --bytes 64KiB --buckets 2000 --iters 1 --warmup 1 --repeat 3 \
    > "$out/hang-$t.txt" 2>&1 &
  launcher=$!
  for ((i = 0; i < wait_s; i++)); do kill -0 $launcher 2>/dev/null || break; sleep 1; done
  if kill -0 $launcher 2>/dev/null; then
    echo "try $t: still running after ${wait_s}s"
    for pid in $(pgrep -f 'bench --connect' | grep -v "^$launcher\$"); do
      grep -q -- '--nproc-per-node' /proc/$pid/cmdline 2>/dev/null && continue
      { echo "=== pid $pid rank $(tr '\0' '\n' < /proc/$pid/environ | grep '^RANK=')"
        for th in /proc/$pid/task/*; do echo "$(cat $th/comm) $(awk '{print $3}' $th/stat) $(cat $th/wchan 2>/dev/null)"; done
        timeout 60 cuda-gdb -batch -nx -p "$pid" -ex 'set pagination off' -ex 'info threads' -ex 'thread apply all bt 30' 2>&1 | grep -v '^\[New LWP\|^warning'
      } > "$out/gdb-$t-$pid.txt" 2>&1
    done
    kill $launcher; sleep 5; pkill -9 -f 'bench --connect'
  else
    echo "try $t: finished: $(grep -c '| 64 KiB |' "$out/hang-$t.txt") rows"
  fi
done
