#!/usr/bin/env bash
# Scaling of distributed training: images/s of `sparknet-mpi train` on Fashion-MNIST LeNet
# (batch 64 per rank, --sync average --tau 10) for
#   K = 1, 2, 4 ranks at 1 BLAS thread each (K = 4 oversubscribes a 2-core machine), and
#   K = 1 at 2 BLAS threads,
# then (unless --quick) the acceptance run: the full LeNet solver on 2 ranks,
#   mpirun -np 2 sparknet-mpi train --solver examples/fashion-mnist/lenet_solver.prototxt --sync average --tau 10
# reporting its final test accuracy and the share of round time spent communicating and
# waiting for data (from --metrics).
#
# Each scaling point trains SCALE_ITERS iterations (default 400, no tests, no snapshots) and
# takes images/s over the rounds after the first SCALE_WARMUP rounds (default 5), the median of
# SCALE_REPEATS runs (default 5). Prints the tables and rewrites the scaling section of
# docs/performance.md (between the scaling:begin/scaling:end markers; the rest stays).
#
#   bench/scaling.sh [--quick]          SPARKNET_BIN=… to use another binary
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
ITERS=${SCALE_ITERS:-400}
WARMUP=${SCALE_WARMUP:-5}
REPEATS=${SCALE_REPEATS:-5}
OUT=$(mktemp -d /tmp/sparknet-scaling.XXXXXX)
DOC=${SCALE_DOC:-docs/performance.md}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_plm_rsh_agent=false

if [ -z "${SPARKNET_BIN:-}" ]; then
  swift build -c release --product sparknet-mpi
  SPARKNET_BIN=.build/release/sparknet-mpi
fi
BIN=$SPARKNET_BIN
make --no-print-directory data >/dev/null   # data/fashion-mnist/{train,test}.{h5,txt}

# The LeNet solver, shortened: no tests, no snapshots, SCALE_ITERS iterations.
SOLVER="$OUT/scaling_solver.prototxt"
sed -E -e "s/^max_iter:.*/max_iter: $ITERS/" -e "s/^test_interval:.*/test_interval: 1000000/" \
       -e "s/^snapshot:.*/snapshot: 0/" -e "s/^display:.*/display: 0/" \
       examples/fashion-mnist/lenet_solver.prototxt >"$SOLVER"
echo "test_initialization: false" >>"$SOLVER"
echo "snapshot_after_train: false" >>"$SOLVER"
echo "snapshot_prefix: \"$OUT/scaling\"" >>"$SOLVER"

# run NAME K THREADS: one training run; its metrics go to $OUT/NAME.jsonl.
run() {
  local name=$1 k=$2 t=$3
  local args=(train --solver "$SOLVER" --sync average --tau 10 --metrics "$OUT/$name.jsonl")
  if [ "$k" -eq 1 ]; then
    OPENBLAS_NUM_THREADS=$t "$BIN" "${args[@]}" >"$OUT/$name.log" 2>&1
  else
    mpirun --oversubscribe -np "$k" -x OPENBLAS_NUM_THREADS="$t" "$BIN" "${args[@]}" >"$OUT/$name.log" 2>&1
  fi
}

CONFIGS=("1 1" "2 1" "4 1" "1 2")
for rep in $(seq 1 "$REPEATS"); do
  for c in "${CONFIGS[@]}"; do
    read -r k t <<<"$c"
    echo "scaling: K=$k threads=$t run $rep/$REPEATS"
    run "k${k}t${t}_r$rep" "$k" "$t"
  done
done

if [ "$QUICK" -eq 0 ]; then
  echo "scaling: acceptance run (2 ranks, full LeNet solver, --sync average --tau 10)"
  mkdir -p snapshots/fashion-mnist
  mpirun -np 2 -x OPENBLAS_NUM_THREADS=1 "$BIN" train --solver examples/fashion-mnist/lenet_solver.prototxt \
    --sync average --tau 10 --metrics "$OUT/accept.jsonl" >"$OUT/accept.log" 2>&1
  cp "$OUT/accept.log" snapshots/fashion-mnist/scaling-accept.log
  cp "$OUT/accept.jsonl" snapshots/fashion-mnist/scaling-accept.jsonl
fi

BIN_PATH="$BIN" python3 - "$OUT" "$WARMUP" "$REPEATS" "$ITERS" "$QUICK" "$DOC" "$(nproc)" <<'PY'
import json, os, re, statistics, sys
out, warmup, repeats, iters, quick, doc, cores = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1", sys.argv[6], sys.argv[7]

