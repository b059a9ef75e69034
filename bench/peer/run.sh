#!/usr/bin/env bash
# bench/peer/run.sh [contender ...]  -- run the peer harness (../shared/bench, or $PEER_BENCH) with lvsd added.
# The harness is copied to a scratch directory (never edited in place), this directory's lvsd-*.sh contenders are
# linked into its contenders/, and its run.sh is started there. Results land in bench/peer/results/<ts>/
# unless OUTDIR is set. Everything else (REPS, DUR, TESTS, WAIT_QUIET, KEEP_TOPO, LVSD_CPU_PROF, LVSD_DR_RETURN)
# is passed through. Default contenders: lvsd-nat lvsd-dr direct nft-nat haproxy nginx.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
export LVSD_ROOT=$(cd "$HERE/../.." && pwd)
SRC=${PEER_BENCH:-$LVSD_ROOT/../shared/bench}
[ -x "$SRC/run.sh" ] || SRC=/work/shared/bench
SCRATCH=${BENCH_SCRATCH:-/tmp/lvsd-peer-bench}
rm -rf "$SCRATCH"; mkdir -p "$SCRATCH"
cp -r "$SRC"/{run.sh,topo.sh,common.sh,report.lua,summarize.py,foreign_cpu.py,contenders} "$SCRATCH"/
chmod -R u+w "$SCRATCH"
for f in "$HERE"/lvsd-*.sh; do ln -sf "$f" "$SCRATCH/contenders/$(basename "$f")"; done
[ -e "$LVSD_ROOT/dist/src/cli/lvsd-main.js" ] || { echo "build lvsd first: npm run build" >&2; exit 2; }
export OUTDIR=${OUTDIR:-$HERE/results/$(date +%Y%m%d-%H%M%S)}
[ $# -eq 0 ] && set -- lvsd-nat lvsd-dr direct nft-nat haproxy nginx
exec "$SCRATCH/run.sh" "$@"
