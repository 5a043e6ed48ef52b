#!/usr/bin/env bash
# Images in (issue 16 A): convert-imageset to HDF5 (1 rank and 2 ranks into one file) and to an
# LMDB of Caffe Datums, compute-image-mean, and every bad-input case. Images are made with PIL;
# outputs are read back with h5py, python3-lmdb and protoc's caffe_pb2 (independent decoders).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_mpirun
make_pb2

# 8 images 4×5: PNGs (lossless: exact pixels) and JPEGs (quality 95), one path with spaces.
"$PY" - <<'PYEOF'
import os, numpy as np
from PIL import Image
rng = np.random.default_rng(16)
os.makedirs("root/sub dir", exist_ok=True)
lines = []
for i in range(8):
    a = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    p = f"sub dir/img {i}.png" if i % 2 else f"img{i}.jpg"
    Image.fromarray(a).save("root/" + p, quality=95)
    lines.append(f"{p} {i % 3}")
open("list.txt", "w").write("\n".join(lines) + "\n")
Image.fromarray(rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)).save("root/big.png")
open("root/garbage.jpg", "wb").write(b"this is not an image at all")
jpg = open("root/img0.jpg", "rb").read()
open("root/trunc.jpg", "wb").write(jpg[: len(jpg) // 2])
PYEOF

# check_h5 FILE LIST MODE [H W]: the file holds LIST's images as PIL decodes them, C×H×W BGR
# (MODE color) or OpenCV's gray weights (MODE gray), uint8, labels float32, in LIST's order.
check_h5() {
  "$PY" - "$@" <<'PYEOF'
import sys, h5py, numpy as np
from PIL import Image
path, lst, mode = sys.argv[1:4]
rows = [l.rsplit(None, 1) for l in open(lst) if l.strip()]
f = h5py.File(path, "r")
d, lab = f["data"], f["label"]
assert d.dtype == np.uint8 and lab.dtype == np.float32, (d.dtype, lab.dtype)
assert d.chunks[0] == 1 and d.chunks[1:] == d.shape[1:], d.chunks
assert d.shape[0] == len(rows) == lab.shape[0], (d.shape, len(rows))
for i, (p, l) in enumerate(rows):
    im = Image.open("root/" + p)
    rgb = np.asarray(im.convert("RGB")).astype(np.int64)
    if mode == "gray" and p.endswith(".jpg"):
        im = Image.open("root/" + p); im.draft("L", im.size)   # libjpeg's own luminance, as OpenCV
        want = np.asarray(im).astype(np.int64)[None]
    elif mode == "gray":
        want = ((rgb[..., 0] * 4899 + rgb[..., 1] * 9617 + rgb[..., 2] * 1868 + 8192) >> 14)[None]
    else:
        want = rgb[..., ::-1].transpose(2, 0, 1)          # BGR planes
    got = d[i].astype(np.int64)
    # JPEG: the same libjpeg-turbo as PIL decodes, so exact too.
    tol = 0
    assert got.shape == want.shape and np.abs(got - want).max() <= tol, (p, got.shape, want.shape, np.abs(got - want).max())
    assert lab[i] == float(l), (i, lab[i], l)
PYEOF
}

# --- HDF5, one rank
run h5 convert-imageset root list.txt a.h5
check "h5: converts 8 images" [ "$RC" -eq 0 ]
if check_h5 a.h5 list.txt color; then ok "h5: uint8 8×3×4×5, BGR planes, float labels"; else bad "h5 content"; fi

# --- two ranks write one file, equal to the one-rank file; also a rank with no rows
mpi h5_np2 2 convert-imageset root list.txt b.h5
check "h5 np2: converts" [ "$RC" -eq 0 ]
h5_equal() { "$PY" -c "
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
assert set(a) == set(b) == {'data', 'label'}
for k in a: assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and (a[k][()] == b[k][()]).all(), k
" "$1" "$2"; }
if h5_equal a.h5 b.h5; then ok "h5 np2: same file as one rank"; else bad "h5 np2 differs"; fi
head -1 list.txt >one.txt
mpi h5_np2_one 2 convert-imageset root one.txt one2.h5
run h5_one convert-imageset root one.txt one1.h5
if [ "$RC" -eq 0 ] && h5_equal one1.h5 one2.h5; then ok "h5 np2: rank 0 with no rows"; else bad "h5 np2 one image" "$(cat "$ERR")"; fi

# --- shuffle: a fixed permutation, reproducible
run shuf1 convert-imageset --shuffle root list.txt s1.h5
run shuf2 convert-imageset --shuffle root list.txt s2.h5
mpi shuf_np2 2 convert-imageset --shuffle root list.txt s3.h5
if "$PY" -c "
import h5py, numpy as np
a, s = h5py.File('a.h5'), h5py.File('s1.h5')
A, S = a['data'][()], s['data'][()]
perm = [next(j for j in range(8) if (A[j] == S[i]).all()) for i in range(8)]
assert sorted(perm) == list(range(8)) and perm != list(range(8)), perm
assert (s['label'][()] == a['label'][()][perm]).all()
" && h5_equal s1.h5 s2.h5 && h5_equal s1.h5 s3.h5; then ok "shuffle: a permutation with labels, same every run and on 2 ranks"; else bad "shuffle"; fi

# --- gray, resize
run gray convert-imageset --gray root list.txt g.h5
if [ "$RC" -eq 0 ] && check_h5 g.h5 list.txt gray; then ok "gray: 8×1×4×5, OpenCV's weights"; else bad "gray" "$(cat "$ERR")"; fi
run resize convert-imageset --resize_height 3 --resize_width 7 root list.txt r.h5
if [ "$RC" -eq 0 ] && "$PY" -c "
import h5py, numpy as np
a, r = h5py.File('a.h5')['data'][()].astype(float), h5py.File('r.h5')['data'][()]
assert r.shape == (8, 3, 3, 7), r.shape
def taps(dst, src):   # cv::resize INTER_LINEAR: centre-aligned, clamped at the edges
    out = []
    for d in range(dst):
        s = (d + 0.5) * src / dst - 0.5
        i = int(np.floor(s)); f = s - i
        if i < 0: i, f = 0, 0.0
        if i >= src - 1: i, f = src - 1, 0.0
        out.append((i, min(i + 1, src - 1), f))
    return out
ys, xs = taps(3, 4), taps(7, 5)
want = np.zeros((8, 3, 3, 7))
for y, (y0, y1, fy) in enumerate(ys):
    for x, (x0, x1, fx) in enumerate(xs):
        top = a[:, :, y0, x0] * (1 - fx) + a[:, :, y0, x1] * fx
        bot = a[:, :, y1, x0] * (1 - fx) + a[:, :, y1, x1] * fx
        want[:, :, y, x] = top * (1 - fy) + bot * fy
tie = np.abs(want - np.floor(want) - 0.5) < 1e-9     # exact halves may round either way
assert np.abs(r - np.floor(want + 0.5))[~tie].max() == 0 and np.abs(r - want).max() <= 0.5 + 1e-9
"; then ok "resize 3×7: bilinear, pixel centres"; else bad "resize" "$(cat "$ERR")"; fi

# --- sizes: different sizes need a resize (HDF5); with one they mix
cp list.txt mixed.txt; echo "big.png 1" >>mixed.txt
expect_error sizes_differ "images differ in size|img0.jpg|3×4×5|big.png|3×6×7|mixed.txt:9" convert-imageset root mixed.txt m.h5
CODES=1 mpi sizes_differ_np2 2 convert-imageset root mixed.txt m.h5
if [ "$(grep -c '^sparknet-mpi: error: images differ in size' "$ERR")" -eq 1 ] && [ "$(rank_codes sizes_differ_np2)" = "1 1 " ] && [ ! -e m.h5 ] && [ -z "$(find . -name '*.tmp*')" ]; then ok "sizes differ on 2 ranks: one error, both ranks exit 1"; else bad "sizes differ np2" "$(cat "$ERR")" "codes $(rank_codes sizes_differ_np2)"; fi
run mixed_resize convert-imageset --resize_height 4 --resize_width 5 root mixed.txt m.h5
"$PY" -c "import h5py; assert h5py.File('m.h5')['data'].shape == (9, 3, 4, 5)" && [ "$RC" -eq 0 ] && ok "different sizes with a resize" || bad "mixed resize" "$(cat "$ERR")"

# --- bad images: skipped and counted (one rank and two), or --strict fails with nothing written
{ head -3 list.txt; echo "garbage.jpg 1"; echo "missing.png 2"; echo "trunc.jpg 0"; tail -2 list.txt; } >badimg.txt
run skip convert-imageset root badimg.txt k.h5
if [ "$RC" -eq 0 ] && grep -q "skipped 3 of 8 images" "$OUT" && grep -q "badimg.txt:4: 'root/garbage.jpg': not a JPEG or PNG" "$OUT" &&
   grep -q "badimg.txt:5: 'root/missing.png': file not found" "$OUT" && grep -q "badimg.txt:6: 'root/trunc.jpg': truncated JPEG" "$OUT" &&
   [ "$(grep -c skipping "$OUT")" -eq 3 ] && "$PY" -c "import h5py; assert h5py.File('k.h5')['data'].shape[0] == 5"; then
  ok "skip: 3 bad images logged once each with line and path, counted, 5 written"; else bad "skip" "$(cat "$OUT" "$ERR")"; fi
mpi skip_np2 2 convert-imageset root badimg.txt k2.h5
if [ "$RC" -eq 0 ] && grep -q "skipped 3 of 8 images" "$OUT" && [ "$(grep -c skipping "$OUT")" -eq 3 ] && h5_equal k.h5 k2.h5; then
  ok "skip on 2 ranks: same messages once, same file"; else bad "skip np2" "$(cat "$OUT" "$ERR")"; fi
expect_error strict "badimg.txt:4|garbage.jpg|not a JPEG or PNG|--strict" convert-imageset --strict root badimg.txt st.h5
[ ! -e st.h5 ] && ok "strict: nothing written" || bad "strict wrote st.h5"
printf 'trunc.jpg 0\n' >trunc.txt
expect_error truncated_jpeg "trunc.txt:1|trunc.jpg|truncated JPEG" convert-imageset --strict root trunc.txt t.h5
printf 'garbage.jpg 0\nmissing.png 1\n' >allbad.txt
expect_error all_bad "no image|allbad.txt" convert-imageset root allbad.txt t.h5

# --- bad arguments: ROOT, LIST, list lines
expect_error missing_root "root folder 'nope'" convert-imageset nope list.txt x.h5
expect_error missing_list "list file 'nope.txt' not found" convert-imageset root nope.txt x.h5
printf 'img0.jpg 1\nimg2.jpg\n' >nolabel.txt
expect_error no_label "nolabel.txt:2|no label" convert-imageset root nolabel.txt x.h5
printf 'img0.jpg 1\n\nimg2.jpg two\n' >badlabel.txt
expect_error bad_label "badlabel.txt:3|'two'|not an integer" convert-imageset root badlabel.txt x.h5
CODES=1 mpi bad_label_np2 2 convert-imageset root badlabel.txt x.h5
[ "$(grep -c '^sparknet-mpi: error: badlabel.txt:3' "$ERR")" -eq 1 ] && [ "$(rank_codes bad_label_np2)" = "1 1 " ] && ok "bad label on 2 ranks: printed once" || bad "bad label np2" "$(cat "$ERR")"
expect_error resize_one_side "--resize_height|--resize_width" convert-imageset --resize_height 3 root list.txt x.h5
expect_error encoded_hdf5 "--encoded|lmdb" convert-imageset --encoded root list.txt x.h5
expect_error bad_backend "--backend 'leveldb'" convert-imageset --backend leveldb root list.txt x.h5
expect_error no_out_dir "nodir" convert-imageset root list.txt nodir/x.h5

# --- LMDB of Datums, read back with python3-lmdb and caffe_pb2
run lmdb convert-imageset --backend lmdb root badimg.txt db
if [ "$RC" -eq 0 ] && grep -q "skipped 3 of 8" "$OUT" && PYTHONPATH="$WORK/py" "$PY" -c "
import lmdb, h5py, numpy as np, caffe_pb2
rows = [l.rsplit(None, 1) for l in open('badimg.txt')]
h5 = h5py.File('k.h5')
env = lmdb.open('db', readonly=True, lock=False)
keys, j = [], 0
with env.begin() as t:
    for k, v in t.cursor():
        d = caffe_pb2.Datum(); d.ParseFromString(v)
        i = int(k[:8]); keys.append(k.decode())
        assert k.decode() == '%08d_%s' % (i, rows[i][0]), k
        assert (d.channels, d.height, d.width, d.encoded) == (3, 4, 5, False)
        assert (np.frombuffer(d.data, np.uint8).reshape(3, 4, 5) == h5['data'][j]).all() and d.label == int(rows[i][1])
        j += 1
assert [int(k[:8]) for k in keys] == [0, 1, 2, 6, 7], keys   # skipped lines leave gaps, as in Caffe
"; then ok "lmdb: Datums 3×4×5 BGR under %08d_path keys, equal to the HDF5 rows"; else bad "lmdb" "$(cat "$OUT" "$ERR")"; fi
run lmdb_enc convert-imageset --backend lmdb --encoded --shuffle root list.txt dbe
if [ "$RC" -eq 0 ] && PYTHONPATH="$WORK/py" "$PY" -c "
import lmdb, caffe_pb2
env = lmdb.open('dbe', readonly=True, lock=False)
n = 0
with env.begin() as t:
    for k, v in t.cursor():
        d = caffe_pb2.Datum(); d.ParseFromString(v)
        path = k.decode()[9:]
        assert d.encoded and d.data == open('root/' + path, 'rb').read() and not d.HasField('channels'), k
        n += 1
assert n == 8
"; then ok "lmdb --encoded: the files' own bytes"; else bad "lmdb encoded" "$(cat "$ERR")"; fi
mpi lmdb_np2 2 convert-imageset --backend lmdb root list.txt db2
[ "$RC" -eq 0 ] && [ -f db2/data.mdb ] && ok "lmdb under mpirun: rank 0 writes" || bad "lmdb np2" "$(cat "$ERR")"
expect_error lmdb_exists "LMDB 'db' already exists" convert-imageset --backend lmdb root list.txt db
expect_error lmdb_check_size "--check_size|big.png" convert-imageset --backend lmdb --check_size root mixed.txt dbm
expect_error encode_type "is a PNG|--encode_type jpg" convert-imageset --backend lmdb --encoded --encode_type jpg --strict root list.txt dbt
[ ! -e dbm ] && [ ! -e dbt ] && ok "lmdb errors leave no database" || bad "lmdb leftovers"

# --- compute-image-mean: Caffe's BlobProto, from HDF5 and from LMDB (raw and encoded)
mean_ok() {   # BINARYPROTO H5: the blob is 1×C×H×W holding the mean of H5's data
  PYTHONPATH="$WORK/py" "$PY" -c "
import sys, h5py, numpy as np, caffe_pb2
b = caffe_pb2.BlobProto(); b.ParseFromString(open(sys.argv[1], 'rb').read())
d = h5py.File(sys.argv[2])['data'][()].astype(np.float64)
assert (b.num, b.channels, b.height, b.width) == (1,) + d.shape[1:], (b.num, b.channels, b.height, b.width)
assert np.abs(np.array(b.data) - d.mean(0).ravel()).max() < 1e-4
" "$1" "$2"
}
run mean_h5 compute-image-mean a.h5 mean_h5.binaryproto
[ "$RC" -eq 0 ] && mean_ok mean_h5.binaryproto a.h5 && grep -q "mean_value channel \[2\]" "$OUT" && ok "mean from HDF5" || bad "mean h5" "$(cat "$ERR")"
run mean_lmdb compute-image-mean db mean_db.binaryproto
[ "$RC" -eq 0 ] && mean_ok mean_db.binaryproto k.h5 && ok "mean from LMDB" || bad "mean lmdb" "$(cat "$ERR")"
run mean_enc compute-image-mean dbe mean_dbe.binaryproto
[ "$RC" -eq 0 ] && mean_ok mean_dbe.binaryproto a.h5 && ok "mean from encoded LMDB" || bad "mean encoded" "$(cat "$ERR")"
mpi mean_np2 2 compute-image-mean a.h5 mean_np2.binaryproto
[ "$RC" -eq 0 ] && cmp -s mean_h5.binaryproto mean_np2.binaryproto && ok "mean under mpirun" || bad "mean np2" "$(cat "$ERR")"
"$PY" -c "
import lmdb
env = lmdb.open('notdatum', map_size=1 << 20)
with env.begin(write=True) as t:
    t.put(b'first-key', b'hello, this is not a Datum')
    t.put(b'second', b'x')
"
expect_error mean_not_datum "notdatum|'first-key'|not a Caffe Datum" compute-image-mean notdatum x.binaryproto
expect_error mean_missing "'nope.h5' not found" compute-image-mean nope.h5 x.binaryproto
expect_error mean_not_h5 "list.txt|neither an HDF5 file nor an LMDB" compute-image-mean list.txt x.binaryproto
[ ! -e x.binaryproto ] && ok "mean errors write nothing" || bad "mean wrote x.binaryproto"

finish