def rows(path):
    return [json.loads(l) for l in open(path) if l.strip()]

def rate(path):
    r = rows(path)[warmup:]
    images = sum(x["images_per_s"] * x["round_s"] for x in r)
    t = sum(x["round_s"] for x in r)
    return images / t, sum(x["comm_s"] for x in r) / t, sum(x.get("sync_wait_s", 0) for x in r) / t

binary = os.environ.get("BIN_PATH", "sparknet-mpi")
lines = []
lines.append(f"Fashion-MNIST LeNet, batch 64 per rank, `--sync average --tau 10`, {iters} iterations per run "
             f"(images/s over the rounds after the first {warmup}; median of {repeats} runs), `{binary}`, {cores} cores.")
lines.append("")
lines.append("| ranks K | BLAS threads per rank | images/s (all ranks) | vs K=1, 1 thread | comm (exchange) share of round time | waiting for the slowest rank |")
lines.append("|---|---|---|---|---|---|")
base = None
for k, t in [(1, 1), (2, 1), (4, 1), (1, 2)]:
    runs = [rate(f"{out}/k{k}t{t}_r{i}.jsonl") for i in range(1, repeats + 1)]
    ips = statistics.median(r[0] for r in runs)
    comm = statistics.median(r[1] for r in runs)
    wait = statistics.median(r[2] for r in runs)
    if base is None: base = ips
    note = " (oversubscribed)" if k * t > int(cores) else ""
    lines.append(f"| {k}{note} | {t} | {ips:,.0f} | {ips / base:.2f}× | {100 * comm:.2f}% | {100 * wait:.2f}% |")
lines.append("")
lines.append("Command: `bench/scaling.sh` (`SCALE_ITERS`, `SCALE_WARMUP`, `SCALE_REPEATS`); each point is "
             "`mpirun --oversubscribe -np K -x OPENBLAS_NUM_THREADS=T sparknet-mpi train --solver <LeNet solver, "
             "no tests> --sync average --tau 10 --metrics m.jsonl` (K = 1 runs without mpirun).")

if not quick:
    r = rows(f"{out}/accept.jsonl")
    log = open(f"{out}/accept.log").read()
    acc = re.findall(r"Test net output #\d+: accuracy = ([0-9.]+)", log)
    total = sum(x["round_s"] for x in r)
    comm = sum(x["comm_s"] for x in r)
    wait = sum(x["data_wait_s"] for x in r)
    sync = sum(x.get("sync_wait_s", 0) for x in r)
    test = sum(x["test_s"] for x in r)
    snap = sum(x["snapshot_s"] for x in r)
    lines += ["", "Acceptance run:", "",
              "```", "mpirun -np 2 -x OPENBLAS_NUM_THREADS=1 sparknet-mpi train --solver examples/fashion-mnist/lenet_solver.prototxt \\",
              "    --sync average --tau 10 --metrics accept.jsonl", "```", "",
              "| final test accuracy | rounds | round time (s) | comm (exchange) | data wait | waiting for the slowest rank | test | images/s |",
              "|---|---|---|---|---|---|---|---|",
              f"| {acc[-1] if acc else '?'} | {len(r)} | {total:.1f} | {100 * comm / total:.2f}% ({1000 * comm / len(r):.2f} ms/round) "
              f"| {100 * wait / total:.2f}% | {100 * sync / total:.2f}% | {100 * test / total:.2f}% "
              f"| {sum(x['images_per_s'] * x['round_s'] for x in r) / total:,.0f} |",
              "", "Shares are Σ over rounds of the largest rank's time, over Σ round time. `comm` is the exchange "
              "(MPI_Allreduce of the 431,080 weights and the scale) after a barrier; the time the faster rank spends in "
              "that barrier is the ranks' speed difference, not communication. Test accuracies during the run: "
              + ", ".join(acc) + "."]

text = "\n".join(lines)
print(text)
BEGIN, END = "<!-- scaling:begin (generated by bench/scaling.sh) -->", "<!-- scaling:end -->"
d = open(doc).read() if os.path.exists(doc) else "# Performance\n"
if BEGIN not in d or END not in d:
    d = d.rstrip("\n") + f"\n\n## Scaling across ranks\n\n{BEGIN}\n{END}\n"
pre, rest = d.split(BEGIN, 1)
_, post = rest.split(END, 1)
open(doc, "w").write(pre + BEGIN + "\n" + text + "\n" + END + post)
PY
echo "scaling: raw results in $OUT"
