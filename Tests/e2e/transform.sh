#!/usr/bin/env bash
# transform_param on uint8 HDF5 data (Caffe's DataTransformer: crop, mirror, mean, scale):
# training on 1 rank and under mpirun -np 2 gives the same model bits at 1 and 2 threads and
# after a stop + resume; bad transform_param input fails with one line naming the layer and field.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_mpirun

# make_u8 FILE N : data N×3×10×10 uint8 (BGR, as convert-imageset writes), label float32 in 0..9:
# a learnable pattern (row k + 1 lit in channel k % 3 for class k) on a noisy background.
make_u8() {
  "$PY" - "$@" <<'PYEOF'
import sys, h5py, numpy as np
path, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(n)
label = (np.arange(n) % 10).astype(np.float32)
data = rng.integers(0, 60, size=(n, 3, 10, 10), dtype=np.uint8)
for i in range(n):
    k = int(label[i]); data[i, k % 3, (k % 8) + 1, :] = 250
with h5py.File(path, "w") as f:
    f.create_dataset("data", data=data, dtype="u1")
    f["label"] = label
PYEOF
}
make_u8 train.h5 120
make_u8 test.h5 40
echo "$WORK/train.h5" >train.txt
echo "$WORK/test.h5" >test.txt

# net FILE TRANSFORM : the tiny conv net on 3×8×8 crops; TRANSFORM goes into both data layers'
# transform_param (TEST crops the centre and never mirrors).
net() {
  cat >"$1" <<NET
name: "TinyT"
layer { name: "data" type: "HDF5Data" top: "data" top: "label" include { phase: TRAIN }
  hdf5_data_param { source: "$WORK/train.txt" batch_size: 8 shuffle: true }
  transform_param { $2 } }
layer { name: "data" type: "HDF5Data" top: "data" top: "label" include { phase: TEST }
  hdf5_data_param { source: "$WORK/test.txt" batch_size: 10 }
  transform_param { $2 } }
$(tiny_layers 10)
NET
}
# solver NAME NET : 20 iterations, a snapshot at 10, under $WORK/NAME/.
solver() {
  mkdir -p "$WORK/$1"
  tiny_solver "$1.prototxt" "$2" 'snapshot: 10'
  sed -i "s#snapshot_prefix: .*#snapshot_prefix: \"$WORK/$1/t\"#" "$1.prototxt"
}
TRANSFORM='crop_size: 8 mirror: true mean_value: 104 mean_value: 117 mean_value: 123 scale: 0.0078125'
net net.prototxt "$TRANSFORM"

# one_rank NAME THREADS ARGS... : the binary alone with THREADS engine threads.
one_rank() {
  local name=$1 threads=$2; shift 2
  OUT="$WORK/$name.out"; ERR="$WORK/$name.err"
  OPENBLAS_NUM_THREADS=$threads timeout 300 "$BIN" "$@" >"$OUT" 2>"$ERR"
  RC=$?
}
# mpi_threads NAME THREADS ARGS... : 2 ranks under mpirun with THREADS threads each.
mpi_threads() {
  local name=$1 threads=$2; shift 2
  OUT="$WORK/$name.out"; ERR="$WORK/$name.err"
  timeout 300 mpirun --oversubscribe -np 2 -x OPENBLAS_NUM_THREADS="$threads" "$BIN" "$@" >"$OUT" 2>"$ERR"
  RC=$?
}
trained() {  # DIR: the run exited 0, tested, and wrote its final model
  [ "$RC" -eq 0 ] && grep -q "Final test accuracy = " "$OUT" && [ -f "$1/t_iter_20.caffemodel" ] &&
    ! grep -qiE "nan|inf" <(grep "loss = " "$OUT")
}

