#!/usr/bin/env bash
# Probe (GPU machine, 1 GPU), for session 20's end: the session's start (600d601, its JavaScript and addon)
# against main at 1 x 1 on CUDA, where the engine's host work per slice is all there is: `fairring` and its
# native loop, 2000 x 64 KiB buckets, interleaved over 5 rounds (bench's medians of 3 runs each). Builds are
# named on the command line (default: start main); a build "mixed" (600d601's JavaScript over main's addon)
# tells the JavaScript's share from the addon's.
# Usage: bash scripts/bundle.sh; bash scripts/probes/base-bundle.sh 600d601 start; pack bundle/main.tar.xz (dist
# and the addon; likewise mixed.tar.xz); bash scripts/gpu-run.sh bash scripts/probes/gpu-session20g.sh [build...]
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
builds=("$@")
[[ ${#builds[@]} -gt 0 ]] || builds=(start main)
unpack_builds "${builds[@]}"
cuda_1x1_rows 5 2 one-gpu.txt "${builds[@]}"
since "done at"
