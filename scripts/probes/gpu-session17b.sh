#!/usr/bin/env bash
# Probe (GPU machine), for session 17: the CPU executor spinning 50 µs before it sleeps, on the GPU host (a VM,
# where a wake-up costs the posting thread more than on the development machine, which showed no gain:
# docs/results/2026-11-30-dev-executor-spin.md). The CPU targets' rows and js-cpu.mjs, this build against base/
# = branch exp/executor-spin, 3 interleaved rounds, and the host's plain-JS speed (machine-costs.mjs).
# Usage: bash scripts/bundle.sh && bash scripts/probes/base-bundle.sh exp/executor-spin, then
# bash scripts/gpu-run.sh bash scripts/probes/gpu-session17b.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
unpack_base
timeout 60 node scripts/probes/machine-costs.mjs | tee "$out/machine-costs.txt"
cpu_ab 3 executor-spin.txt "1 1" "2 2" "2 4"
since "done at"
