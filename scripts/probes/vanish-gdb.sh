#!/usr/bin/env bash
# Probe (GPU machine): the CUDA vanishing-rank job (3 emulated machines, rank 2 exits with all-reduces in flight),
# RUNS times (default 1), the ranks in GDB_RANKS (default "2") under cuda-gdb, so that a crash leaves a backtrace
# of every thread. Each run's output in $LOGS/vanish-gdb-<run>.txt (LOGS defaults to $OUT); a summary of the runs and
# of each crash on stdout. Usage: [RUNS=n] [GDB_RANKS="0 1"] [LOGS=dir] bash scripts/gpu-run.sh bash scripts/probes/vanish-gdb.sh
set -uo pipefail
out=${OUT:-/tmp/fairring-out}
logs=${LOGS:-$out}
mkdir -p "$out" "$logs"
cat > /tmp/vanish-rank.sh <<EOS
#!/usr/bin/env bash
for r in ${GDB_RANKS:-2}; do
  if [[ \$RANK == \$r ]]; then
    exec cuda-gdb -batch -nx -ex 'set pagination off' -ex 'handle SIGPIPE nostop noprint' -ex run -ex 'info threads' -ex 'thread apply all bt 30' --args "\$@"
  fi
done
exec "\$@"
EOS
chmod +x /tmp/vanish-rank.sh
source "$(dirname "$0")/lib.sh"
for ((i = 1; i <= ${RUNS:-1}; i++)); do
  log="$logs/vanish-gdb-$i.txt"
  FR_WORKER=$vanish_job timeout 150 node dist/src/cli/main.js launch --nnodes 3 --emulate-machines --master-port $((29900 + 10 * i)) -- /tmp/vanish-rank.sh "$(command -v node)" dist/test/helpers/connect-worker.js > "$log" 2>&1
  rc=$?
  echo "run $i: launch rc=$rc, $(grep -c 'RESULT ' "$log") results, $(grep -c 'received signal SIGSEGV' "$log") SIGSEGV"
  grep -n -A40 'received signal SIGSEGV' "$log" | head -120
  [[ $rc == 0 ]] || tail -5 "$log"
done
