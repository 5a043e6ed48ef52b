#!/usr/bin/env bash
# Caffe's Data layer with backend: LMDB, from LMDBs written the way Caffe's convert_imageset
# writes them (Tests/scripts/caffe_lmdb.py: python3-lmdb, Datum via proto/caffe.proto, keys
# %08d_path): raw and encoded Datums, and ImageData over the files, train the same bits; ranks take records round-robin (test
# on 2 ranks scores every record once); rand_skip; BVLC CaffeNet's two data layers, unchanged but
# for their paths, train on 2 ranks from an LMDB and a mean file made by compute-image-mean; and
# each bad input gets one clear error.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_plm_rsh_agent=false
CAFFE_LMDB="$REPO/Tests/scripts/caffe_lmdb.py"

# make_images DIR N SIZE: N RGB PNGs (SIZE×SIZE) in 4 learnable classes (a bright quadrant) and
# DIR/list.txt (`NNNN.png label`).
make_images() {
  "$PY" - "$@" <<'PYEOF'
import os, sys, numpy as np
from PIL import Image
d, n, s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(d, exist_ok=True)
rng = np.random.default_rng(n + s)
with open(os.path.join(d, "list.txt"), "w") as f:
    for i in range(n):
        k = i % 4
        a = rng.integers(0, 60, (s, s, 3), dtype=np.uint8)
        h = s // 2
        a[(k // 2) * h:(k // 2 + 1) * h, (k % 2) * h:(k % 2 + 1) * h, k % 3] += 180
        Image.fromarray(a).save(os.path.join(d, f"{i:04d}.png"))
        f.write(f"{i:04d}.png {k}\n")
PYEOF
}
make_images img 40 24
"$PY" "$CAFFE_LMDB" images img/ img/list.txt raw_lmdb
"$PY" "$CAFFE_LMDB" images img/ img/list.txt enc_lmdb --encoded

# lmdb_net FILE TRAIN TEST [TRANSFORM] [DATA_PARAM]: a small net on Data layers.
lmdb_net() {
  cat >"$1" <<NET
name: "TinyLMDB"
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TRAIN }
  transform_param { ${4:-crop_size: 20 mirror: true mean_value: 30 mean_value: 40 mean_value: 50 scale: 0.01} }
  data_param { source: "$2" batch_size: 8 backend: LMDB ${5:-} } }
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TEST }
  transform_param { ${4:-crop_size: 20 mean_value: 30 mean_value: 40 mean_value: 50 scale: 0.01} }
  data_param { source: "$3" batch_size: 10 backend: LMDB } }
$(tiny_layers 4 "stride: 2")
NET
}
# lmdb_solver FILE NET PREFIX [EXTRA]
lmdb_solver() {
  cat >"$1" <<SOLVER
net: "$2"
base_lr: 0.02
momentum: 0.9
lr_policy: "fixed"
max_iter: 60
display: 20
test_iter: 4
test_interval: 60
snapshot_prefix: "$3"
random_seed: 11
${4:-}
SOLVER
}
mkdir -p snap
model() { echo "$WORK/snap/$1_iter_60.caffemodel"; }
# same_weights A B: the two .caffemodels hold the same blobs, bit for bit (their nets' data
# layers differ, so the files do).
same_weights() {
  make_pb2
  PYTHONPATH="$WORK/py" "$PY" - "$1" "$2" <<'PY'
import sys, caffe_pb2
def blobs(path):
    m = caffe_pb2.NetParameter(); m.ParseFromString(open(path, "rb").read())
    return [(l.name, [b.SerializeToString() for b in l.blobs]) for l in m.layer if l.blobs]
a, b = blobs(sys.argv[1]), blobs(sys.argv[2])
assert a and a == b, "weights differ"
PY
}
accuracy() { sed -nE 's/.*Final test accuracy = ([0-9.]+).*/\1/p' "$1" | tail -1; }

lmdb_net raw.prototxt "$WORK/raw_lmdb" "$WORK/raw_lmdb"
lmdb_net enc.prototxt "$WORK/enc_lmdb" "$WORK/enc_lmdb"
lmdb_solver raw_s.prototxt raw.prototxt "$WORK/snap/raw"
lmdb_solver enc_s.prototxt enc.prototxt "$WORK/snap/enc"
run raw train --solver raw_s.prototxt
check "train from a raw-Datum LMDB (crop 20, mirror, mean_value, scale): exit 0, model written" \
  bash -c "[ $RC -eq 0 ] && [ -f '$(model raw)' ]"
acc=$(accuracy "$OUT")
check "... and it learns: final test accuracy ${acc:-?} > 0.6 (4 classes)" awk -v a="${acc:-0}" 'BEGIN { exit !(a > 0.6) }'
run enc train --solver enc_s.prototxt
check "encoded Datums (the PNG files' bytes, decoded by libpng) train the same bits as raw ones" \
  same_weights "$(model raw)" "$(model enc)"

