# Sourced by the GPU probes (run through scripts/gpu-run.sh, from the repository root): the base build beside
# this one, labelled bench rows at 2 x 1, and the vanishing-rank job.

# The CUDA vanishing-rank job (test/helpers/connect-worker.ts): 3 emulated machines, rank 2 exits with 12
# all-reduces of 200,000 float32 in 64 KiB slices in flight; the others should reject within 5 s and exit.
vanish_job='{"seed":7,"lengths":[200000,200000,200000,200000,200000,200000,200000,200000,200000,200000,200000,200000],"op":"sum","dtype":"float32","pipeline":"fairring","backend":"cuda","vanish":[2],"timeoutMs":5000,"options":{"0":{"sliceBytes":65536},"1":{"sliceBytes":65536},"2":{"sliceBytes":65536}}}'

# Unpacks bundle/base.tar.xz (scripts/probes/base-bundle.sh) into base/, sharing this tree's node_modules.
unpack_base() {
  mkdir -p base && tar -xJf bundle/base.tar.xz -C base && ln -sfn ../node_modules base/node_modules
}

# bench_rows <folder> <label> <size> <buckets>: the build in <folder>, `fairring` at 2 x 1, its bench rows
# (engine and native loop, medians of 3 runs) each prefixed with <label>.
bench_rows() {
  (cd "$1" && timeout 60 node dist/src/cli/main.js bench --backend cuda --machines 2 --devices 1 --pipelines fairring \
    --bytes "$3" --buckets "$4" --iters 3 --warmup 1 --repeat 3) | grep -E '^\| [0-9]' | sed "s/^/$2 /"
}

# vanish_gdb <runs> <seconds> <out>: the vanishing-rank job <runs> times within <seconds>, both survivors under
# cuda-gdb (a summary on stdout); the logs of runs that received a signal are copied into <out>.
vanish_gdb() {
  RUNS=$1 GDB_RANKS="0 1" LOGS=/tmp/vanish timeout "$2" bash scripts/probes/vanish-gdb.sh
  for f in /tmp/vanish/vanish-gdb-*.txt; do
    grep -q 'received signal' "$f" && cp "$f" "$3/"
  done
}

# The probes' first step: `out` ($OUT, created) and `start` (seconds, for the timings they print).
probe_begin() {
  out=${OUT:-/tmp/fairring-out}
  mkdir -p "$out"
  start=$(date +%s)
}

# since <words...>: prints the words and the seconds since probe_begin ("suite done at 178 s").
since() {
  echo "$* $(( $(date +%s) - start )) s"
}

# run_suite <seconds>: the CUDA suite (scripts/gpu-suite.sh tests) cut at <seconds>, then when it ended.
run_suite() {
  timeout "$1" bash scripts/gpu-suite.sh tests
  since "suite done at"
}

# compare_rounds <size> <buckets> <file>: this build and base/, 2 interleaved rounds, into $out/<file> and stdout.
compare_rounds() {
  for round in 1 2; do
    bench_rows . "round $round this:" "$1" "$2"
    bench_rows base "round $round base:" "$1" "$2"
  done 2>&1 | tee "$out/$3"
}

# profile_row <label> <size> <buckets> <iters> [env...]: `fairring` at 2 x 1 with FAIRRING_NCCL_PROFILE=1 and
# the environment given, its bench rows and the profile's line, each prefixed with <label>.
profile_row() {
  local label=$1 size=$2 buckets=$3 iters=$4
  shift 4
  env FAIRRING_NCCL_PROFILE=1 "$@" timeout 120 node dist/src/cli/main.js bench --backend cuda --machines 2 --devices 1 \
    --pipelines fairring --bytes "$size" --buckets "$buckets" --iters "$iters" --warmup 1 --repeat 3 > /tmp/run.txt 2>&1
  grep -E '^\| [0-9]|NCCL groups' /tmp/run.txt | sed "s/^/$label /"
}

