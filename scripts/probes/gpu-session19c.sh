#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), for session 19's first call: the whole CUDA suite on main (15de717 and 9f1c552,
# the parts per device as mended after the review, have not run on a GPU), then the floor (gpu-floor.sh, 4
# pairs) with base/ = c2f3fda (main before the parts per device) in every pair: does the floor hold with them,
# against the build before, in the same pairs?
# Usage: bash scripts/bundle.sh && bash scripts/probes/base-bundle.sh c2f3fda, then
# FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session19c.sh (carry bundle and .fr)
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
unpack_base
run_suite 330
BASE=base bash scripts/gpu-floor.sh 4
since "done at"
