#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 9's second lease: where a nonblocking group's host time goes. Build 52578e8
# (FAIRRING_NCCL_PROFILE: group host times at exit) with scripts/probes/patches/blocking-switch.patch applied
# (FAIRRING_NCCL_BLOCKING=1: blocking communicators, as lease 3 of session 8). 1. `fairring` at 2 x 1, 64 KiB x 2000 and 25 MiB x 64, nonblocking
# and blocking, 2 interleaved rounds, each run's bench row and profile line (profile.txt); 2. pthread_create +
# join on this host (threads.txt); 3. the vanishing-rank job with blocking communicators, stacks of hung
# survivors (blocking-hang.txt, stacks-*.txt).
# Usage: bash scripts/gpu-run.sh bash scripts/probes/gpu-session9b.sh
set -uo pipefail
source scripts/probes/lib.sh
source scripts/probes/dump-if-hung.sh
probe_begin
for round in 1 2; do
  profile_row "r$round nonblocking 64KiB" 64KiB 2000 1
  profile_row "r$round blocking 64KiB" 64KiB 2000 1 FAIRRING_NCCL_BLOCKING=1
  profile_row "r$round nonblocking 25MiB" 25MiB 64 3
  profile_row "r$round blocking 25MiB" 25MiB 64 3 FAIRRING_NCCL_BLOCKING=1
done 2>&1 | tee "$out/profile.txt"
profile_row "nonblocking 25MiB GRAPH_MIXING=0" 25MiB 64 3 NCCL_GRAPH_MIXING_SUPPORT=0 | tee -a "$out/profile.txt"
cat > /tmp/threads.c <<'C'
#include <pthread.h>
#include <stdio.h>
#include <time.h>
static void* body(void* a) { return a; }
int main(void) {
  struct timespec t0, t1;
  pthread_t t;
  for (int round = 0; round < 3; round++) {
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 10000; i++) { pthread_create(&t, NULL, body, NULL); pthread_join(t, NULL); }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("pthread_create + join: %.2f us each\n", ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e4 / 1e3);
  }
  return 0;
}
C
gcc -O2 -pthread -o /tmp/threads /tmp/threads.c && /tmp/threads | tee "$out/threads.txt"
blocking_vanish "$out"
tail -5 "$out/blocking-launch.txt"
