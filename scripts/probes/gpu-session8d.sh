#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 8, fourth lease (a build not kept, see
# docs/results/2026-11-30-2xH200-session8.md): blocking communicators again, aborts all at once and never under the
# issuer's NCCL calls, communicators across processes connected to their peers when made. The 2 x 1 stream of 2000 x
# 64 KiB against bundle/base.tar.xz, 2 interleaved rounds (small.txt); the CUDA suite (gpu-tests.txt); the vanishing-
# rank test twice more, each in a mocha of its own (vanish.txt).
# Usage: bash scripts/gpu-run.sh bash scripts/probes/gpu-session8d.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
unpack_base
compare_rounds 64KiB 2000 small.txt
since "small took"
run_suite 300
for i in 1 2; do
  timeout 60 node node_modules/mocha/bin/mocha.js --grep 'CUDA.*a rank that vanishes' > /tmp/run.txt 2>&1
  echo "vanish $i: rc=$? $(grep -E '^\s+[0-9]+ (passing|failing|pending)' /tmp/run.txt | tr -s ' \n' ' ')"
  grep -A14 -E '^\s+[0-9]+\) ' /tmp/run.txt | head -30
done 2>&1 | tee "$out/vanish.txt"
since "all took"