# ImageData (a list of image files) reads the same records in the same order: the same bits.
sed -e 's#type: "Data"#type: "ImageData"#' \
    -e "s#data_param { source: \"$WORK/raw_lmdb\" batch_size: \([0-9]*\) backend: LMDB#image_data_param { source: \"$WORK/img/list.txt\" root_folder: \"$WORK/img/\" batch_size: \\1#" \
    raw.prototxt >imagedata.prototxt
lmdb_solver imagedata_s.prototxt imagedata.prototxt "$WORK/snap/imagedata"
run imagedata train --solver imagedata_s.prototxt
imagedata_same() { grep -q 'type: "ImageData"' imagedata.prototxt && [ "$RC" -eq 0 ] && same_weights "$(model raw)" "$(model imagedata)"; }
check "ImageData over the image files themselves trains the same bits as the raw LMDB" imagedata_same

# Round-robin sharding: `test --iterations 4` on 2 ranks gives each rank 2 batches of 10, records
# r, r+2, …: the 40 records once, so the accuracy equals one rank's over all 40.
run test1 test --model raw.prototxt --weights "$(model raw)" --iterations 4
mpi test2 2 test --model raw.prototxt --weights "$(model raw)" --iterations 4
a1=$(grep -E "accuracy = " "$WORK/test1.out" | tail -1 | sed -E 's/.*accuracy = ([0-9.]+).*/\1/')
a2=$(grep -E "accuracy = " "$WORK/test2.out" | tail -1 | sed -E 's/.*accuracy = ([0-9.]+).*/\1/')
check "test on 2 ranks (records dealt round-robin) scores ${a2:-?}, as 1 rank over all 40 records (${a1:-?})" \
  bash -c "[ -n '$a1' ] && [ '$a1' = '$a2' ]"

# bench-input: the pipeline alone beside the net's step, on this LMDB net.
run bench bench-input --model raw.prototxt --batches 3
bench_ok() {
  [ "$RC" -eq 0 ] && grep -qE "Input: layer 'data' \(Data\), batch 8, samples 3×20×20" "$OUT" &&
    grep -qE "input pipeline alone: [0-9.]+ ms/batch, [0-9]+ images/s" "$OUT" &&
    grep -qE "net step with data: +[0-9.]+ ms/batch, [0-9]+ images/s; waited for data [0-9.]+ ms/step" "$OUT" &&
    grep -qE "pipeline / step: [0-9.]+x" "$OUT"
}
check "bench-input times the Data layer's pipeline (3×20×20 crops) and the net's step" bench_ok
expect_error "bench-input on a net without a data layer" "no Data or HDF5Data layer in phase TRAIN" \
  bench-input --model "$REPO/examples/deploy/lenet_deploy.prototxt"

# rand_skip: a seeded skip at the start changes the order (and the model), the same way twice.
lmdb_net skip.prototxt "$WORK/raw_lmdb" "$WORK/raw_lmdb" "" "rand_skip: 20"
lmdb_solver skip_s.prototxt skip.prototxt "$WORK/snap/skip"
lmdb_solver skip2_s.prototxt skip.prototxt "$WORK/snap/skip2"
run skip train --solver skip_s.prototxt
run skip2 train --solver skip2_s.prototxt
skip_differs() { [ -f "$(model skip)" ] && ! same_weights "$(model skip)" "$(model raw)" 2>/dev/null && cmp -s "$(model skip)" "$(model skip2)"; }
check "rand_skip: 20 trains other weights than no skip, and the same ones twice" skip_differs

