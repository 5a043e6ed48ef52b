#!/usr/bin/env bash
# examples/fashion-mnist-resnet on real Fashion-MNIST, shortened: two ranks averaging every 10
# steps for a few hundred iterations lower the loss clearly, and the .caffemodel the run writes
# decodes in the independent decoder with Caffe's BatchNorm blobs (running mean sum C, running
# variance sum C, moving-average factor 1) beside every Scale and Convolution it follows.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_plm_rsh_agent=false
command -v mpirun >/dev/null || { bad "mpirun" "not installed"; finish; exit; }
FASHION=${FASHION:-/usr/share/datasets/fashion-mnist}
EXAMPLE="$REPO/examples/fashion-mnist-resnet"
ITERS=300

# The example's own net and solver; only the data paths, the train batch (32: `make test` runs
# the debug binary), the length and the snapshot change.
mkdir -p data snap
"$BIN" convert-idx --images "$FASHION/train-images-idx3-ubyte.gz" \
  --labels "$FASHION/train-labels-idx1-ubyte.gz" --output data/train.h5 >/dev/null 2>&1 &&
"$BIN" convert-idx --images "$FASHION/t10k-images-idx3-ubyte.gz" \
  --labels "$FASHION/t10k-labels-idx1-ubyte.gz" --output data/test.h5 >/dev/null 2>&1
[ $? -eq 0 ] || { bad "convert Fashion-MNIST from $FASHION" "convert-idx failed"; finish; exit; }
echo "$WORK/data/train.h5" >data/train.txt
echo "$WORK/data/test.h5" >data/test.txt
sed -e "s#data/fashion-mnist/#$WORK/data/#" -e "s#batch_size: 64#batch_size: 32#" \
  "$EXAMPLE/resnet_train_test.prototxt" >net.prototxt
sed -e "s#^net: .*#net: \"$WORK/net.prototxt\"#" -e "s#^max_iter: .*#max_iter: $ITERS#" \
    -e "s#^test_iter: .*#test_iter: 10#" -e "s#^test_interval: .*#test_interval: 100000#" \
    -e "s#^display: .*#display: 20#" -e "s#^snapshot: .*#snapshot: 0#" \
    -e "s#^snapshot_prefix: .*#snapshot_prefix: \"$WORK/snap/resnet\"#" \
    "$EXAMPLE/resnet_solver.prototxt" >solver.prototxt
grep -q "max_iter: $ITERS" solver.prototxt && grep -q "$WORK/data/train.txt" net.prototxt &&
  grep -q "batch_size: 32" net.prototxt ||
  { bad "derive the short run from $EXAMPLE" "the sed patterns no longer match the example"; finish; exit; }

OUT="$WORK/train.out"
timeout 600 mpirun --oversubscribe -np 2 -x OPENBLAS_NUM_THREADS=1 "$BIN" train \
  --solver solver.prototxt --sync average --tau 10 >"$OUT" 2>&1
RC=$?
MODEL="$WORK/snap/resnet_iter_$ITERS.caffemodel"
if [ $RC -eq 0 ] && [ -f "$MODEL" ]; then ok "train -np 2 --sync average --tau 10, $ITERS iterations"
else bad "train -np 2 --sync average --tau 10" "exit $RC" "$(tail -c 800 "$OUT")"; finish; exit; fi

# Train losses as displayed ("Iteration N (...), loss = L"): the first (iteration 0) against the
# mean of the last three displays.
if "$PY" - "$OUT" <<'PY'
import re, sys
losses = [float(m.group(1)) for m in re.finditer(r"Iteration \d+ \(.*\), loss = ([0-9.eE+-]+)", open(sys.argv[1]).read())]
assert len(losses) >= 10, losses
start, end = losses[0], sum(losses[-3:]) / 3
print("     loss %.3f at iteration 0, %.3f over the last three displays" % (start, end))
assert start > 1.5 and end < 0.5 * start, (start, end)
PY
then ok "loss falls to less than half its start"; else bad "loss falls to less than half its start" "$(grep -E 'loss = ' "$OUT" | tail -5)"; fi

acc=$(grep -E "Test net output #0: accuracy" "$OUT" | tail -1 | sed 's/.*= //')
if "$PY" -c "import sys; sys.exit(0 if float('${acc:-0}') > 0.7 else 1)"; then ok "test accuracy after $ITERS iterations $acc > 0.7"
else bad "test accuracy after $ITERS iterations > 0.7" "got '${acc}'"; fi

# The decoder knows nothing of the engine: it parses the file with protoc-generated Python.
"$PY" "$REPO/Tests/scripts/decode_caffemodel.py" "$MODEL" >decoded.json 2>decode.err
if [ $? -eq 0 ]; then ok "decode_caffemodel.py reads the model"; else bad "decode_caffemodel.py reads the model" "$(cat decode.err)"; fi
if "$PY" - decoded.json net.prototxt "$ITERS" <<'PY'
import json, re, sys
model = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read()
iters = int(sys.argv[3])
# Layer name -> (type, num_output) from the prototxt, for the expected shapes.
outputs = {}
for block in re.findall(r"layer \{.*?\n\}", text, re.S):
    name = re.search(r'name: "([^"]+)"', block).group(1)
    n = re.search(r"num_output: (\d+)", block)
    outputs[name] = int(n.group(1)) if n else None
lam = float(re.search(r"moving_average_fraction: ([0-9.]+)", text).group(1))
layers = {l["name"]: l for l in model["layers"]}
bns = [l for l in model["layers"] if l["type"] == "BatchNorm"]
assert len(bns) == text.count('type: "BatchNorm"') > 0, len(bns)
# Every BatchNorm is in place on a convolution named like it: bn2a_branch1 <- res2a_branch1.
factor = (1 - lam ** iters) / (1 - lam)     # Σ λ^k over the TRAIN forwards, the same on both ranks
for bn in bns:
    conv = "conv1" if bn["name"] == "bn_conv1" else "res" + bn["name"][2:]
    c = outputs[conv]
    shapes = [b["shape"] for b in bn["blobs"]]
    assert shapes == [[c], [c], [1]], (bn["name"], shapes, c)
    var_sum, f = bn["blobs"][1]["sum"], bn["blobs"][2]["sum"]
    assert abs(f - factor) < 1e-3 * factor, (bn["name"], f, factor)
    assert var_sum > 0, (bn["name"], var_sum)     # a sum of variances: positive once trained
    scale = layers["scale" + bn["name"][2:]]
    assert [b["shape"] for b in scale["blobs"]] == [[c], [c]], (scale["name"], scale["blobs"])
    assert [b["shape"] for b in layers[conv]["blobs"]][0][0] == c, conv
print("     %d BatchNorm layers: blobs [C], [C], [1], factor %.4f" % (len(bns), factor))
PY
then ok "every BatchNorm has its mean, variance and factor blobs with the right shapes and factor"
else bad "BatchNorm blobs in the decoded model" "$(head -c 600 decoded.json)"; fi

finish
