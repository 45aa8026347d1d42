#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 8, third lease (build 76bac3d, the only one with the switch below): nonblocking
# communicators (the default of this build; the group's completion polled, spinning its first 200 us) against the same
# build with blocking ones (FAIRRING_NCCL_BLOCKING=1: aborts still never under the issuer's NCCL calls, waiting for it
# however long) and against bundle/base.tar.xz: the 2 x 1 stream of 2000 x 64 KiB, 2 interleaved rounds (small.txt);
# then, blocking, the CUDA failure tests and the vanishing-rank test 3 times, each in a mocha of its own
# (blocking.txt).
# Usage: bash scripts/gpu-run.sh bash scripts/probes/gpu-session8c.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
unpack_base
for round in 1 2; do
  bench_rows . "round $round nonblocking:" 64KiB 2000
  FAIRRING_NCCL_BLOCKING=1 bench_rows . "round $round blocking:" 64KiB 2000
  bench_rows base "round $round base:" 64KiB 2000
done 2>&1 | tee "$out/small.txt"
since "small took"
run() {  # run <seconds> <grep>
  timeout "$1" node node_modules/mocha/bin/mocha.js --grep "$2" > /tmp/run.txt 2>&1
  echo "$2: rc=$? $(grep -E '^\s+[0-9]+ (passing|failing|pending)' /tmp/run.txt | tr -s ' \n' ' ')"
  grep -A14 -E '^\s+[0-9]+\) ' /tmp/run.txt | head -40
}
export FAIRRING_NCCL_BLOCKING=1
{
  run 90 'failures leave the devices usable \[cuda\]'
  for i in 1 2 3; do run 60 'CUDA.*a rank that vanishes'; done
} 2>&1 | tee "$out/blocking.txt"
since "all took"
