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
cpu_ab 3 cpu-ab.txt "2 2" "2 4"
{
  cpu_row --machines 1 --devices 1 --bytes 256 --buckets 64 | sed "s/^/this 1x1 /"
  cpu_row --machines 2 --devices 2 --bytes 16KiB --buckets 1 --slice-bytes 256 | sed "s/^/this 2x2 sliced /"
} 2>&1 | tee "$out/cpu-rows.txt"
since "all took"
