#!/usr/bin/env bash
# `make bench`: builds the release binaries and measures, side by side in one run,
#   - `sparknet-mpi time` (forward + backward, like `caffe time`) and full solver steps
#     (forward + backward + SGD update) on LeNet and CIFAR-10 quick, at 1 and 2 BLAS threads,
#     and on 2 ranks of 1 thread each (mpirun -np 2, averaging every BENCH_TAU steps);
#   - the same nets in PyTorch (Debian's python3-torch: forward + backward + SGD step) at the same
#     thread count, its OpenBLAS and OpenMP pools included (bench/torch_nets.py);
#   - the OpenBLAS sgemm peak (1024², 1 and 2 threads);
#   - a bare MPI_Allreduce of LeNet's weight count against the engine's model averaging.
#   - the deeper nets (bench/nets/{resnet20_cifar,alexnet,googlenet,resnet}_train.prototxt): full
#     solver steps and peak RSS at 1 and 2 threads, beside the same prototxt built in PyTorch
#     (bench/caffe_torch.py), in rounds of their own after the ones above.
# Every measurement runs once per round, interleaved with the others, for BENCH_ROUNDS rounds;
# the report takes the median of each run's per-step times, then the median over rounds.
# Prints the tables and rewrites the generated parts of docs/performance.md.
#
# Environment: BENCH_ROUNDS (5), BENCH_ITERS (timed steps per run, 20), BENCH_TAU (10),
# BENCH_DEEP_ROUNDS (3), BENCH_DEEP_ITERS (8), BENCH_DEEP_NETS (all four, space-separated),
# BENCH_DEEP_ONLY=1 (only the deeper nets' rows, for iterating on them), BENCH_DEEP=0 (skip them),
# BENCH_SCRATCH (SwiftPM scratch path, .build), BENCH_OUT (raw results dir, a new temp dir),
# BENCH_NO_DOC=1 (print only, leave docs/performance.md alone).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${BENCH_ROUNDS:-5}
ITERS=${BENCH_ITERS:-20}
TAU=${BENCH_TAU:-10}
DEEP_ROUNDS=${BENCH_DEEP_ROUNDS:-3}
DEEP_ITERS=${BENCH_DEEP_ITERS:-8}
DEEP_NETS=${BENCH_DEEP_NETS:-resnet20_cifar alexnet googlenet resnet}
DEEP_ONLY=${BENCH_DEEP_ONLY:-0}
[ "${BENCH_DEEP:-1}" = 0 ] && DEEP_NETS=""
SCRATCH=${BENCH_SCRATCH:-.build}
OUT=${BENCH_OUT:-$(mktemp -d /tmp/sparknet-bench.XXXXXX)}
PY=/usr/bin/python3          # Debian's python, where python3-torch installs
mkdir -p "$OUT"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_plm_rsh_agent=false

# Debian's python3-torch for the PyTorch peer (install-deps retries around apt's failures).
scripts/install-deps.sh python3-torch
"$PY" -c "import torch" || { echo "bench: python3-torch does not import" >&2; exit 1; }

swift build -c release --scratch-path "$SCRATCH" --product sparknet-mpi
swift build -c release --scratch-path "$SCRATCH" --product sparknet-bench
BIN="$SCRATCH/release/sparknet-mpi"
PROBE="$SCRATCH/release/sparknet-bench"

LENET=bench/nets/lenet_train.prototxt
CIFAR=bench/nets/cifar10_quick_train.prototxt

[ "$DEEP_ONLY" = 1 ] && ROUNDS=0
echo "bench: $ROUNDS rounds, $ITERS timed steps per run; raw results in $OUT"
for r in $(seq 1 "$ROUNDS"); do
  echo "bench: round $r/$ROUNDS"
  for t in 1 2; do "$PROBE" sgemm --threads "$t" --iterations 10 >>"$OUT/sgemm_t$t.jsonl"; done
  # Each net's 1- and 2-thread runs back to back (ours, then PyTorch's): the host's load drifts
  # over a minute, and the 2-thread ratio compares runs seconds apart rather than a pass apart.
  for net in lenet cifar10_quick; do
    model=$LENET; [ "$net" = lenet ] || model=$CIFAR
    for t in 1 2; do
      OPENBLAS_NUM_THREADS=$t "$BIN" time --model "$model" --iterations "$ITERS" \
        >"$OUT/time_${net}_t${t}_r$r.log"
      OPENBLAS_NUM_THREADS=$t "$PROBE" step --model "$model" --iterations "$ITERS" \
        >>"$OUT/step_${net}_t$t.jsonl"
    done
    for t in 1 2; do
      "$PY" bench/torch_nets.py --net "$net" --threads "$t" --iterations "$ITERS" \
        >>"$OUT/torch_${net}_t$t.jsonl"
    done
  done
  for net in lenet cifar10_quick; do
    model=$LENET; [ "$net" = lenet ] || model=$CIFAR
    timeout 600 mpirun -np 2 -x OPENBLAS_NUM_THREADS=1 "$PROBE" step --model "$model" \
      --iterations "$ITERS" --tau "$TAU" >>"$OUT/step_${net}_np2.jsonl"
  done
  timeout 600 mpirun -np 2 -x OPENBLAS_NUM_THREADS=1 "$PROBE" allreduce --model "$LENET" \
    --iterations 50 >>"$OUT/allreduce.jsonl"
done

[ -n "$DEEP_NETS" ] && echo "bench: deeper nets ($DEEP_NETS): $DEEP_ROUNDS rounds, $DEEP_ITERS timed steps per run"
for r in $(seq 1 "$DEEP_ROUNDS"); do
  [ -n "$DEEP_NETS" ] || break
  echo "bench: deeper nets, round $r/$DEEP_ROUNDS"
  for net in $DEEP_NETS; do
    for t in 1 2; do
      OPENBLAS_NUM_THREADS=$t "$PROBE" step --model "bench/nets/${net}_train.prototxt" \
        --iterations "$DEEP_ITERS" --warmup 2 >>"$OUT/step_${net}_t$t.jsonl"
    done
    for t in 1 2; do
      # passive OpenMP waits: on a shared machine PyTorch's spinning workers slow its own 2-thread
      # steps several-fold (measured: ResNet-20 1.4 s per step instead of 0.2)
      OMP_WAIT_POLICY=PASSIVE "$PY" bench/torch_nets.py --net "$net" --threads "$t" --iterations "$DEEP_ITERS" --warmup 2 \
        >>"$OUT/torch_${net}_t$t.jsonl"
    done
  done
done

doc=docs/performance.md
[ "${BENCH_NO_DOC:-0}" = 1 ] && doc=""
"$PY" bench/report.py "$OUT" ${doc:+--doc "$doc"} --rounds "$ROUNDS" --iters "$ITERS" --tau "$TAU" \
  --deep-rounds "$DEEP_ROUNDS" --deep-iters "$DEEP_ITERS"
