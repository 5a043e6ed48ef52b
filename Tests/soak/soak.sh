#!/usr/bin/env bash
# make soak: LeNet on Fashion-MNIST, SOAK_ITERS (20,000) iterations on SOAK_RANKS (2) ranks,
# snapshots every SOAK_SNAPSHOT (1,000) with --keep-snapshots SOAK_KEEP (3). Every second it
# samples each rank's VmRSS and VmHWM (/proc/PID/status) and the snapshot directory's size.
# Passes when training ends normally, each rank's peak RSS grows under 2% from the end of the
# warm-up (the first quarter: tests, snapshots and deletions have all happened by then) to the
# end, the directory never holds more than SOAK_KEEP + 1 snapshot sets, and SOAK_KEEP remain.
# Writes samples.csv, train.log and summary.txt under SOAK_DIR (.build/soak).
set -uo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
: "${SPARKNET_BIN:?set SPARKNET_BIN to the (release) sparknet-mpi binary}"
ITERS=${SOAK_ITERS:-20000} SNAP=${SOAK_SNAPSHOT:-1000} KEEP=${SOAK_KEEP:-3} RANKS=${SOAK_RANKS:-2}
DIR=${SOAK_DIR:-$REPO/.build/soak}
DATA=${SOAK_DATA:-$REPO/data/fashion-mnist}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_plm_rsh_agent=false
[ -f "$DATA/train.txt" ] || { echo "soak: $DATA/train.txt missing (make data)"; echo "soak: 0 passed, 1 failed"; exit 1; }

cd "$REPO"   # the list files name the .h5 files relative to the repository
rm -rf "$DIR"; mkdir -p "$DIR/snap"
sed -e "s#^net: .*#net: \"$DIR/net.prototxt\"#" -e "s#^max_iter: .*#max_iter: $ITERS#" \
    -e "s#^snapshot: .*#snapshot: $SNAP#" -e "s#^snapshot_prefix: .*#snapshot_prefix: \"$DIR/snap/lenet\"#" \
    -e "s#^test_interval: .*#test_interval: $((ITERS / 8))#" -e "s#^display: .*#display: 100#" \
    "$REPO/examples/fashion-mnist/lenet_solver.prototxt" >"$DIR/solver.prototxt"
sed "s#data/fashion-mnist/#$DATA/#" "$REPO/examples/fashion-mnist/lenet_train_test.prototxt" >"$DIR/net.prototxt"

mpirun --oversubscribe -np "$RANKS" -x OPENBLAS_NUM_THREADS=1 "$SPARKNET_BIN" train \
  --solver "$DIR/solver.prototxt" --keep-snapshots "$KEEP" >"$DIR/train.log" 2>&1 &
MPI=$!
echo "seconds,rank,pid,iteration,vmrss_kb,vmhwm_kb,snapshot_bytes,snapshot_sets" >"$DIR/samples.csv"
start=$SECONDS
pids=()
while kill -0 "$MPI" 2>/dev/null; do
  # The ranks are mpirun's children (a local launch forks them itself).
  if [ ${#pids[@]} -lt "$RANKS" ]; then
    read -ra pids <<<"$(cat /proc/$MPI/task/*/children 2>/dev/null)"
  fi
  iter=$(grep -oE 'Iteration [0-9]+' "$DIR/train.log" | tail -1 | grep -oE '[0-9]+')
  bytes=$(du -sb "$DIR/snap" | cut -f1)
  sets=$(ls "$DIR"/snap/*.caffemodel 2>/dev/null | grep -c '_iter_[0-9]*\.caffemodel$')
  for r in "${!pids[@]}"; do
    st=/proc/${pids[$r]}/status
    [ -r "$st" ] || continue
    rss=$(awk '/^VmRSS:/ {print $2}' "$st"); hwm=$(awk '/^VmHWM:/ {print $2}' "$st")
    [ -n "$rss" ] && echo "$((SECONDS - start)),$r,${pids[$r]},${iter:-0},$rss,$hwm,$bytes,$sets" >>"$DIR/samples.csv"
  done
  sleep 1
done
wait "$MPI"; rc=$?
secs=$((SECONDS - start))

/usr/bin/python3 - "$DIR" "$rc" "$secs" "$ITERS" "$KEEP" "$RANKS" <<'PY'
import csv, glob, os, re, sys
d, rc, secs, iters, keep, ranks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
rows = list(csv.DictReader(open(f"{d}/samples.csv")))
log = open(f"{d}/train.log").read()
passed, failed, lines = 0, 0, []
def check(name, ok, detail):
    global passed, failed
    passed += ok; failed += not ok
    lines.append(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
done = rc == 0 and "Optimization Done" in log
last = max((int(r["iteration"]) for r in rows), default=0)
check("training", done, f"mpirun exit {rc}, {iters} iterations on {ranks} ranks in {secs} s (last logged iteration {last})")
warm = iters // 4
for r in range(ranks):
    mine = [x for x in rows if int(x["rank"]) == r]
    after = [x for x in mine if int(x["iteration"]) >= warm]
    if not after:
        check(f"rank {r} RSS", False, "no samples after the warm-up"); continue
    base_hwm, end_hwm = int(after[0]["vmhwm_kb"]), int(mine[-1]["vmhwm_kb"])
    rss_after = [int(x["vmrss_kb"]) for x in after]
    growth = (end_hwm - base_hwm) / base_hwm * 100
    check(f"rank {r} peak RSS flat after iteration {warm}", growth < 2,
          f"VmHWM {base_hwm / 1024:.1f} MiB at iteration {after[0]['iteration']} -> {end_hwm / 1024:.1f} MiB at the end "
          f"({growth:+.2f}%); VmRSS after warm-up {min(rss_after) / 1024:.1f}-{max(rss_after) / 1024:.1f} MiB "
          f"(first {rss_after[0] / 1024:.1f}, last {rss_after[-1] / 1024:.1f}); {len(mine)} samples")
models = sorted(glob.glob(f"{d}/snap/*_iter_*.caffemodel"), key=lambda p: int(re.search(r"_iter_(\d+)", p).group(1)))
final_bytes = sum(os.path.getsize(p) for p in glob.glob(f"{d}/snap/*"))
set_bytes = final_bytes / max(1, len(models))
peak_bytes = max((int(x["snapshot_bytes"]) for x in rows), default=0)
peak_sets = max((int(x["snapshot_sets"]) for x in rows), default=0)
check("snapshot sets kept", len(models) == keep,
      f"{len(models)} at the end ({', '.join(os.path.basename(m) for m in models)}), at most {peak_sets} at any sample")
check("snapshot disk use bounded", peak_bytes <= (keep + 1) * set_bytes * 1.05 and peak_sets <= keep + 1,
      f"peak {peak_bytes / 1e6:.2f} MB, end {final_bytes / 1e6:.2f} MB, one set {set_bytes / 1e6:.2f} MB "
      f"(bound: {keep + 1} sets = {(keep + 1) * set_bytes / 1e6:.2f} MB)")
deleted = len(re.findall(r"Deleted the snapshots of iteration", log))
check("older sets deleted as training went", deleted >= iters // int(os.environ.get("SOAK_SNAPSHOT", 1000)) - keep,
      f"{deleted} deletions logged")
acc = re.findall(r"Test net output #\d+: accuracy = ([0-9.]+)", log)
lines.append(f"     test accuracy over the run: {', '.join(acc)}")
summary = "\n".join(lines) + f"\nsoak: {passed} passed, {failed} failed"
print(summary)
open(f"{d}/summary.txt", "w").write(summary + "\n")
sys.exit(1 if failed else 0)
PY
