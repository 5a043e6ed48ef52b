#!/usr/bin/env bash
# examples/images/run.sh, bounded (README "Your own data"): 400 Fashion-MNIST images per set as
# PNG/JPEG files, convert-imageset and compute-image-mean, then LeNet with crop + mirror + mean
# on 2 ranks for 100 iterations. `make images-demo` runs the whole example.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v mpirun >/dev/null || { bad "mpirun" "not installed"; finish; exit; }
[ -d /usr/share/datasets/fashion-mnist ] || { bad "Fashion-MNIST" "not installed (make test installs dataset-fashion-mnist)"; finish; exit; }
ln -s "$REPO/examples" examples
OUT="$WORK/run.out"; ERR="$WORK/run.out"
SPARKNET_BIN="$BIN" ITERS=100 timeout 600 examples/images/run.sh 400 >"$OUT" 2>&1
RC=$?
check "examples/images/run.sh 400: exit 0" bash -c "[ $RC -eq 0 ]"
check "... it wrote the uint8 HDF5 sets and the mean" bash -c "
  [ -s data/images/train.h5 ] && [ -s data/images/test.h5 ] && [ -s data/images/mean.binaryproto ]"
check "... the sets hold 400 gray 30×30 uint8 images and their labels" "$PY" - <<'PY'
import h5py
for s in ("train", "test"):
    with h5py.File(f"data/images/{s}.h5") as f:
        assert f["data"].dtype.name == "uint8" and f["data"].shape == (400, 1, 30, 30), (s, f["data"].dtype, f["data"].shape)
        assert f["label"].shape == (400,), f["label"].shape
PY
acc=$(sed -nE 's/.*final test accuracy ([0-9.]+).*/\1/p' "$OUT" | tail -1)
check "... and LeNet learns from them in 100 iterations: test accuracy ${acc:-?} > 0.5" \
  awk -v a="${acc:-0}" 'BEGIN { exit !(a > 0.5) }'
finish
