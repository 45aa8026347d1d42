#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 16: the floor with the merge cap at 4 (this build) and at 2 (base/: this
# build's dist with mergeGroupsFor back at a quarter of the slices in flight) in the same 5 pairs against fr.cu.
# Usage: build bundle/base.tar.xz as described, then FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session16i.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
unpack_base
BASE=base timeout 200 bash scripts/gpu-floor.sh 5 | grep -E '^pair|ratio'
since "floor done at"
