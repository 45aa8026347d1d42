#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), for session 17: does an issuer per device close the 2 x 1 gap to fr.cu? In one
# process the engine and its loop issue both ranks' NCCL groups from one thread (~110 µs per 25 MiB slice, 50-60
# per 64 KiB one, session 16), fr.cu a process per rank (~101 and ~22). issuer-threads.cu issues the same three
# stages from one thread for both ranks, or from a thread per rank, in one process; fr.cu beside them. 3 rounds.
# Usage: FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session17a.sh
set -uo pipefail
source scripts/probes/lib.sh
source scripts/fr-yardstick.sh
probe_begin
fr=$(fr_build)
nvcc -O2 -arch=sm_90 -o /tmp/issuer-threads scripts/probes/issuer-threads.cu -lnccl -lpthread || exit 1
{
  for round in 1 2 3; do
    for w in "26214400 64" "65536 2000"; do
      read -r bytes buckets <<<"$w"
      for mode in one two; do timeout 120 /tmp/issuer-threads $mode $bytes $buckets 5 | sed "s/^/round $round /"; done
      [[ -n $fr ]] && bash "$fr" 2 1 fairring $bytes $buckets 1 5 | sed "s/^/round $round fr.cu: /"
    done
  done
  since "done at"
} 2>&1 | tee "$out/issuer-threads.txt"
