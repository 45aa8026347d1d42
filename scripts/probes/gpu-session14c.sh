#!/usr/bin/env bash
# Probe (GPU machine), session 14: the CUDA suite on main (with the loop test's check made cheap), then why the
# CPU backend's JS busy per slice is about twice the development machine's at 2 x 2 and 2 x 4 on this host
# (gpu-session14a.sh: the JS thread is running or in epoll, never in futex; V8's and libuv's threads used 2/3 of
# the JS thread's CPU). Each row under: the default; the process on 2 cores (as the development machine) and on 8;
# V8's worker pool at 1 thread; single-threaded GC.
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session14c.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
lscpu | grep -E 'Model name|Socket|Core|Thread|NUMA|MHz|L3' > "$out/cpu.txt"
cat "$out/cpu.txt"
run_suite 480
{
  for topo in "1 1" "2 2" "2 4"; do
    read -r m d <<< "$topo"
    args=(dist/src/cli/main.js bench --backend cpu --machines "$m" --devices "$d" --pipelines fairring --bytes 256
      --buckets 64 --iters 40 --warmup 5 --repeat 5)
    for round in 1 2; do
      for v in default cores2 cores8 pool1 gc1; do
        case $v in
          default) cmd=(node "${args[@]}") ;;
          cores2) cmd=(taskset -c 0,1 node "${args[@]}") ;;
          cores8) cmd=(taskset -c 0-7 node "${args[@]}") ;;
          pool1) cmd=(node --v8-pool-size=1 "${args[@]}") ;;
          gc1) cmd=(node --single-threaded-gc "${args[@]}") ;;
        esac
        timeout 60 "${cmd[@]}" 2>&1 | grep -E '^\| [0-9]' | sed "s/^/${m}x$d round $round $v /"
      done
    done
  done
} 2>&1 | tee "$out/host.txt"
since "all took"
