#!/usr/bin/env bash
# `sparknet-mpi train` under mpirun: distributed training, metrics, per-rank snapshots and an
# exact K-rank resume, start-up errors printed once with every rank exiting non-zero, a config
# mismatch naming the rank, and a rank dying mid-run ending the job quickly.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_mpirun

make_h5 train.h5 80
make_h5 test.h5 40
echo "$WORK/train.h5" >train.txt
echo "$WORK/test.h5" >test.txt
tiny_net net.prototxt "$WORK/train.txt" "$WORK/test.txt"
tiny_solver solver.prototxt net.prototxt 'snapshot: 10'

# --- two ranks, model averaging, metrics
CODES=1 mpi avg2 2 train --solver solver.prototxt --sync average --tau 4 --metrics "$WORK/m.jsonl"
codes=$(rank_codes avg2)
check "train -np 2 --sync average: exit 0 on both ranks, rank 0 alone logs" bash -c "
  [ $RC -eq 0 ] && [ '$codes' = '0 0 ' ] && [ \$(grep -c 'Optimization Done' '$OUT') -eq 1 ] && grep -q '2 ranks, --sync average, tau 4' '$OUT' &&
  grep -q 'Test net output #0: accuracy' '$OUT'"
check "rank 0 wrote the model, rank 1 its state beside it" bash -c "
  [ -f '$WORK/snap/tiny_iter_20.caffemodel' ] && [ -f '$WORK/snap/tiny_iter_20.solverstate' ] &&
  [ -f '$WORK/snap/tiny_iter_10.solverstate.rank1' ] && [ -f '$WORK/snap/tiny_iter_10.solverstate.rank1.sparknet' ] &&
  [ ! -f '$WORK/snap/tiny_iter_20.solverstate.rank0' ]"
