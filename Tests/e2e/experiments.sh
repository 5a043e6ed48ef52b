#!/usr/bin/env bash
# The experiment flags of `train` (issue 9) through the binary under mpirun: --comm-delay changes
# no weight and adds S per exchange to comm_s; async-easgd with --slow-rank lets the fast ranks
# make more local steps and ends without a hang; --target-accuracy stops every rank at the same
# iteration and records it; bad values give one error, every rank non-zero.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_mpirun

make_h5 train.h5 160
make_h5 test.h5 40
echo "$WORK/train.h5" >train.txt
echo "$WORK/test.h5" >test.txt
tiny_net net.prototxt "$WORK/train.txt" "$WORK/test.txt"
# solver NAME [EXTRA] : snapshots under $WORK/snap_NAME/ (the final one only).
solver() {
  tiny_solver "solver_$1.prototxt" net.prototxt "${2:-}"
  mkdir -p "$WORK/snap_$1"
  sed -i "s#snapshot_prefix: .*#snapshot_prefix: \"$WORK/snap_$1/tiny\"#" "solver_$1.prototxt"
}

# --- --comm-delay: the same weights bit for bit, and S more communication in every round
solver plain
solver delayed
mpi plain 2 train --solver solver_plain.prototxt --tau 4 --metrics "$WORK/plain.jsonl"
mpi delayed 2 train --solver solver_delayed.prototxt --tau 4 --comm-delay 0.1 --slow-rank 1:2 --metrics "$WORK/delayed.jsonl"
check "--comm-delay 0.1 --slow-rank 1:2: the same model, bit for bit" bash -c "
  [ $RC -eq 0 ] && cmp -s '$WORK/snap_plain/tiny_iter_20.caffemodel' '$WORK/snap_delayed/tiny_iter_20.caffemodel'"
check "--comm-delay in the log line and in every metrics line; comm_s grows by 0.1 s per round, loss unchanged" "$PY" - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
rounds = lambda f: [r for r in map(json.loads, open(f"{w}/{f}")) if "round_s" in r]
a, b = rounds("plain.jsonl"), rounds("delayed.jsonl")
assert len(a) == len(b) == 5, (len(a), len(b))
assert "comm-delay 0.1 s, rank 1 2.0x slower" in open(f"{w}/delayed.out").read()
for x, y in zip(a, b):
    assert y["comm_delay_s"] == 0.1 and y["slow_rank"] == 1 and y["slow_factor"] == 2 and x["comm_delay_s"] == 0
    assert x["loss"] == y["loss"] and x["iteration"] == y["iteration"], (x, y)
    assert y["comm_s"] >= 0.099, ("the sleep is counted in every round", y["comm_s"])
# Once per round, not per iteration (tau 4: 0.4 s). The median, because on a busy machine one
# round of the plain run can wait as long as the sleep.
added = sorted(y["comm_s"] - x["comm_s"] for x, y in zip(a, b))
assert 0.08 <= added[len(added) // 2] < 0.35, ("comm_s grew by", added)
PY

# --- async-easgd, rank 3 much slower: the fast ranks make more local steps, no hang
solver async
sed -i 's/^max_iter: 20$//; s/^test_interval: 10$//; s/^test_iter: 4$//' solver_async.prototxt
printf 'max_iter: 60\ntest_iter: 4\ntest_interval: 20\n' >>solver_async.prototxt
# Rank 3's steps take 50 times as long: at 20 times, a 1-s run on a 2-core machine busy with
# other processes once left rank 2 with fewer steps than rank 3 (13 against 16).
mpi async 4 train --solver solver_async.prototxt --sync async-easgd --tau 2 --slow-rank 3:50 --metrics "$WORK/async.jsonl"
check "async-easgd -np 4 --slow-rank 3:50: ends (exit 0, ${SECS}s), ranks 0-2 make more local steps than rank 3" \
  "$PY" - "$RC" "$OUT" "$WORK/async.jsonl" <<'PY'
import json, re, sys
rc, out, metrics = sys.argv[1:]
assert rc == "0", rc
log = open(out).read()
assert "Optimization Done" in log
line = re.search(r"Local steps per rank: (.*)", log).group(1)
steps = [int(x.split(": ")[1]) for x in line.split(", ")]
print("     local steps:", steps)
assert len(steps) == 4 and steps[0] == 60 and min(steps[:3]) > steps[3], steps
assert [json.loads(l) for l in open(metrics)][-1]["local_steps"] == steps
PY

# --- --target-accuracy: every rank stops at the test that reached it, at the same iteration
for mode in average gradient async-easgd; do
  solver "target_$mode" 'max_iter: 400'
  sed -i 's/^max_iter: 20$//' "solver_target_$mode.prototxt"
  mpi "target_$mode" 4 train --solver "solver_target_$mode.prototxt" --sync "$mode" --tau 5 --slow-rank 2:2 \
    --target-accuracy 0.6 --metrics "$WORK/target_$mode.jsonl"
  check "--target-accuracy 0.6 -np 4 --sync $mode: all 4 ranks stop at the logged iteration, recorded in the metrics" bash -c "
    [ $RC -eq 0 ] && it=\$(sed -nE 's/.*Target accuracy 0.6 reached at iteration ([0-9]+), round ([0-9]+), .* s$/\1/p' '$OUT') &&
    [ -n \"\$it\" ] && [ \$it -lt 400 ] && grep -q 'Optimization stopped early' '$OUT' &&
    grep -q \"\\\"target\\\": 0.6, \\\"reached\\\": true, \\\"iteration\\\": \$it,\" '$WORK/target_$mode.jsonl' &&
    for r in 1 2 3; do [ -f '$WORK/snap_target_$mode/tiny_iter_'\$it.solverstate.rank\$r ] || exit 1; done &&
    [ \$(ls '$WORK/snap_target_$mode' | grep -c 'solverstate.rank[0-9]$') -eq 3 ]"
done

# --- bad values: one message, printed once, every rank exits non-zero
CODES=1 mpi bad_delay 4 train --solver solver_plain.prototxt --comm-delay -1
check "--comm-delay -1 under 4 ranks: one message, 4 non-zero exits" printed_once bad_delay "--comm-delay must be a non-negative number of seconds, got -1"
CODES=1 mpi bad_slow 4 train --solver solver_plain.prototxt --slow-rank 9:2
check "--slow-rank 9:2 under 4 ranks: one message, 4 non-zero exits" printed_once bad_slow "--slow-rank 9:2: rank 9 does not exist (the job has 4 ranks, 0 to 3)"
CODES=1 mpi bad_target 4 train --solver solver_plain.prototxt --target-accuracy 1.5
check "--target-accuracy 1.5 under 4 ranks: one message, 4 non-zero exits" printed_once bad_target "--target-accuracy must be in (0, 1\], got 1.5"
expect_error bad_delay_one_rank "--comm-delay|-1" train --solver solver_plain.prototxt --comm-delay -1
expect_error bad_slow_one_rank "--slow-rank 1:2|rank 1 does not exist" train --solver solver_plain.prototxt --slow-rank 1:2
expect_error bad_target_one_rank "--target-accuracy|1.5" train --solver solver_plain.prototxt --target-accuracy 1.5
finish
