# Shared helpers for the end-to-end tests (sourced, not run).
# SPARKNET_BIN names the binary under test; every test works in its own temp directory.
set -uo pipefail

: "${SPARKNET_BIN:?set SPARKNET_BIN to the sparknet-mpi binary}"
BIN="$SPARKNET_BIN"
PY=/usr/bin/python3          # Debian's python: python3-h5py, python3-numpy, python3-protobuf
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/sparknet-e2e.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

PASS=0
FAIL=0
ok()   { PASS=$((PASS + 1)); echo "ok   $1"; }
bad()  { FAIL=$((FAIL + 1)); echo "FAIL $1"; shift; for l in "$@"; do echo "     $l"; done; }

# Prints the summary line and exits non-zero when anything failed.
finish() {
  echo "$(basename "$0" .sh): $PASS passed, $FAIL failed"
  [ "$FAIL" -eq 0 ]
}

# run NAME ARGS... : runs the binary, leaving $OUT, $ERR and $RC.
run() {
  local name=$1; shift
  OUT="$WORK/$name.out"; ERR="$WORK/$name.err"
  timeout 300 "$BIN" "$@" >"$OUT" 2>"$ERR"
  RC=$?
}

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_plm_rsh_agent=false
# mpi NAME NP ARGS... : runs the binary on NP ranks. Leaves $OUT, $ERR, $RC (mpirun's exit
# code) and $SECS (wall time).
# With CODES=1, each rank runs in a wrapper that records the binary's exit code in
# NAME.rc.<rank> and exits 0, so mpirun does not kill the other ranks when the first one exits
# non-zero: this shows what every rank decides on its own.
mpi() {
  local name=$1 np=$2; shift 2
  OUT="$WORK/$name.out"; ERR="$WORK/$name.err"
  rm -f "$WORK/$name".rc.*
  local start=$SECONDS
  if [ "${CODES:-0}" = 1 ]; then
    timeout 300 mpirun --oversubscribe -np "$np" -x OPENBLAS_NUM_THREADS=1 \
      bash -c '"$0" "$@"; echo $? >"'"$WORK/$name"'.rc.$OMPI_COMM_WORLD_RANK"' "$BIN" "$@" >"$OUT" 2>"$ERR"
  else
    timeout 300 mpirun --oversubscribe -np "$np" -x OPENBLAS_NUM_THREADS=1 "$BIN" "$@" >"$OUT" 2>"$ERR"
  fi
  RC=$?
  SECS=$((SECONDS - start))
}
# rank_codes NAME: the exit codes of every rank that wrote one, space separated, in rank order.
rank_codes() { local f; for f in $(ls "$WORK/$1".rc.* 2>/dev/null | sort -t. -k3 -n); do printf '%s ' "$(cat "$f")"; done; }

