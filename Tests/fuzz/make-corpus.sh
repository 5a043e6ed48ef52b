#!/usr/bin/env bash
# Writes the seed corpus of every fuzz target into Tests/fuzz/corpus/<target>/ (checked in; run
# again only to change the seeds). Valid files of each kind, small enough for libFuzzer.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
C="$REPO/Tests/fuzz/corpus"
PY=/usr/bin/python3
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
rm -rf "$C"; mkdir -p "$C"/{net-prototxt,solver-prototxt,caffemodel,solverstate,hdf5,image}

cp "$REPO"/examples/deploy/{lenet,alexnet}_deploy.prototxt "$REPO"/examples/fashion-mnist/lenet_train_test.prototxt "$C/net-prototxt/"
cp "$REPO"/examples/fashion-mnist/lenet_solver.prototxt "$C/solver-prototxt/"
cat >"$C/net-prototxt/v1_layers.prototxt" <<'NET'
name: "old"
input: "data"
input_dim: 2 input_dim: 1 input_dim: 4 input_dim: 4
layers { name: "conv" type: CONVOLUTION bottom: "data" top: "conv" blobs_lr: 1 blobs_lr: 2
  convolution_param { num_output: 3 kernel_size: 3 weight_filler { type: "gaussian" std: 0.1 } } }
layers { name: "ip" type: INNER_PRODUCT bottom: "conv" top: "ip" param: "ip_w" blob_share_mode: PERMISSIVE
  inner_product_param { num_output: 2 } }
layers { name: "loss" type: SOFTMAX_LOSS bottom: "ip" bottom: "label" top: "loss" include { phase: TRAIN } }
NET
cat >"$C/net-prototxt/v0_padding.prototxt" <<'NET'
name: "v0"
input: "data"
input_dim: 1 input_dim: 1 input_dim: 8 input_dim: 8
layers { layer { name: "pad1" type: "padding" pad: 1 } bottom: "data" top: "pad1" }
layers { layer { name: "conv1" type: "conv" num_output: 2 kernelsize: 3 stride: 1 } bottom: "pad1" top: "conv1" }
NET
cat >"$C/solver-prototxt/adam_multistep.prototxt" <<'S'
net_param { name: "n" layer { name: "d" type: "Input" top: "d" input_param { shape { dim: 1 } } } }
type: "Adam" base_lr: 0.001 momentum: 0.9 momentum2: 0.999 delta: 1e-8
lr_policy: "multistep" gamma: 0.1 stepvalue: 100 stepvalue: 200 max_iter: 300
test_iter: 5 test_interval: 50 snapshot: 100 snapshot_prefix: "s" display: 10 average_loss: 5
S
cat >"$C/solver-prototxt/v1_solver_type.prototxt" <<'S'
net: "train.prototxt" solver_type: NESTEROV base_lr: 0.01 lr_policy: "step" stepsize: 10 gamma: 0.5
weight_decay: 0.0005 regularization_type: "L1" iter_size: 2 clip_gradients: 10 solver_mode: CPU
S

protoc --python_out="$TMP" -I "$REPO/proto" "$REPO/proto/caffe.proto"
PYTHONPATH="$TMP" "$PY" - "$C" <<'PYEOF'
import sys, numpy as np, h5py, caffe_pb2
c = sys.argv[1]
rng = np.random.default_rng(7)
# The fuzz fixture's net: conv 2x1x3x3 + 2, ip 3x8 + 3.
shapes = {"conv": [[2, 1, 3, 3], [2]], "ip": [[3, 8], [3]]}
def blob(dims, legacy=False):
    b = caffe_pb2.BlobProto()
    if legacy:
        d = [1] * (4 - len(dims)) + dims
        b.num, b.channels, b.height, b.width = d
    else:
        b.shape.dim.extend(dims)
    b.data.extend(rng.standard_normal(int(np.prod(dims))).astype(np.float32))
    return b
net = caffe_pb2.NetParameter(name="Fuzz")
for name, ss in shapes.items():
    l = net.layer.add(name=name, type="Convolution" if name == "conv" else "InnerProduct")
    for s in ss: l.blobs.append(blob(s))
