#!/usr/bin/env bash
# `make bench-input`: the input pipeline alone beside AlexNet's step, on one rank.
#
# Makes BENCH_IMAGES (512) 256×256 JPEGs, converts them as Caffe's create_imagenet.sh would
# (`convert-imageset`: uint8 HDF5, an LMDB of raw Datums, an LMDB of the JPEG bytes), computes
# the mean, and feeds bench/nets/alexnet_train.prototxt (batch BENCH_BATCH, 16) from each with
# BVLC's transform_param (227×227 random crop, mirror, mean_file). For each it prints
#   - `bench-input`: images/s the prefetch thread reads, decodes and transforms alone, the net's
#     images/s with data, and the share of the step the net waited for data;
#   - `train --metrics` (BENCH_ITERS, 20 iterations, one round per 5): data_wait_s / round_s.
# Threads: OPENBLAS_NUM_THREADS (default: the cores) for the net; the pipeline has one thread.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${SPARKNET_BIN:-.build/release/sparknet-mpi}
N=${BENCH_IMAGES:-512}
BATCH=${BENCH_BATCH:-16}
ITERS=${BENCH_ITERS:-20}
W=$(mktemp -d /tmp/sparknet-bench-input.XXXXXX)
trap 'rm -rf "$W"' EXIT

/usr/bin/python3 - "$W/img" "$N" <<'PY'
import os, sys, numpy as np
from PIL import Image
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d, exist_ok=True)
rng = np.random.default_rng(0)
base = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
with open(os.path.join(d, "list.txt"), "w") as f:
    for i in range(n):
        # Smooth photo-like content (upsampled noise), so JPEG sizes are realistic (~20 KB).
        small = np.roll(base, i, axis=(0, 1)) // 2 + rng.integers(0, 128, (64, 64, 3), dtype=np.uint8)
        Image.fromarray(small).resize((256, 256), Image.BICUBIC).save(os.path.join(d, f"{i:05d}.jpg"), quality=90)
        f.write(f"{i:05d}.jpg {i % 1000}\n")
PY
"$BIN" convert-imageset "$W/img/" "$W/img/list.txt" "$W/train.h5" >/dev/null
"$BIN" convert-imageset --backend lmdb "$W/img/" "$W/img/list.txt" "$W/raw_lmdb" >/dev/null
"$BIN" convert-imageset --backend lmdb --encoded "$W/img/" "$W/img/list.txt" "$W/jpeg_lmdb" >/dev/null
"$BIN" compute-image-mean "$W/train.h5" "$W/mean.binaryproto" >/dev/null
echo "$W/train.h5" >"$W/train.txt"

# net KIND FILE: AlexNet (bench/nets) behind a data layer reading KIND.
net() {
  local layer
  case $1 in
    hdf5) layer="type: \"HDF5Data\" hdf5_data_param { source: \"$W/train.txt\" batch_size: $BATCH shuffle: true }" ;;
    raw)  layer="type: \"Data\" data_param { source: \"$W/raw_lmdb\" batch_size: $BATCH backend: LMDB }" ;;
    jpeg) layer="type: \"Data\" data_param { source: \"$W/jpeg_lmdb\" batch_size: $BATCH backend: LMDB }" ;;
  esac
  {
    echo "name: \"AlexNet\""
    echo "layer { name: \"data\" $layer top: \"data\" top: \"label\""
    echo "  transform_param { mirror: true crop_size: 227 mean_file: \"$W/mean.binaryproto\" } }"
    echo "layer {"
    sed -n '/name: "conv1"/,$p' bench/nets/alexnet_train.prototxt
  } >"$2"
}
printf '%-28s %14s %14s %10s %12s\n' "source (227 crop, mirror, mean)" "pipeline img/s" "AlexNet img/s" "wait/step" "data_wait_s"
for kind in hdf5 raw jpeg; do
  net $kind "$W/$kind.prototxt"
  out=$("$BIN" bench-input --model "$W/$kind.prototxt" --batches 10 2>&1)
  pipe=$(sed -nE 's/.*input pipeline alone: .* ms\/batch, ([0-9]+) images\/s.*/\1/p' <<<"$out")
  step=$(sed -nE 's/.*net step with data: +.* ms\/batch, ([0-9]+) images\/s.*/\1/p' <<<"$out")
  wait=$(sed -nE 's/.* = ([0-9.]+) % of the step.*/\1/p' <<<"$out")
  cat >"$W/solver.prototxt" <<S
net: "$W/$kind.prototxt"
base_lr: 0.001
lr_policy: "fixed"
max_iter: $ITERS
display: 0
snapshot_prefix: "$W/snap"
random_seed: 1
S
  "$BIN" train --solver "$W/solver.prototxt" --tau 5 --metrics "$W/$kind.jsonl" >/dev/null 2>&1
  share=$(/usr/bin/python3 -c "
import json, sys
r = [json.loads(l) for l in open('$W/$kind.jsonl') if '\"round_s\"' in l]
print('%.2f %%' % (100 * sum(x['data_wait_s'] for x in r) / sum(x['round_s'] for x in r)))")
  printf '%-28s %14s %14s %9s%% %12s\n' "$kind" "${pipe:-?}" "${step:-?}" "${wait:-?}" "$share"
done
