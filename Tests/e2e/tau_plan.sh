#!/usr/bin/env bash
# `train --tau auto[:SHARE]` (issue 18): the choice follows the measured C and S (a simulated
# exchange, --comm-delay), is logged once and written to the metrics, keeps the measured share
# under the target, survives a resume bit for bit, and bad values get one clear error.
# `plan`: the model's table against an independent computation, measured C, and bad flags.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_mpirun

# LeNet's layers on 28×28 noise with learnable labels: a step long enough (~10 ms) to measure.
"$PY" - <<'PY'
import h5py, numpy as np
rng = np.random.default_rng(3)
for name, n in (("train", 512), ("test", 100)):
    label = (np.arange(n) % 10).astype(np.float32)
    data = rng.random((n, 1, 28, 28), dtype=np.float32) * 0.1
    data[np.arange(n), 0, 2 * label.astype(int), :] += 1.0
    with h5py.File(f"{name}.h5", "w") as f:
        f["data"], f["label"] = data, label
PY
echo "$WORK/train.h5" >train.txt
echo "$WORK/test.h5" >test.txt
sed -e "s#data/fashion-mnist/train.txt#$WORK/train.txt#" -e "s#data/fashion-mnist/test.txt#$WORK/test.txt#" \
  "$REPO/examples/fashion-mnist/lenet_train_test.prototxt" >net.prototxt
mkdir -p snap
cat >solver.prototxt <<EOF
net: "$WORK/net.prototxt"
test_iter: 10
test_interval: 1000
base_lr: 0.01
momentum: 0.9
weight_decay: 0.0005
lr_policy: "fixed"
display: 100
max_iter: 400
snapshot: 200
snapshot_prefix: "$WORK/snap/lenet"
random_seed: 1701
EOF

# --- bad values: one error, every rank non-zero
for bad in auto:0 auto:150 auto:x 0 fast; do
  once "bad_$bad" 64 "--tau" train --solver solver.prototxt --tau "$bad"
done
once bad_gradient 64 "--tau auto needs --sync average, master or easgd" train --solver solver.prototxt --tau auto --sync gradient
once bad_seconds 64 "--round-seconds" train --solver solver.prototxt --tau auto:10 --round-seconds 1

# --- a 2-rank run with a 30 ms exchange
mpi auto 2 train --solver solver.prototxt --sync average --tau auto --comm-delay 0.03 --metrics "$WORK/m.jsonl"
check "--tau auto: logs its setting and its choice" bash -c "
  [ $RC -eq 0 ] && grep -q 'tau 10 (tau auto: the smallest tau whose exchange share is at most 5%' '$OUT' &&
  grep -q 'tau auto: C = .* ms, S = .* ms, tau 10 -> [0-9]* (predicted exchange share' '$OUT'"
check "--tau auto: the metrics hold the choice, rounds follow it, the share stays near its aim" "$PY" - "$WORK/m.jsonl" "$OUT" <<'PY'
import json, math, re, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
choices = [l for l in lines if "tau_auto" in l]
rounds = [l for l in lines if "round_s" in l]
assert choices, lines
def best(d):   # the smallest tau with S/(tau*C + S) <= 4/5 of 5% (the model's arithmetic, independently)
    return max(1, min(1000, math.ceil(d["exchange_s"] * 0.96 / (0.04 * d["compute_step_s"]) - 1e-9)))