open(f"{c}/caffemodel/fuzz.caffemodel", "wb").write(net.SerializeToString())
v1 = caffe_pb2.NetParameter(name="Fuzz")
for name, ss in shapes.items():
    l = v1.layers.add(name=name, type=caffe_pb2.V1LayerParameter.CONVOLUTION if name == "conv" else caffe_pb2.V1LayerParameter.INNER_PRODUCT)
    for s in ss: l.blobs.append(blob(s, legacy=True))
open(f"{c}/caffemodel/v1_legacy_dims.caffemodel", "wb").write(v1.SerializeToString())
dbl = caffe_pb2.NetParameter(name="Fuzz")
l = dbl.layer.add(name="ip", type="InnerProduct")
for s in shapes["ip"]:
    b = l.blobs.add(); b.shape.dim.extend(s); b.double_data.extend(rng.standard_normal(int(np.prod(s))))
open(f"{c}/caffemodel/double_data.caffemodel", "wb").write(dbl.SerializeToString())
for name, momentum in (("sgd", 1),):
    st = caffe_pb2.SolverState(iter=3, current_step=1, learned_net="fuzz.caffemodel")
    for ss in shapes.values():
        for s in ss: st.history.append(blob(s))
    open(f"{c}/solverstate/{name}.solverstate", "wb").write(st.SerializeToString())
st = caffe_pb2.SolverState(iter=0, current_step=0)
for ss in shapes.values():
    for s in ss: st.history.append(blob(s))
open(f"{c}/solverstate/no_learned_net.solverstate", "wb").write(st.SerializeToString())
n = 6
data = rng.random((n, 1, 4, 4), dtype=np.float32)
label = (np.arange(n) % 3).astype(np.float32)
with h5py.File(f"{c}/hdf5/plain.h5", "w") as f:
    f["data"] = data; f["label"] = label
with h5py.File(f"{c}/hdf5/int_labels_chunked.h5", "w") as f:
    f.create_dataset("data", data=data, chunks=(2, 1, 4, 4), compression="gzip")
    f["label"] = label.astype(np.int32)
with h5py.File(f"{c}/hdf5/resizable_big_chunks.h5", "w") as f:
    f.create_dataset("data", data=data, maxshape=(None, 1, 4, 4), chunks=(16, 1, 4, 4))
    f.create_dataset("label", data=label, maxshape=(None,), chunks=(1024,))
with h5py.File(f"{c}/hdf5/flat_float64.h5", "w", libver="latest") as f:
    f["data"] = data.reshape(n, 16).astype(np.float64); f["label"] = label
# image: small JPEGs (baseline, progressive, gray, 4:2:0) and PNGs (RGB, gray, RGBA, palette, 16-bit)
from PIL import Image
px = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
Image.fromarray(px).save(f"{c}/image/rgb.jpg", quality=90)
Image.fromarray(px).save(f"{c}/image/progressive.jpg", quality=80, progressive=True, subsampling=2)
Image.fromarray(px[..., 0]).save(f"{c}/image/gray.jpg")
Image.fromarray(px).save(f"{c}/image/rgb.png")
Image.fromarray(px[..., 0]).save(f"{c}/image/gray.png")
Image.fromarray(np.dstack([px, px[..., :1]])).save(f"{c}/image/rgba.png")
Image.fromarray(px).convert("P").save(f"{c}/image/palette.png")
Image.fromarray(px[..., 0].astype(np.uint16) * 257).save(f"{c}/image/gray16.png")
PYEOF
ls -la "$C"/*

# libFuzzer dictionary for the prototxt targets: every field name of caffe.proto, and the
# text format's punctuation and keywords.
{
  grep -oE '^\s*(optional|repeated|required)\s+\S+\s+\w+' "$REPO/proto/caffe.proto" | awk '{print $3}' | sort -u | sed 's/.*/"&"/'
  printf '"%s"\n' "{" "}" ":" "<" ">" "[" "]" "#" "\\\"" "true" "false" "inf" "-" "1e30" "0x7fffffff"
} >"$REPO/Tests/fuzz/prototxt.dict"
wc -l "$REPO/Tests/fuzz/prototxt.dict"
