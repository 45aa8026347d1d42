#!/usr/bin/env bash
# Probe (GPU machine, 1 GPU), for session 18: the CUDA suite on main's last code, then gpu-session18h.sh's
# emulated rows again without the 64 KiB streams (calls 7 and 8 of the session had run a stale build of the
# JavaScript: the half of want-answers.patch that lives there).
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session18j.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
run_suite 240
export NCCL_SOCKET_NTHREADS=4 NCCL_NSOCKS_PERTHREAD=4
port=29400
for m in 2 3; do
  for work in "25MiB 64 2" "256MiB 1 3"; do
    set -- $work
    port=$((port + 20))
    timeout 100 node dist/src/cli/main.js launch --nnodes "$m" --emulate-machines --master-port "$port" --timeout 90 -- \
      node dist/src/cli/main.js bench --connect --backend cuda --pipelines fairring --bytes "$1" --buckets "$2" \
      --iters "$3" --warmup 1 --repeat 3 | grep -E '^\[rank 0\] \| [0-9]' | sed "s/^\[rank 0\] /${m}x1 emulated /"
    since "${m}x1 $1 done at"
  done
done 2>&1 | tee "$out/emulated.txt"