# BVLC CaffeNet's data layers (models/bvlc_reference_caffenet/train_val.prototxt), unchanged but
# for the paths, over a small net; 256×256 images as examples/imagenet/create_imagenet.sh makes.
make_images big 12 256
"$PY" "$CAFFE_LMDB" images big/ big/list.txt ilsvrc12_train_lmdb
"$PY" "$CAFFE_LMDB" images big/ big/list.txt ilsvrc12_val_lmdb
run mean compute-image-mean ilsvrc12_train_lmdb imagenet_mean.binaryproto
check "compute-image-mean on the LMDB: exit 0" bash -c "[ $RC -eq 0 ] && [ -s imagenet_mean.binaryproto ]"
cat >caffenet.prototxt <<NET
name: "CaffeNet"
layer {
  name: "data"
  type: "Data"
  top: "data"
  top: "label"
  include {
    phase: TRAIN
  }
  transform_param {
    mirror: true
    crop_size: 227
    mean_file: "$WORK/imagenet_mean.binaryproto"
  }
  data_param {
    source: "$WORK/ilsvrc12_train_lmdb"
    batch_size: 256
    backend: LMDB
  }
}
layer {
  name: "data"
  type: "Data"
  top: "data"
  top: "label"
  include {
    phase: TEST
  }
  transform_param {
    mirror: false
    crop_size: 227
    mean_file: "$WORK/imagenet_mean.binaryproto"
  }
  data_param {
    source: "$WORK/ilsvrc12_val_lmdb"
    batch_size: 50
    backend: LMDB
  }
}
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 4 kernel_size: 11 stride: 8 weight_filler { type: "gaussian" std: 0.01 } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "fc8" type: "InnerProduct" bottom: "pool1" top: "fc8" inner_product_param { num_output: 4 weight_filler { type: "gaussian" std: 0.01 } } }
layer { name: "accuracy" type: "Accuracy" bottom: "fc8" bottom: "label" top: "accuracy" include { phase: TEST } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc8" bottom: "label" top: "loss" }
NET
cat >caffenet_solver.prototxt <<SOLVER
net: "$WORK/caffenet.prototxt"
test_iter: 1
test_interval: 2
base_lr: 0.01
lr_policy: "fixed"
momentum: 0.9
max_iter: 2
display: 1
snapshot_prefix: "$WORK/snap/caffenet"
random_seed: 3
SOLVER
mpi caffenet 2 train --solver caffenet_solver.prototxt
check "BVLC CaffeNet's data layers (crop 227, mirror, mean_file, batch 256, LMDB) train on 2 ranks" \
  bash -c "[ $RC -eq 0 ] && [ -f '$WORK/snap/caffenet_iter_2.caffemodel' ] && grep -q 'Final test accuracy' '$OUT'"

# BVLC GoogLeNet's data layers (models/bvlc_googlenet/train_val.prototxt: crop 224, mean_value
# 104 117 123, batch 32 and 50), unchanged but for the paths, over the same small net.
{
  cat <<NET
name: "GoogleNet"
layer {
  name: "data"
  type: "Data"
  top: "data"
  top: "label"
  include {
    phase: TRAIN
  }
  transform_param {
    mirror: true
    crop_size: 224
    mean_value: 104
    mean_value: 117
    mean_value: 123
  }
  data_param {
    source: "$WORK/ilsvrc12_train_lmdb"
    batch_size: 32
    backend: LMDB
  }
}
layer {
  name: "data"
  type: "Data"
  top: "data"
  top: "label"
  include {
    phase: TEST
  }
  transform_param {
    mirror: false
    crop_size: 224
    mean_value: 104
    mean_value: 117
    mean_value: 123
  }
  data_param {
    source: "$WORK/ilsvrc12_val_lmdb"
    batch_size: 50
    backend: LMDB
  }
}
NET
  sed -n '/name: "conv1"/,$p' caffenet.prototxt
} >googlenet.prototxt
sed "s#caffenet#googlenet#g" caffenet_solver.prototxt >googlenet_solver.prototxt
run googlenet train --solver googlenet_solver.prototxt
check "BVLC GoogLeNet's data layers (crop 224, mean_value 104 117 123, batch 32, LMDB) train" \
  bash -c "[ $RC -eq 0 ] && [ -f '$WORK/snap/googlenet_iter_2.caffemodel' ] && grep -q 'Final test accuracy' '$OUT'"

# Bad input: each one clear error, once.
lmdb_net leveldb.prototxt "$WORK/raw_lmdb" "$WORK/raw_lmdb"
sed -i 's/ backend: LMDB//' leveldb.prototxt
lmdb_solver leveldb_s.prototxt leveldb.prototxt "$WORK/snap/leveldb"
expect_error "backend LEVELDB (Caffe's default)" "layer 'data' (Data): backend LEVELDB is not supported" \
  train --solver leveldb_s.prototxt
"$PY" "$CAFFE_LMDB" junk junk_lmdb
lmdb_net junk.prototxt "$WORK/junk_lmdb" "$WORK/junk_lmdb"
lmdb_solver junk_s.prototxt junk.prototxt "$WORK/snap/junk"
expect_error "an LMDB that is not Caffe's Datum" "key '00000000_a') is not a Caffe Datum" \
  train --solver junk_s.prototxt
"$PY" "$CAFFE_LMDB" mixed mixed_lmdb
lmdb_net mixed.prototxt "$WORK/mixed_lmdb" "$WORK/mixed_lmdb" "scale: 1"
lmdb_solver mixed_s.prototxt mixed.prototxt "$WORK/snap/mixed"
expect_error "a Datum whose size differs from the first" "key '00000001_b') is 3×9×9, but the first record|is 3×8×8" \
  train --solver mixed_s.prototxt
lmdb_net crop.prototxt "$WORK/raw_lmdb" "$WORK/raw_lmdb" "crop_size: 30"
lmdb_solver crop_s.prototxt crop.prototxt "$WORK/snap/crop"
expect_error "crop_size larger than the image" "crop_size 30" train --solver crop_s.prototxt
lmdb_net mean.prototxt "$WORK/raw_lmdb" "$WORK/raw_lmdb" "mean_file: \"$WORK/imagenet_mean.binaryproto\""
lmdb_solver mean_s.prototxt mean.prototxt "$WORK/snap/mean"
expect_error "a mean file whose shape does not match the data" "256" train --solver mean_s.prototxt
lmdb_net missing.prototxt "$WORK/no_such_lmdb" "$WORK/raw_lmdb"
lmdb_solver missing_s.prototxt missing.prototxt "$WORK/snap/missing"
expect_error "a missing LMDB" "LMDB '$WORK/no_such_lmdb' (data_param.source) not found" train --solver missing_s.prototxt
finish
