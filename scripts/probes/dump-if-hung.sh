#!/usr/bin/env bash
# Sourced by GPU probes (after lib.sh): dump_if_hung <pid> <seconds> <log> <dump> waits up to <seconds> for process <pid>; if it
# still runs, notes so in <log>, writes its threads' states and every host thread's stack (cuda-gdb, the only
# debugger on the GPU machine) to <dump> and kills it; otherwise appends its exit status to <log>.
dump_if_hung() {
  local pid=$1 wait_s=$2 log=$3 dump=$4 start i
  start=$(date +%s)
  for ((i = 0; i < wait_s; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "still running after $wait_s s" >> "$log"
    { for th in /proc/$pid/task/*; do echo "$(cat "$th/comm") $(awk '{print $3}' "$th/stat") $(cat "$th/wchan" 2>/dev/null)"; done
      timeout 60 cuda-gdb -batch -nx -p "$pid" -ex 'set pagination off' -ex 'info threads' -ex 'thread apply all bt 25' 2>&1 | grep -v '^\[New LWP\|^warning'
    } > "$dump" 2>&1
    kill -9 "$pid"
  else
    wait "$pid"
    echo "rc=$? after $(( $(date +%s) - start )) s" >> "$log"
  fi
}

# blocking_vanish <out>: from the current folder's build, the vanishing-rank job ($vanish_job, lib.sh) with
# FAIRRING_NCCL_BLOCKING=1 (blocking communicators, in the builds that had that switch); after 25 s every worker
# still running gets its stacks dumped into <out>/stacks-<pid>.txt and is killed (<out>/blocking-hang.txt), the
# launcher's output in <out>/blocking-launch.txt.
blocking_vanish() {
  local dir=$1 launcher pid
  FAIRRING_NCCL_BLOCKING=1 FR_WORKER=$vanish_job timeout 90 node dist/src/cli/main.js launch --nnodes 3 --emulate-machines \
    --master-port 29950 -- node dist/test/helpers/connect-worker.js > "$dir/blocking-launch.txt" 2>&1 &
  launcher=$!
  sleep 25
  for pid in $(pgrep -f '^[^ ]*node dist/test/helpers/connect-worker.js'); do
    dump_if_hung "$pid" 1 "$dir/blocking-hang.txt" "$dir/stacks-$pid.txt"
  done
  wait "$launcher"
  echo "launcher rc=$? after $(( $(date +%s) - start )) s"
  cat "$dir/blocking-hang.txt" 2>/dev/null
}
