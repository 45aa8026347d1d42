#!/usr/bin/env bash
# Probe (GPU machine), session 14's first call: the CUDA suite on main (60d3534 and after had not run on a GPU),
# then why the CPU backend's JS busy per slice is about twice as high on the
# 32-core GPU host as on the 2-vCPU development machine at 2 x 2 and 2 x 4, but not at 1 x 1 (session 13). Each
# CPU `bench` row under thread-cpu.py (CPU time by thread: the JS thread, the executor, the watcher, V8's and
# libuv's threads) and thread-states.py (where the JS thread sits: running, futex, epoll).
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session14a.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
run_suite 420
{
  for topo in "1 1" "2 2" "2 4"; do
    read -r m d <<< "$topo"
    args=(node dist/src/cli/main.js bench --backend cpu --machines "$m" --devices "$d" --pipelines fairring --bytes 256
      --buckets 64 --iters 40 --warmup 5 --repeat 5)
    timeout 120 python3 scripts/probes/thread-cpu.py "${args[@]}" 2>&1 | grep -E '\| fairring \||thread CPU|  ' | sed "s/^/${m}x$d /"
    timeout 120 python3 scripts/probes/thread-states.py 0.5 "${args[@]}" 2>&1 | grep -E 'samples' | sed "s/^/${m}x$d /"
  done
} 2>&1 | tee "$out/threads.txt"
since "all took"
