#!/usr/bin/python3
"""Writes LMDBs the way Caffe's tools/convert_imageset.cpp does, independently of sparknet-mpi:
python3-lmdb for the database, Python protobuf (caffe_pb2 generated from proto/caffe.proto) for
the Datum, PIL for the images. Used by Tests/e2e/lmdb.sh.

  caffe_lmdb.py images ROOT LIST DB [--encoded] [--gray] [--resize H W]
      one Datum per `path label` line of LIST, key "%08d_%s" % (line, path), as convert_imageset:
      raw (channels, height, width, data = C×H×W bytes in BGR order, label) or encoded (the
      file's bytes, encoded: true)
  caffe_lmdb.py junk DB        records that are not Datums
  caffe_lmdb.py mixed DB       two raw Datums of different sizes (3×8×8, then 3×9×9)
"""
import os
import shutil
import subprocess
import sys
import tempfile

import lmdb
import numpy as np


def caffe_pb2():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    tmp = tempfile.mkdtemp()
    subprocess.run([shutil.which("protoc"), "--python_out=" + tmp, "-I", os.path.join(root, "proto"),
                    os.path.join(root, "proto", "caffe.proto")], check=True)
    sys.path.insert(0, tmp)
    import caffe_pb2 as pb  # generated above
    return pb


def raw_datum(pb, pixels_hwc_bgr, label):
    """CVMatToDatum: channels, height, width and the bytes in C×H×W order."""
    h, w, c = pixels_hwc_bgr.shape
    d = pb.Datum()
    d.channels, d.height, d.width = c, h, w
    d.data = np.ascontiguousarray(pixels_hwc_bgr.transpose(2, 0, 1)).tobytes()
    d.label = label
    return d


def images(pb, root, listfile, db, encoded, gray, resize):
    from PIL import Image
    env = lmdb.open(db, map_size=1 << 30)
    with env.begin(write=True) as txn, open(listfile) as f:
        for i, line in enumerate(l for l in f.read().splitlines() if l.strip()):
            path, label = line.rsplit(None, 1)
            if encoded:
                d = pb.Datum()
                d.data = open(os.path.join(root, path), "rb").read()
                d.encoded, d.label = True, int(label)
            else:
                img = Image.open(os.path.join(root, path)).convert("L" if gray else "RGB")
                if resize:
                    img = img.resize((resize[1], resize[0]), Image.BILINEAR)
                a = np.asarray(img, dtype=np.uint8)
                a = a[:, :, None] if gray else a[:, :, ::-1]  # RGB -> BGR, as OpenCV loads
                d = raw_datum(pb, a, int(label))
            txn.put(("%08d_%s" % (i, path)).encode(), d.SerializeToString())
    env.close()


def main():
    a = sys.argv[1:]
    if not a:
        sys.exit(__doc__)
    pb = caffe_pb2()
    if a[0] == "images":
        resize = None
        if "--resize" in a:
            k = a.index("--resize")
            resize = (int(a[k + 1]), int(a[k + 2]))
        images(pb, a[1], a[2], a[3], "--encoded" in a, "--gray" in a, resize)
    elif a[0] == "junk":
        env = lmdb.open(a[1], map_size=1 << 24)
        with env.begin(write=True) as txn:
            txn.put(b"00000000_a", b"\xff\xff\xff\xff this is not a Datum")
            txn.put(b"00000001_b", b"\x08")
    elif a[0] == "mixed":
        env = lmdb.open(a[1], map_size=1 << 24)
        with env.begin(write=True) as txn:
            txn.put(b"00000000_a", raw_datum(pb, np.zeros((8, 8, 3), np.uint8), 0).SerializeToString())
            txn.put(b"00000001_b", raw_datum(pb, np.zeros((9, 9, 3), np.uint8), 1).SerializeToString())
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