# --- one rank: 1 vs 2 threads, and stop + resume
solver s1 net.prototxt
one_rank s1 1 train --solver s1.prototxt
check "1 rank: trains from uint8 HDF5 with crop, mirror, mean_value and scale" trained "$WORK/s1"
solver s1t2 net.prototxt
one_rank s1t2 2 train --solver s1t2.prototxt
check "1 rank: 2 threads give the same model bits as 1" cmp -s "$WORK/s1/t_iter_20.caffemodel" "$WORK/s1t2/t_iter_20.caffemodel"
solver s1r net.prototxt
one_rank s1r 1 train --solver s1r.prototxt --snapshot "$WORK/s1/t_iter_10.solverstate"
check "1 rank: resumed at iteration 10, the same model bits at 20" cmp -s "$WORK/s1/t_iter_20.caffemodel" "$WORK/s1r/t_iter_20.caffemodel"

# --- two ranks: 1 vs 2 threads, and stop + resume
solver s2 net.prototxt
mpi_threads s2 1 train --solver s2.prototxt --sync average --tau 4
check "2 ranks: trains from uint8 HDF5 with the transform" trained "$WORK/s2"
solver s2t2 net.prototxt
mpi_threads s2t2 2 train --solver s2t2.prototxt --sync average --tau 4
check "2 ranks: 2 threads per rank give the same model bits as 1" cmp -s "$WORK/s2/t_iter_20.caffemodel" "$WORK/s2t2/t_iter_20.caffemodel"
solver s2r net.prototxt
mpi_threads s2r 1 train --solver s2r.prototxt --sync average --tau 4 --snapshot "$WORK/s2/t_iter_10.solverstate"
check "2 ranks: resumed at iteration 10, the same model bits at 20" cmp -s "$WORK/s2/t_iter_20.caffemodel" "$WORK/s2r/t_iter_20.caffemodel"
check "2 ranks and 1 rank differ (each rank crops its own samples)" bash -c "! cmp -s '$WORK/s1/t_iter_20.caffemodel' '$WORK/s2/t_iter_20.caffemodel'"

# --- mean_file: a Caffe mean BlobProto (1×3×10×10, the uncropped size), written by Python protobuf
make_pb2
PYTHONPATH="$WORK/py" "$PY" - <<'PYEOF'
import numpy as np, caffe_pb2
def blob(path, shape, value):
    b = caffe_pb2.BlobProto(num=shape[0], channels=shape[1], height=shape[2], width=shape[3])
    b.data.extend(np.full(int(np.prod(shape)), value, np.float32))
    open(path, "wb").write(b.SerializeToString())
blob("mean.binaryproto", (1, 3, 10, 10), 110.0)
blob("mean_gray.binaryproto", (1, 1, 10, 10), 110.0)
PYEOF
net net_mean.prototxt "crop_size: 8 mirror: true mean_file: \"$WORK/mean.binaryproto\" scale: 0.0078125"
solver smean net_mean.prototxt
one_rank smean 1 train --solver smean.prototxt
check "mean_file: trains with a 1×3×10×10 mean at the crop offset" trained "$WORK/smean"

# --- bad input: one line naming the layer and the field, exit 1
net big.prototxt "crop_size: 12"
solver sbig big.prototxt
expect_error crop_too_big "layer 'data'|crop_size 12 > image 10×10" train --solver sbig.prototxt
net gray.prototxt "mean_file: \"$WORK/mean_gray.binaryproto\""
solver sgray gray.prototxt
expect_error mean_shape "layer 'data'|mean_file|1×1×10×10|3×10×10" train --solver sgray.prototxt
printf 'not a blob\n' >text.binaryproto
net notblob.prototxt "mean_file: \"$WORK/text.binaryproto\""
solver snotblob notblob.prototxt
expect_error mean_not_blob "layer 'data'|mean_file|text.binaryproto|not a BlobProto" train --solver snotblob.prototxt
net both.prototxt "mean_file: \"$WORK/mean.binaryproto\" mean_value: 1"
solver sboth both.prototxt
expect_error mean_both "layer 'data'|mean_file and mean_value" train --solver sboth.prototxt
finish