c = choices[0]
tau, C, S = c["tau_auto"], c["compute_step_s"], c["exchange_s"]
assert tau == best(c), (tau, best(c), C, S)
# Later checks: at most 2x per change; kept when the best is within a quarter below.
for prev, d in zip(choices, choices[1:]):
    t, b = prev["tau_auto"], best(d)
    want = t if t * 0.75 <= b <= t else min(max(b, max(1, t // 2)), 2 * t)
    assert d["tau_from"] == t and d["tau_auto"] == want, (prev, d, want)
assert 0.025 < S < 0.06 and 0.001 < C < 1, (C, S)     # 30 ms of simulated exchange + the allreduce
assert c["tau_from"] == 10 and c["round"] == 4 and c["iteration"] == 40, c   # warm-up + 3 measured rounds of 10
log = re.search(r"tau 10 -> (\d+)", open(sys.argv[2]).read())
assert int(log.group(1)) == tau
assert [r["tau"] for r in rounds[:4]] == [10] * 4 and rounds[4]["tau"] == tau, [r["tau"] for r in rounds]
assert rounds[4]["iteration"] == 40 + tau, rounds[4]
# Every round runs the tau of the last choice before it (the last round may stop at max_iter).
for r in rounds[4:]:
    now = [d for d in choices if d["round"] < r["round"]][-1]["tau_auto"]
    assert r["tau"] == now and (r["iterations"] == now or r["iteration"] == 400), (r, choices)
after = rounds[4:]
share = sum(r["comm_s"] for r in after) / sum(r["round_s"] for r in after)
assert share <= 0.06, share   # aimed at 4 % (4/5 of 5 %); a loaded CI machine makes steps jitter
print(f"tau {tau}, C {C * 1e3:.2f} ms, S {S * 1e3:.1f} ms, measured share {share:.4f}")
PY

# --- resume keeps tau and the round in progress (bit-reproducibility is lost with auto: its
# choices follow the clock)
mpi resume 2 train --solver solver.prototxt --sync average --tau auto --comm-delay 0.03 \
  --snapshot "$WORK/snap/lenet_iter_200.solverstate" --metrics "$WORK/resumed.jsonl"
check "--tau auto resumed: keeps tau and the round in progress" "$PY" - "$WORK/m.jsonl" "$WORK/resumed.jsonl" "$OUT" <<'PY'
import json, re, sys
whole = [json.loads(l) for l in open(sys.argv[1])]
resumed = [json.loads(l) for l in open(sys.argv[2])]
log = open(sys.argv[3]).read()
rounds = [r for r in whole if "round_s" in r]
going = next(r for r in rounds if r["iteration"] > 200)       # the round the snapshot fell in
first = next(r for r in resumed if "round_s" in r)
assert re.search(rf"tau {going['tau']} \(tau auto: .*, resumed\)", log), (going["tau"], log[:2000])
assert first["iteration"] == going["iteration"] and first["tau"] == going["tau"], (first, going)
PY

# --- plan: the table against the model computed here, from a given C
run plan_given plan --model net.prototxt --compute-ms 10 --link-rate 100mbit --latency-us 50 --nodes 1,2,4,1024 --taus 1,10 --format csv
check "plan --compute-ms: every row is the ring-allreduce model's (computed independently)" "$PY" - "$OUT" <<'PY'
import csv, math, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 4 * 4, len(rows)          # per K: gradient, average tau 1 and 10, auto
params = 431080                               # LeNet: 20·25+20 + 50·500+50 + 500·800+500 + 10·500+10
C, R, lat, eff = 0.010, 100e6, 50e-6, 1448 / 1514
for r in rows:
    k, tau = int(r["K"]), int(r["tau"])
    S = 0 if k == 1 else 2 * (k - 1) / k * params * 4 * 8 / (eff * R) + 2 * (k - 1) * lat
    if r["mode"] == "average (auto)":
        want = 1 if S == 0 else min(1000, math.ceil(S * 0.96 / (0.04 * C) - 1e-9))   # 4/5 of 5%
        assert tau == want, (r, want)
    T = tau * C + S
    for key, value in (("S ms", S * 1e3), ("round ms", T * 1e3), ("comm %", 100 * S / T),
                       ("images/s", k * tau * 64 / T), ("efficiency", tau * C / T)):
        assert abs(float(r[key]) - value) <= 0.006 * max(1, abs(value)), (key, r, value)
PY
mpi plan_measured 2 plan --model net.prototxt --iterations 3 --nodes 2,4 --link-rate 1gbit
check "plan under mpirun: C timed on both ranks, one table from rank 0" bash -c "
  [ $RC -eq 0 ] && [ \$(grep -c '^plan: ' '$OUT') -eq 1 ] && grep -q 'slowest of 2 ranks timing at once' '$OUT' &&
  [ \$(grep -c '^| [24] |' '$OUT') -eq 18 ] && grep -Eq '^C = [0-9.]+ ms per step' '$OUT'"
once plan_rate 64 "--link-rate 'fast' is not a rate" plan --model net.prototxt --link-rate fast
once plan_nodes 64 "--nodes must be positive integers" plan --model net.prototxt --nodes 2,0
once plan_share 64 "--share is a percentage" plan --model net.prototxt --share 150
once plan_model 1 "nothere.prototxt" plan --model nothere.prototxt

finish