# expect_error NAME "CULPRIT..." ARGS... : the command must fail with exit code 1, print exactly one
# stderr line "sparknet-mpi: error: ..." containing every culprit (| separated), no crash trace,
# and leave no temporary files under $WORK.
expect_error() {
  local name=$1 culprits=$2; shift 2
  run "$name" "$@"
  local lines msg problems=()
  lines=$(wc -l <"$ERR")
  msg=$(head -1 "$ERR")
  [ "$RC" -eq 1 ] || problems+=("exit code $RC, expected 1")
  [ "$lines" -eq 1 ] || problems+=("$lines lines on stderr, expected 1")
  [[ "$msg" == "sparknet-mpi: error: "* ]] || problems+=("stderr does not start with 'sparknet-mpi: error: '")
  local IFS='|' c
  for c in $culprits; do
    [[ "$msg" == *"$c"* ]] || problems+=("message does not name '$c'")
  done
  if grep -qiE "fatal error|stack dump|backtrace|segmentation|#[0-9]+ 0x|Current stack trace" "$ERR" "$OUT"; then
    problems+=("crash trace in the output")
  fi
  local leftovers
  leftovers=$(find "$WORK" -name '*.tmp*' -o -name '*.tempfile' -o -name '*.partial' | head -3)
  [ -z "$leftovers" ] || problems+=("temporary files left: $leftovers")
  if [ ${#problems[@]} -eq 0 ]; then
    ok "$name: $msg"
  else
    bad "$name" "${problems[@]}" "stderr: $(head -c 600 "$ERR")"
  fi
}

# make_h5 FILE N [KIND] : a small HDF5Data file, data N×1×8×8, labels in 0..9.
# KIND: good | nolabel | flat (data N×64) | badlabel (a label 12) | mismatch (label N+1 rows)
make_h5() {
  "$PY" - "$@" <<'PYEOF'
import sys, h5py, numpy as np
path, n = sys.argv[1], int(sys.argv[2])
kind = sys.argv[3] if len(sys.argv) > 3 else "good"
rng = np.random.default_rng(n)
label = (np.arange(n) % 10).astype(np.float32)
data = rng.random((n, 1, 8, 8), dtype=np.float32) * 0.1
data[np.arange(n), 0, (label.astype(int) % 8), :] += 1.0   # learnable: row k lit for class k
if kind == "flat": data = data.reshape(n, 64)
if kind == "badlabel": label[n // 2] = 12
if kind == "mismatch": label = np.zeros(n + 1, np.float32)
with h5py.File(path, "w") as f:
    f["data"] = data
    if kind != "nolabel": f["label"] = label
PYEOF
}

# tiny_layers CLASSES [CONV_EXTRA] : the layers of the small test nets after their data layers:
# conv1 (4 outputs, 3×3, CONV_EXTRA such as "stride: 2"), ReLU, ip1 (CLASSES), accuracy, loss.
tiny_layers() {
  cat <<LAYERS
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 4 kernel_size: 3 ${2:+$2 }weight_filler { type: "xavier" } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "ip1" type: "InnerProduct" bottom: "conv1" top: "ip1"
  inner_product_param { num_output: $1 weight_filler { type: "xavier" } } }
layer { name: "accuracy" type: "Accuracy" bottom: "ip1" bottom: "label" top: "accuracy" include { phase: TEST } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip1" bottom: "label" top: "loss" }
LAYERS
}

# tiny_net FILE TRAIN_LIST TEST_LIST [NUM_OUTPUT] : a small conv net on 1×8×8 inputs.
tiny_net() {
  local out=${4:-10}
  cat >"$1" <<NET
name: "Tiny"
layer { name: "data" type: "HDF5Data" top: "data" top: "label" include { phase: TRAIN }
  hdf5_data_param { source: "$2" batch_size: 8 } }
layer { name: "data" type: "HDF5Data" top: "data" top: "label" include { phase: TEST }
  hdf5_data_param { source: "$3" batch_size: 10 } }
$(tiny_layers "$out")
NET
}

# tiny_solver FILE NET [EXTRA LINES] : SGD on NET, snapshots under $WORK/snap/.
tiny_solver() {
  mkdir -p "$WORK/snap"
  cat >"$1" <<SOLVER
net: "$2"
base_lr: 0.05
momentum: 0.9
lr_policy: "fixed"
max_iter: 20
display: 5
test_iter: 4
test_interval: 10
snapshot_prefix: "$WORK/snap/tiny"
random_seed: 7
${3:-}
SOLVER
}

# caffe_pb2 compiled from the project's proto/caffe.proto, for Python checks that do not go
# through the binary's reader or writer.
make_pb2() {
  if [ ! -f "$WORK/py/caffe_pb2.py" ]; then
    mkdir -p "$WORK/py"
    protoc --python_out="$WORK/py" -I "$REPO/proto" "$REPO/proto/caffe.proto"
  fi
}

# make_caffemodel FILE "layer:shape,shape;layer:shape" : a .caffemodel written by Python protobuf
# with the given layers and blob shapes (dims separated by x), values from a fixed seed.
make_caffemodel() {
  make_pb2
  PYTHONPATH="$WORK/py" "$PY" - "$@" <<'PYEOF'
import sys, numpy as np, caffe_pb2
path, spec = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(1)
net = caffe_pb2.NetParameter(name="Tiny")
for item in spec.split(";"):
    name, shapes = item.split(":")
    layer = net.layer.add(name=name)
    for s in shapes.split(","):
        dims = [int(d) for d in s.split("x")]
        b = layer.blobs.add()
        b.shape.dim.extend(dims)
        b.data.extend(rng.standard_normal(int(np.prod(dims))).astype(np.float32) * 0.1)
open(path, "wb").write(net.SerializeToString())
PYEOF
}

# --- under mpirun (mpi_train.sh, experiments.sh)
# need_mpirun : mpirun as root without ssh, or the script ends here with one failure.
need_mpirun() {
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_plm_rsh_agent=false
  command -v mpirun >/dev/null || { bad "mpirun" "not installed"; finish; exit; }
}
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name" "stdout: $(tail -c 400 "$OUT")" "stderr: $(head -c 800 "$ERR")"; fi; }

# once NAME CODE CULPRIT ARGS... : on 2 ranks (each rank's exit code recorded), stderr holds
# exactly one error line, `sparknet-mpi: error: ...` naming CULPRIT, without a rank unless
# CULPRIT starts with one, both ranks exit CODE, and nobody called MPI_Abort.
once() {
  local name=$1 code=$2 culprit=$3; shift 3
  CODES=1 mpi "$name" 2 "$@"
  local codes n; codes=$(rank_codes "$name")
  n=$(grep -cE '^(sparknet-mpi: error: |Error: )' "$ERR")
  if [ "$n" -eq 1 ] && grep -qF -- "$culprit" "$ERR" && [ "$codes" = "$code $code " ] &&
     { [[ $culprit == "rank "* ]] || ! grep -q "error: rank" "$ERR"; } && ! grep -q MPI_ABORT "$ERR" &&
     ! grep -qiE "fatal error|stack dump|backtrace|segmentation" "$ERR"; then
    ok "$name: one message, exit codes $codes($(grep -m1 -E '^(sparknet-mpi: error: |Error: )' "$ERR" | cut -c1-110))"
  else
    bad "$name" "$n error lines, rank exit codes '$codes' (expected '$code $code ')" "stderr: $(head -c 900 "$ERR")"
  fi
}

# printed_once NAME CULPRIT : a CODES=1 run on 4 ranks printed one error naming CULPRIT (not
# prefixed by a rank) and every rank exited non-zero.
printed_once() {   # NAME CULPRIT (a CODES=1 run)
  local n; n=$(grep -c '^sparknet-mpi: error: ' "$ERR")
  local codes; codes=$(rank_codes "$1")
  [ "$n" -eq 1 ] && grep -q "^sparknet-mpi: error: .*$2" "$ERR" &&
    [ "$(wc -w <<<"$codes")" -eq 4 ] && ! grep -qw 0 <<<"$codes" &&
    ! grep -q "^sparknet-mpi: error: rank" "$ERR"
}
