#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 9's sixth lease: more slices in flight at the floor's workload, so that
# the issuer's backlog, and with it the merged groups, grows: parallelism 16 and 32 with memoryBytes raised
# alike (the slice stays one 25 MiB bucket), each against the defaults and fr.cu in 5 triples (floor-16.txt,
# floor-32.txt). Needs FR_SRC (fr.cu's folder).
# Usage: FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session9f.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
bash scripts/probes/floor-pairs.sh FAIRRING_NCCL_PROFILE=1 "--parallelism 16 --memory-bytes 512MiB" 2>&1 | tee "$out/floor-16.txt"
bash scripts/probes/floor-pairs.sh FAIRRING_NCCL_PROFILE=1 "--parallelism 32 --memory-bytes 1GiB" 2>&1 | tee "$out/floor-32.txt"
grep -h "NCCL groups" /tmp/floor.md | tail -1
since "all took"
