#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 15: the CUDA suite on the build whose CPU submit moves fewer cache lines
# between the JS thread and the executor (program steps held in place, no allocation per stream; the executor's
# pass list without reference counts), then that build against the one before it (bundle/base.tar.xz), the CPU
# targets' rows at 2 x 2 and 2 x 4 (`bench` and js-cpu.mjs), 3 interleaved rounds.
# Usage: bash scripts/bundle.sh, base build packed into bundle/base.tar.xz, then
# bash scripts/gpu-run.sh bash scripts/probes/gpu-session15e.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
run_suite 390
unpack_base
mkdir -p base/scripts/probes && cp scripts/probes/js-cpu.mjs base/scripts/probes/
for round in 1 2 3; do
  for build in this base; do
    dir=.
    [[ $build == base ]] && dir=base
    for topo in "2 2" "2 4"; do
      read -r m d <<< "$topo"
      (cd "$dir" && timeout 60 node dist/src/cli/main.js bench --backend cpu --machines "$m" --devices "$d" --pipelines fairring \
        --bytes 256 --buckets 64 --iters 40 --warmup 5 --repeat 5) | grep -E '^\| 256 B \| fairring' | sed "s/^/round $round $build ${m}x$d /"
      (cd "$dir" && timeout 60 node scripts/probes/js-cpu.mjs "$m" "$d" 64 64 200) | sed "s/^/round $round $build /"
    done
  done
done 2>&1 | tee "$out/cpu-ab.txt"
since "all took"
