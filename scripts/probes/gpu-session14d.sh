#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 14: the machine's own costs (machine-costs.mjs, the clock source, the
# kernel's CPU mitigations) for the CPU backend's gap on this host; the CUDA suite with the sides check moved to
# submit (the JS thread); and that move's cost where the host work per slice is all there is, 2000 x 64 KiB at
# 2 x 1 (blocking communicators), this build against the one before it, 2 interleaved rounds.
# Usage: bash scripts/bundle.sh && bash scripts/probes/base-bundle.sh <rev>, then
# bash scripts/gpu-run.sh bash scripts/probes/gpu-session14d.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
{
  node scripts/probes/machine-costs.mjs
  echo "clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
  grep -H . /sys/devices/system/cpu/vulnerabilities/* | sed 's|.*/||'
} > "$out/machine.txt" 2>&1
cat "$out/machine.txt"
run_suite 330
unpack_base
compare_rounds 64KiB 2000 ab-64k.txt
since "all took"
