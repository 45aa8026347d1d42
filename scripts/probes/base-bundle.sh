#!/usr/bin/env bash
# Development machine: builds another revision (default 333bdb1, the last build with blocking NCCL
# communicators) in a worktree under /tmp and packs its dist/ and addon into bundle/<name>.tar.xz (default
# base), for probes that run it beside this build in one lease. Run after scripts/bundle.sh (which empties
# bundle/). Usage: bash scripts/probes/base-bundle.sh [revision] [name]
set -euo pipefail
cd "$(dirname "$0")/../.."
rev=${1:-333bdb1}
name=${2:-base}
wt=/tmp/fairring-base-$rev
# A worktree left by an earlier run is moved to the revision as it is now (a branch name moves).
if [[ -d $wt ]]; then
  git -C "$wt" checkout -q --detach "$(git rev-parse "$rev")"
else
  git worktree add -f --detach "$wt" "$rev" -q
fi
ln -sfn "$PWD/node_modules" "$wt/node_modules"
(cd "$wt" && npm run build > /tmp/fairring-base-build.log 2>&1) || { tail -20 /tmp/fairring-base-build.log >&2; exit 1; }
mkdir -p bundle
(cd "$wt" && tar -cJf "$OLDPWD/bundle/$name.tar.xz" dist native/build/Release/fairring.node)
ls -la "bundle/$name.tar.xz"
