#!/usr/bin/env bash
# Your own images, end to end (README "Your own data"). Run from the repository root:
#
#   examples/images/run.sh [LIMIT]        # make images-demo
#
# 1. make_images.py writes Fashion-MNIST as PNG files (every tenth a JPEG) and Caffe list files
#    (`train/00000.png 9`), as a user's own photos would arrive;
# 2. `convert-imageset` on 2 ranks decodes them (gray, resized to 30×30) into one uint8 HDF5 file
#    per set, each rank converting its slice of the list;
# 3. `compute-image-mean` writes Caffe's mean.binaryproto;
# 4. `train` on 2 ranks (model averaging) runs examples/images/lenet_solver.prototxt, whose data
#    layers crop 28×28 at random, mirror, subtract the mean and scale, as Caffe's
#    transform_param does (4,000 iterations: augmented data learns more slowly);
# 5. the IDX path for comparison (examples/fashion-mnist's net, data and 2,000-iteration solver,
#    on 2 ranks): the image path should come within 0.01 of it.
# LIMIT (default: all 60,000 + 10,000 images) keeps the first LIMIT images of each set and trains
# ITERS (default 200) iterations instead of 2,000, without the IDX comparison (a quick check).
set -euo pipefail
BIN=${SPARKNET_BIN:-.build/release/sparknet-mpi}
LIMIT=${1:-0}
D=data/images
SNAP=snapshots/images
MPIRUN=(mpirun --oversubscribe -np 2 -x OPENBLAS_NUM_THREADS=1)
[ "$(id -u)" = 0 ] && MPIRUN+=(--allow-run-as-root)
mkdir -p "$D" "$SNAP"

examples/images/make_images.py "$D/files" --limit "$LIMIT"
"${MPIRUN[@]}" "$BIN" convert-imageset --gray --resize_height 30 --resize_width 30 --shuffle \
    "$D/files/" "$D/files/train.txt" "$D/train.h5"
"${MPIRUN[@]}" "$BIN" convert-imageset --gray --resize_height 30 --resize_width 30 \
    "$D/files/" "$D/files/test.txt" "$D/test.h5"
echo "$D/train.h5" >"$D/train.txt"
echo "$D/test.h5" >"$D/test.txt"
"$BIN" compute-image-mean "$D/train.h5" "$D/mean.binaryproto"

# The solver's test_iter covers 10,000 images; with LIMIT, test what there is, train ITERS.
SOLVER=examples/images/lenet_solver.prototxt
IDX_SOLVER=examples/fashion-mnist/lenet_solver.prototxt
if [ "$LIMIT" != 0 ]; then
  iters=${ITERS:-200}
  sed "s/^test_iter: .*/test_iter: $(( (LIMIT + 99) / 100 ))/; s/^max_iter: .*/max_iter: $iters/;
       s/^test_interval: .*/test_interval: $iters/; s/^snapshot: .*/snapshot: $iters/" \
      "$SOLVER" >"$SNAP/solver.prototxt"
  SOLVER=$SNAP/solver.prototxt
fi
"${MPIRUN[@]}" "$BIN" train --solver "$SOLVER" 2>&1 | tee "$SNAP/train.log"
accuracy() { sed -nE 's/.*Final test accuracy = ([0-9.]+).*/\1/p' "$1" | tail -1; }
images=$(accuracy "$SNAP/train.log")
echo "images (crop + mirror + mean, 2 ranks): final test accuracy $images"

if [ "$LIMIT" = 0 ]; then
  make --no-print-directory data >/dev/null
  sed "s#snapshot_prefix: .*#snapshot_prefix: \"$SNAP/idx\"#" "$IDX_SOLVER" >"$SNAP/idx_solver.prototxt"
  "${MPIRUN[@]}" "$BIN" train --solver "$SNAP/idx_solver.prototxt" >"$SNAP/idx.log" 2>&1
  idx=$(accuracy "$SNAP/idx.log")
  echo "IDX path (no transforms, 2 ranks): final test accuracy $idx"
  awk -v a="$images" -v b="$idx" 'BEGIN { d = a - b; printf "difference %+.4f (%s)\n", d, (d >= -0.01 ? "within 0.01 or better" : "more than 0.01 below") }'
fi