"$BIN" test --model net.prototxt --weights "$WORK/snap/tiny_iter_20.caffemodel" --iterations 4 >"$WORK/t1.out" 2>&1
mpi test2 2 test --model net.prototxt --weights "$WORK/snap/tiny_iter_20.caffemodel" --iterations 4
check "test -np 2 (each rank scores its shard) equals test on 1 rank" bash -c "
  a=\$(grep -E '\] (accuracy|loss) = ' '$WORK/t1.out' | sed 's/.*\] //'); b=\$(grep -E '\] (accuracy|loss) = ' '$OUT' | sed 's/.*\] //');
  [ $RC -eq 0 ] && [ \$(echo \"\$a\" | wc -l) -eq 2 ] && [ \"\$a\" = \"\$b\" ]"
check "metrics: one JSON line per round with C, S, data wait and images/s" "$PY" - "$WORK/m.jsonl" <<'PY'
import json, sys
rows = [r for r in map(json.loads, open(sys.argv[1])) if "round_s" in r]   # also test and local_steps lines
assert [r["iteration"] for r in rows] == [4, 8, 12, 16, 20], [r["iteration"] for r in rows]
for r in rows:
    for k in ("loss", "lr", "compute_s", "comm_s", "sync_wait_s", "data_wait_s", "images_per_s", "round_s"):
        assert k in r and r[k] is not None, (k, r)
    assert r["ranks"] == 2 and r["iterations"] == 4 and r["images_per_s"] > 0 and r["comm_s"] >= 0
    # The tiny net's 1490 weights, once per round; the bandwidth is those bytes over comm_s.
    assert r["bytes"] == 1490 * 4, r
    assert r["comm_s"] == 0 or abs(r["bandwidth_gbps"] - r["bytes"] * 8 / r["comm_s"] / 1e9) <= 1e-3 * r["bandwidth_gbps"], r
PY

# --- a K-rank resume continues bit for bit (iteration 10 is mid-round for tau 4)
mkdir -p "$WORK/snapb"
sed "s#snapshot_prefix: .*#snapshot_prefix: \"$WORK/snapb/tiny\"#" solver.prototxt >solver_b.prototxt
mpi resume2 2 train --solver solver_b.prototxt --sync average --tau 4 --snapshot "$WORK/snap/tiny_iter_10.solverstate"
check "resumed -np 2 run writes the same iteration-20 model, bit for bit" bash -c "
  [ $RC -eq 0 ] && [ -f '$WORK/snap/tiny_iter_10.caffemodel.rank1' ] &&
  cmp -s '$WORK/snap/tiny_iter_20.caffemodel' '$WORK/snapb/tiny_iter_20.caffemodel'"

# --- gradient and master modes, four ranks
for mode in gradient master easgd async-easgd; do
  sed "s#snapshot_prefix: .*#snapshot_prefix: \"$WORK/snap_$mode\"#" solver.prototxt >solver_$mode.prototxt
  mpi "mode_$mode" 4 train --solver solver_$mode.prototxt --sync "$mode" --tau 5
  check "train -np 4 --sync $mode" bash -c "[ $RC -eq 0 ] && grep -q 'Optimization Done' '$OUT' && [ -f '$WORK/snap_${mode}_iter_20.caffemodel' ]"
done

# --- gradient mode's allreduce overlapped with backward: bit-identical to the one after backward,
# for any bucket size and with iter_size 2 (ip1 of 144 x 600 gives six 64 KiB segments; 4 ranks,
# where the order of a sum matters), with metrics measured after every iteration (no collective
# may come between the segments)
tiny_net wide.prototxt "$WORK/train.txt" "$WORK/test.txt" 600
for v in "0 1" "0.25 1" "0.0625 1" "100 1" "0 2" "0.0625 2"; do
  set -- $v
  tag="b${1}_i$2"
  tiny_solver "solver_$tag.prototxt" wide.prototxt "iter_size: $2"
  sed -i "s#snapshot_prefix: .*#snapshot_prefix: \"$WORK/ov_$tag\"#" "solver_$tag.prototxt"
  mpi "ov_$tag" 4 train --solver "solver_$tag.prototxt" --sync gradient --bucket-mb "$1" --tau 1 --metrics "$WORK/ov_$tag.jsonl"
  [ $RC -eq 0 ] || echo "ov_$tag failed: $(tail -3 "$ERR")"
done
check "--sync gradient, 4 ranks: buckets of 0.25, 0.0625 and 100 MB overlapped with backward give the model of --bucket-mb 0, bit for bit" bash -c "
  for b in 0.25 0.0625 100; do cmp -s '$WORK/ov_b0_i1_iter_20.caffemodel' \"$WORK/ov_b\${b}_i1_iter_20.caffemodel\" || exit 1; done"
check "... and with iter_size 2 (only the last pass of an iteration overlaps)" \
  cmp -s "$WORK/ov_b0_i2_iter_20.caffemodel" "$WORK/ov_b0.0625_i2_iter_20.caffemodel"
check "... and the overlapped model differs from iter_size 1's (the comparison can fail)" bash -c "
  ! cmp -s '$WORK/ov_b0_i1_iter_20.caffemodel' '$WORK/ov_b0_i2_iter_20.caffemodel'"
tiny_solver solver_lwr.prototxt wide.prototxt "layer_wise_reduce: false"
sed -i "s#snapshot_prefix: .*#snapshot_prefix: \"$WORK/ov_lwr\"#" solver_lwr.prototxt
mpi ov_lwr 2 train --solver solver_lwr.prototxt --sync gradient --metrics "$WORK/ov_lwr.jsonl"
check "layer_wise_reduce: false (Caffe's switch) is accepted and trains" bash -c "[ $RC -eq 0 ] && [ -f '$WORK/ov_lwr_iter_20.caffemodel' ]"
check "gradient mode's metrics: the gradients' bytes once per iteration (87040 floats x 20 iterations)" "$PY" - "$WORK/ov_lwr.jsonl" <<'PY'
import json, sys
rows = [r for r in map(json.loads, open(sys.argv[1])) if "round_s" in r]
assert sum(r["iterations"] for r in rows) == 20, rows
for r in rows:
    assert r["bytes"] == 87040 * 4 * r["iterations"] and r["bandwidth_gbps"] > 0, r
PY

# --- --round-seconds: a round also ends on time, the same iteration on every rank
sed "s#snapshot_prefix: .*#snapshot_prefix: \"$WORK/snap_rs\"#" solver.prototxt >solver_rs.prototxt
mpi round_seconds 4 train --solver solver_rs.prototxt --tau 1000 --round-seconds 0.000001 --average-history \
  --metrics "$WORK/rs.jsonl"
check "--round-seconds (tiny) --tau 1000 under 4 ranks: a round after every iteration" bash -c "
  [ $RC -eq 0 ] && [ \$(grep -c '"round_s"' '$WORK/rs.jsonl') -eq 20 ] && grep -q '\"iteration\": 20,' '$WORK/rs.jsonl'"
# SparkNet's meaning: each rank runs local steps until its own clock says T, with no agreement per
# iteration, so a rank 3x slower makes about a third of the steps; at round ends the ranks agree on
# the iteration (the highest), and tests and snapshots whose interval passed run there.
tiny_solver solver_rs2.prototxt net.prototxt 'snapshot: 100'
sed -i "s#snapshot_prefix: .*#snapshot_prefix: \"$WORK/snap_rs2/tiny\"#; s#max_iter: .*#max_iter: 3000#; s#test_interval: .*#test_interval: 250#; s#snapshot: 100#snapshot: 500#" solver_rs2.prototxt
mkdir -p "$WORK/snap_rs2"
# tau 150: the fast rank tends to end its rounds by count, the slow one on time; every exchange
# must still leave both with the same weights (SPARKNET_CHECK_SYNC compares them).
SPARKNET_CHECK_SYNC=1 mpi round_seconds2 2 train --solver solver_rs2.prototxt --tau 150 --round-seconds 0.02 --slow-rank 1:3 \
  --metrics "$WORK/rs2.jsonl"
steps=$(sed -nE 's/.*Local steps per rank: 0: ([0-9]+), 1: ([0-9]+).*/\1 \2/p' "$OUT")
check "--round-seconds 0.02, rank 1 3x slower: rank 0 makes 1.8-8x rank 1's local steps (${steps:-none})" bash -c "
  [ $RC -eq 0 ] && [ -n '$steps' ] && awk -v a='${steps% *}' -v b='${steps#* }' 'BEGIN { exit !(b > 0 && a / b >= 1.8 && a / b <= 8) }'"
check "... rounds end at agreed iterations, tests follow them, snapshots where an interval passed, the last at 3000" "$PY" - "$WORK/rs2.jsonl" "$WORK/snap_rs2" <<'PY'
import json, os, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
rounds = [r for r in lines if "round_s" in r]
tests = [t for t in lines if "test" in t and "accuracy" in t]
its = [r["iteration"] for r in rounds]
assert len(rounds) >= 3 and its == sorted(set(its)) and its[-1] == 3000, its
assert all(r["iterations"] >= 1 for r in rounds), rounds
# A test at 0, then one after every round in which a multiple of 250 passed, at that round's iteration.
want = [0] + [b for a, b in zip([0] + its, its) if b // 250 > a // 250]
assert [t["iteration"] for t in tests] == want, ([t["iteration"] for t in tests], want)
snaps = sorted(int(f.split("_")[-1].split(".")[0]) for f in os.listdir(sys.argv[2]) if f.endswith(".manifest.json"))
assert snaps == [b for a, b in zip([0] + its, its) if b // 500 > a // 500], (snaps, its)
PY

# --- bad input on every rank: printed once (rank 0), every rank exits non-zero
CODES=1 mpi missing_solver 4 train --solver nowhere.prototxt
check "missing solver under 4 ranks: one message, 4 non-zero exits" printed_once missing_solver "nowhere.prototxt"
mpi missing_solver_rc 4 train --solver nowhere.prototxt
check "missing solver under 4 ranks: mpirun exits non-zero, one message" bash -c "
  [ $RC -ne 0 ] && [ \$(grep -c '^sparknet-mpi: error: ' '$ERR') -eq 1 ]"
sed "s#$WORK/train.txt#$WORK/absent.txt#" net.prototxt >net_bad.prototxt
tiny_solver solver_bad.prototxt net_bad.prototxt
CODES=1 mpi missing_list 4 train --solver solver_bad.prototxt
check "missing HDF5 list under 4 ranks: one message, 4 non-zero exits" printed_once missing_list "absent.txt"
make_h5 small.h5 3
echo "$WORK/small.h5" >small.txt
sed "s#$WORK/train.txt#$WORK/small.txt#" net.prototxt >net_small.prototxt
tiny_solver solver_small.prototxt net_small.prototxt
CODES=1 mpi too_few_rows 4 train --solver solver_small.prototxt
check "3 rows for 4 ranks: one message, 4 non-zero exits" printed_once too_few_rows "cannot be split over 4 ranks"

# --- one rank alone cannot read its input (relative list path, different working directory)
# while the other waits in the collective HDF5 open: the failing rank gives up waiting for the
# others at the checkpoint (15 s), names itself and ends the job.
mkdir -p d0 d1
cp train.txt test.txt d0/ && cp test.txt d1/
tiny_net net_rel.prototxt train.txt test.txt
tiny_solver solver_rel.prototxt "$WORK/net_rel.prototxt"
start=$SECONDS
timeout 120 mpirun --oversubscribe -np 2 bash -c 'cd "d$OMPI_COMM_WORLD_RANK" && exec "$0" train --solver ../solver_rel.prototxt' "$BIN" >onerank.out 2>onerank.err
RC=$?; SECS=$((SECONDS - start)); OUT=onerank.out; ERR=onerank.err
check "only rank 1 lacks its list: 'rank 1: ...' once, job ends non-zero in ${SECS}s (< 30 s)" bash -c "
  [ $RC -ne 0 ] && [ $RC -ne 124 ] && [ $SECS -lt 30 ] && [ \$(grep -c '^sparknet-mpi: error: ' onerank.err) -eq 1 ] &&
  grep -q '^sparknet-mpi: error: rank 1: .*train.txt' onerank.err"

# --- ranks started with different flags: named, once
timeout 120 mpirun --oversubscribe -np 2 bash -c '"$0" train --solver solver.prototxt --tau $((4 + OMPI_COMM_WORLD_RANK))' "$BIN" >mismatch.out 2>mismatch.err
RC=$?; OUT=mismatch.out; ERR=mismatch.err
check "different flags on rank 1: one message naming rank 1" bash -c "
  [ $RC -ne 0 ] && [ \$(grep -c '^sparknet-mpi: error: ' mismatch.err) -eq 1 ] && grep -q 'rank 1 read a different' mismatch.err"

# --- a rank failing mid-run ends the whole job, non-zero, within 30 s
for mode in error kill; do
  SPARKNET_FAIL_RANK=2 SPARKNET_FAIL_ITER=5 SPARKNET_FAIL_MODE=$mode mpi "fail_$mode" 4 train --solver solver.prototxt
  check "rank 2 fails at iteration 5 ($mode): job ends non-zero in ${SECS}s (< 30 s)" bash -c "
    [ $RC -ne 0 ] && [ $RC -ne 124 ] && [ $SECS -lt 30 ] &&
    { [ $mode = kill ] || grep -q '^sparknet-mpi: error: rank 2: injected failure' '$ERR'; }"
done
finish
