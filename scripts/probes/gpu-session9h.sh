#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 9's seventh lease: the watcher's poll interval for CUDA completions,
# which doubles from 20 us up to a cap of 1 ms while no completion comes (build 9d8ce40 with
# scripts/probes/patches/watch-cap.patch: FAIRRING_WATCH_CAP_US sets the cap). The engine alone at 2 x 1
# (engine-groups.mjs) at 25 MiB, 4 MiB and 64 KiB with caps 1000, 100 and 20 us, 2 interleaved rounds
# (watch.txt); then the floor's triples with the cap at 100 us (floor.txt). Needs FR_SRC (fr.cu's folder).
# Usage: FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session9h.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
{
  for round in 1 2; do
    for cap in 1000 100 20; do
      echo "r$round cap $cap 25MiB: $(FAIRRING_WATCH_CAP_US=$cap timeout 60 node scripts/probes/engine-groups.mjs 6553600 64 5 2>&1 | tr '\n' ' ')"
      echo "r$round cap $cap 4MiB: $(FAIRRING_WATCH_CAP_US=$cap timeout 60 node scripts/probes/engine-groups.mjs 1048576 64 5 2>&1 | tr '\n' ' ')"
      echo "r$round cap $cap 64KiB: $(FAIRRING_WATCH_CAP_US=$cap timeout 60 node scripts/probes/engine-groups.mjs 16384 2000 1 2>&1 | tr '\n' ' ')"
    done
  done
} 2>&1 | tee "$out/watch.txt"
bash scripts/probes/floor-pairs.sh FAIRRING_WATCH_CAP_US=100 2>&1 | tee "$out/floor.txt"
since "all took"
