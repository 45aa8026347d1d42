#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs): where blocking communicators hang. The vanishing-rank job on the build in base/
# (bundle it with `bash scripts/probes/base-bundle.sh 76bac3d`, the one build whose FAIRRING_NCCL_BLOCKING=1
# makes blocking communicators) with that switch on; after 25 s every worker still running (the job ends in
# about 6 s when nothing hangs) gets its threads' states and every host thread's stack written to
# $OUT/stacks-<pid>.txt, and is killed. The launcher's output in $OUT/blocking-launch.txt, a line per worker in
# $OUT/blocking-hang.txt. docs/notes.md (session 8) lists the NCCL waits to look for in the stacks.
# Usage: bash scripts/gpu-run.sh bash scripts/probes/blocking-hang.sh
set -uo pipefail
source scripts/probes/lib.sh
source scripts/probes/dump-if-hung.sh
probe_begin
unpack_base
cd base
blocking_vanish "$out"
