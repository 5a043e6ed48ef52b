#!/usr/bin/env bash
# Builds coll_bench.c with mpicc -O2 into /tmp/coll_bench and runs it across the emulated
# cluster (docs/cluster.md), or with plain mpirun.
#
#   bench/coll/run.sh [MPIRUN_ARGS...] -- COUNTS [VARIANTS] [COLL_BENCH_OPTIONS...]
#
#   COUNTS    floats per exchange, comma-separated (CIFAR-quick 145578, LeNet 431080, AlexNet 60965224)
#   VARIANTS  comma-separated, default all: allreduce, iallreduce, seg-iallreduce, reduce-bcast,
#             ireduce-ibcast, seg-ireduce-ibcast (see coll_bench.c)
#   options   -r REPEATS (10), -w WARMUPS (2), -s SEGMENT_FLOATS (16384), -f IN_FLIGHT (4), -l LINK_RATE, -o
#
# Examples (the cluster up first: scripts/emulated-cluster.sh up 2 --rate 1gbit):
#   bench/coll/run.sh -np 2 -- 145578,431080 allreduce,seg-iallreduce -r 10 -l 1gbit
#   bench/coll/run.sh -np 4 -H node1:2,node2:2 --map-by slot \
#       --mca coll_libnbc_iallreduce_algorithm 1 -- 60965224 seg-iallreduce -r 3 -l 10gbit
#   LAUNCHER=mpirun bench/coll/run.sh -np 2 --mca btl self,tcp -- 431080   # one node, no cluster
#
# LAUNCHER (default: <repo>/scripts/emulated-cluster.sh mpirun) is the command that gets the
# mpirun arguments. -x OPENBLAS_NUM_THREADS=1 is added; as root, Open MPI's run-as-root
# variables are exported.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN=/tmp/coll_bench
mpicc -O2 -o "$BIN" "$REPO/bench/coll/coll_bench.c"
args=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do args+=("$1"); shift; done
[ "${1:-}" = "--" ] || { sed -n '2,22p' "$0"; exit 2; }
shift
counts="${1:?COUNTS missing}"; shift
variants="allreduce,iallreduce,seg-iallreduce,reduce-bcast,ireduce-ibcast,seg-ireduce-ibcast"
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then variants="$1"; shift; fi
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
read -r -a launcher <<<"${LAUNCHER:-$REPO/scripts/emulated-cluster.sh mpirun}"
exec "${launcher[@]}" "${args[@]}" -x OPENBLAS_NUM_THREADS=1 "$BIN" -n "$counts" -v "$variants" "$@"
