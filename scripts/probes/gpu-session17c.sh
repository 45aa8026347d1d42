#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), for session 17: session17a's issuer-threads comparison (cut at 220 s), then the
# CUDA suite on main (0110457 and the CLI/CPU commits before it have not run it on a GPU), cut at 330 s.
# Usage: bash scripts/bundle.sh, then FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session17c.sh
set -uo pipefail
timeout 220 bash scripts/probes/gpu-session17a.sh
source scripts/probes/lib.sh
probe_begin
run_suite 330
