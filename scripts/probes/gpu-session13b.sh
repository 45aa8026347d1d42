#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 13, first lease: the CUDA suite with the issuer's group in flight removed
# and blocking communicators' groups checked for every rank's side (test/gpu/blocking.test.ts, the failure test's
# refused group, the exit fixture's nonblocking lonely communicators), then the vanishing-rank job twice.
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session13b.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
run_suite 420
vanish_gdb 2 150 "$out"
since "all took"
