#!/usr/bin/env bash
# Probe (GPU machine), session 15: the CPU executor's inbox (posts write one list; the executor thread alone
# moves steps to their streams) against the build before it (bundle/base.tar.xz): the CPU targets' rows at
# 2 x 2 and 2 x 4 (`bench` and js-cpu.mjs), 3 interleaved rounds; then this build's 1 x 1 row and the sliced
# job's (2 x 2, 16 KiB in 256-byte slices). Usage: bash scripts/bundle.sh, base build packed into
# bundle/base.tar.xz, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session15f.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
unpack_base
mkdir -p base/scripts/probes && cp scripts/probes/js-cpu.mjs base/scripts/probes/
cpu_row() {
  timeout 60 node dist/src/cli/main.js bench --backend cpu --pipelines fairring --iters 40 --warmup 5 --repeat 5 "$@" |
    grep -E '^\| [0-9.]+ [KM]?i?B \| fairring'
}
for round in 1 2 3; do
  for build in this base; do
    dir=.
    [[ $build == base ]] && dir=base
    for topo in "2 2" "2 4"; do
      read -r m d <<< "$topo"
      (cd "$dir" && cpu_row --machines "$m" --devices "$d" --bytes 256 --buckets 64) | sed "s/^/round $round $build ${m}x$d /"
      (cd "$dir" && timeout 60 node scripts/probes/js-cpu.mjs "$m" "$d" 64 64 200) | sed "s/^/round $round $build /"
    done
  done
done 2>&1 | tee "$out/cpu-ab.txt"
{
  cpu_row --machines 1 --devices 1 --bytes 256 --buckets 64 | sed "s/^/this 1x1 /"
  cpu_row --machines 2 --devices 2 --bytes 16KiB --buckets 1 --slice-bytes 256 | sed "s/^/this 2x2 sliced /"
} 2>&1 | tee "$out/cpu-rows.txt"
since "all took"
