#!/usr/bin/env bash
# Probe (development machine, CUDA toolkit, no GPU needed): checkSides (native/src/cuda/nccl_group.cc) against the
# one of an earlier revision (default dcdb2c4^, the std::map version the issuer ran), on 300,000 random groups
# over two cliques of blocking communicators and a nonblocking one: the same verdict and message for each.
# Usage: bash scripts/probes/check-sides.sh [revision]
set -euo pipefail
cd "$(dirname "$0")/../.."
rev=${1:-dcdb2c4^}
dir=$(mktemp -d)
git show "$rev:native/src/cuda/nccl_group.cc" |
  awk '/^Status checkSides\(const CollItem\* items, size_t n\) \{/{p=1} p{print} p&&/^}$/{exit}' |
  sed 's/^Status checkSides(/Status oldCheckSides(/' > "$dir/old.inc"
flags=(-std=c++17 -O1 -DFAIRRING_WITH_CUDA -Inative/src -I"$dir" -I/usr/local/cuda/include -Inode_modules/node-addon-api
  -Inode_modules/node-api-headers/include)
g++ "${flags[@]}" scripts/probes/check-sides/harness.cc scripts/probes/check-sides/stubs.cc -o "$dir/harness" \
  -L/usr/local/cuda/lib64 -lcudart_static -ldl -lpthread -lrt
"$dir/harness"
rm -rf "$dir"