# loop_table: `fairring` against its native loop at 2 x 1 and 1 x 2 (64 x 25 MiB, one 256 MiB, 2000 x 64 KiB; medians
# of 3 runs), each bench row prefixed with its topology.
loop_table() {
  local m d work
  for topo in "2 1" "1 2"; do
    read -r m d <<< "$topo"
    for work in "26214400 64" "268435456 1" "65536 2000"; do
      set -- $work
      timeout 90 node dist/src/cli/main.js bench --backend cuda --machines "$m" --devices "$d" --pipelines fairring \
        --bytes "$1" --buckets "$2" --iters 3 --warmup 1 --repeat 3 | grep -E '^\| [0-9]' | sed "s/^/${m}x${d} /"
    done
  done
}

# cpu_prof <label> <rows> <bench options...>: `fairring` under node --cpu-prof (100 µs samples), its bench rows
# and the profile's summary (scripts/probes/cpuprof-top.mjs, <rows> rows per table), each prefixed with <label>.
cpu_prof() {
  local label=$1 rows=$2
  shift 2
  rm -rf /tmp/prof
  timeout 120 node --cpu-prof --cpu-prof-interval 100 --cpu-prof-dir=/tmp/prof dist/src/cli/main.js bench --backend cuda \
    --pipelines fairring "$@" | grep -E '^\| [0-9]' | sed "s/^/$label /"
  node scripts/probes/cpuprof-top.mjs /tmp/prof/*.cpuprofile "$rows" | sed "s/^/$label /"
}

# cpu_row <bench options...>: `fairring` on the CPU backend, 40 iterations, medians of 5, its bench row.
cpu_row() {
  timeout 60 node dist/src/cli/main.js bench --backend cpu --pipelines fairring --iters 40 --warmup 5 --repeat 5 "$@" |
    grep -E '^\| [0-9.]+ [KM]?i?B \| fairring'
}

# cpu_rows <dir> <label> <topology...>: the build in <dir>, the CPU targets' row (cpu_row, 64 x 256 B) and
# js-cpu.mjs's figures at each topology ("M D"), each line prefixed with <label> (the bench row also with the
# topology). <dir> needs scripts/probes/js-cpu.mjs.
cpu_rows() {
  local dir=$1 label=$2 topo m d
  shift 2
  for topo in "$@"; do
    read -r m d <<< "$topo"
    (cd "$dir" && cpu_row --machines "$m" --devices "$d" --bytes 256 --buckets 64) | sed "s/^/$label ${m}x$d /"
    (cd "$dir" && timeout 60 node scripts/probes/js-cpu.mjs "$m" "$d" 64 64 200) | sed "s/^/$label /"
  done
}

# cpu_ab <rounds> <file> <topology...>: cpu_rows for this build and base/ (unpack_base) interleaved over <rounds>
# rounds, into $out/<file> and stdout, each line prefixed with its round and build.
cpu_ab() {
  local rounds=$1 file=$2 round build dir
  shift 2
  mkdir -p base/scripts/probes && cp scripts/probes/js-cpu.mjs base/scripts/probes/
  for ((round = 1; round <= rounds; round++)); do
    for build in this base; do
      dir=.
      [[ $build == base ]] && dir=base
      cpu_rows "$dir" "round $round $build" "$@"
    done
  done 2>&1 | tee "$out/$file"
}

# unpack_builds <name...>: each bundle/<name>.tar.xz (scripts/probes/base-bundle.sh <rev> <name>) into
# builds/<name>/, sharing this tree's node_modules, with the probes js-cpu.mjs and thread-cpu.py.
unpack_builds() {
  local b
  for b in "$@"; do
    mkdir -p "builds/$b/scripts/probes" && tar -xJf "bundle/$b.tar.xz" -C "builds/$b" && ln -sfn ../../node_modules "builds/$b/node_modules"
    cp scripts/probes/js-cpu.mjs scripts/probes/thread-cpu.py "builds/$b/scripts/probes/"
  done
}

# emulated_rows <seconds> <work...>: `fairring` against its native loop across processes, 2 x 1 and 3 x 1 emulated
# on this host (`launch --emulate-machines`: a machine and NCCL host id per process, NCCL over loopback sockets,
# NCCL_SOCKET_NTHREADS=4 NCCL_NSOCKS_PERTHREAD=4), `bench --connect` at its defaults, each work "SIZE BUCKETS
# ITERS" cut at <seconds>; rank 0's rows (the slowest rank of each run) prefixed with the topology.
emulated_rows() {
  local seconds=$1 port=29400 m work size buckets iters
  shift
  for m in 2 3; do
    for work in "$@"; do
      read -r size buckets iters <<< "$work"
      port=$((port + 20))
      NCCL_SOCKET_NTHREADS=4 NCCL_NSOCKS_PERTHREAD=4 timeout $((seconds + 10)) node dist/src/cli/main.js launch --nnodes "$m" \
        --emulate-machines --master-port "$port" --timeout "$seconds" -- node dist/src/cli/main.js bench --connect --backend cuda \
        --pipelines fairring --bytes "$size" --buckets "$buckets" --iters "$iters" --warmup 1 --repeat 3 |
        grep -E '^\[rank 0\] \| [0-9]' | sed "s/^\[rank 0\] /${m}x1 emulated /"
      since "${m}x1 $size done at"
    done
  done
}

# addon_ab <file> <name...>: builds packed as bundle/<name>.tar.xz (each its dist and addon) interleaved over 5
# rounds: the CPU targets' rows (cpu_row at 1 x 1, 2 x 2, 2 x 4) and the native submit's and want's time per slice
# (submit-cost.mjs at 2 x 2 and 2 x 4), each line prefixed with its round and build; the machine's jsLoopNs into
# $out/machine.txt, the rows into $out/<file>.
addon_ab() {
  local file=$1 round b topo m d
  shift
  unpack_builds "$@"
  for b in "$@"; do cp scripts/probes/submit-cost.mjs "builds/$b/scripts/probes/"; done
  timeout 60 node scripts/probes/machine-costs.mjs | grep -E "jsLoop" | tee "$out/machine.txt"
  for round in 1 2 3 4 5; do
    for b in "$@"; do
      for topo in "1 1" "2 2" "2 4"; do
        read -r m d <<< "$topo"
        (cd "builds/$b" && cpu_row --machines "$m" --devices "$d" --bytes 256 --buckets 64) | sed "s/^/round $round $b ${m}x$d /"
      done
      for topo in "2 2" "2 4"; do
        read -r m d <<< "$topo"
        (cd "builds/$b" && timeout 60 node scripts/probes/submit-cost.mjs "$m" "$d" 8) | sed "s/^/round $round $b /"
      done
    done
  done 2>&1 | tee "$out/$file"
}

# cuda_1x1_rows <rounds> <warmup> <file> <build...>: the unpacked builds (builds/<name>) interleaved over <rounds>
# rounds, `fairring` and its native loop at 1 x 1 on CUDA, 2000 x 64 KiB (bench's medians of 3 runs after
# <warmup> iterations), each row prefixed with its round and build; into $out/<file> and stdout.
cuda_1x1_rows() {
  local rounds=$1 warmup=$2 file=$3 round b
  shift 3
  for ((round = 1; round <= rounds; round++)); do
    for b in "$@"; do
      (cd "builds/$b" && timeout 60 node dist/src/cli/main.js bench --backend cuda --machines 1 --devices 1 --pipelines fairring \
        --bytes 64KiB --buckets 2000 --iters 3 --warmup "$warmup" --repeat 3) | grep -E '^\| [0-9]' | sed "s/^/round $round $b /"
    done
  done 2>&1 | tee "$out/$file"
}
