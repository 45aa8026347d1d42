#!/usr/bin/env bash
# Probe (any machine; on the GPU machine through scripts/gpu-run.sh): the JS thread's V8 profile of
# js-cpu.mjs (CPU backend, `fairring`, 64 buckets of 64 float32 per rank, 200 rounds) at the topology given, as
# µs per slice by function and by file (cpuprof-top.mjs), so two machines' profiles compare row by row.
# Usage: bash scripts/probes/js-profile.sh <machines> <devices> [rows]
set -euo pipefail
m=$1 d=$2 rows=${3:-25}
dir=$(mktemp -d)
timeout 120 node --cpu-prof --cpu-prof-interval 100 --cpu-prof-dir="$dir" scripts/probes/js-cpu.mjs "$m" "$d" 64 64 200
node scripts/probes/cpuprof-top.mjs "$dir"/*.cpuprofile "$rows" $((64 * 200))
rm -rf "$dir"
