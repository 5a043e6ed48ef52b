#!/usr/bin/python3
"""Writes Fashion-MNIST as a folder of image files plus Caffe list files, the input
`convert-imageset` expects (the way a user's own photos would arrive).

    make_images.py OUT [--limit N] [--source DIR]

OUT/train/NNNNN.png and OUT/test/NNNNN.png (every tenth image a JPEG, quality 95, to show both
decoders), and OUT/train.txt, OUT/test.txt with lines `train/00000.png 9` (path relative to OUT,
label). --limit keeps the first N images of each set (tests use a few hundred).
"""
import argparse
import gzip
import os
import struct
import sys

from PIL import Image


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    zero, kind, nd = struct.unpack(">HBB", raw[:4])
    if zero != 0 or kind != 0x08:
        sys.exit(f"make_images.py: {path} is not an IDX file of unsigned bytes")
    dims = struct.unpack(">" + "I" * nd, raw[4:4 + 4 * nd])
    return dims, raw[4 + 4 * nd:]


def write_set(out, name, images, labels, limit):
    (n, h, w), pixels = read_idx(images)
    _, label_bytes = read_idx(labels)
    n = min(n, limit) if limit else n
    os.makedirs(os.path.join(out, name), exist_ok=True)
    lines = []
    for i in range(n):
        img = Image.frombytes("L", (w, h), pixels[i * h * w:(i + 1) * h * w])
        rel = f"{name}/{i:05d}." + ("jpg" if i % 10 == 9 else "png")
        if rel.endswith(".jpg"):
            img.save(os.path.join(out, rel), quality=95)
        else:
            img.save(os.path.join(out, rel))
        lines.append(f"{rel} {label_bytes[i]}\n")
    # The list is written last and atomically: a list that exists names files that exist.
    tmp = os.path.join(out, f".{name}.txt.tmp")
    with open(tmp, "w") as f:
        f.writelines(lines)
    os.replace(tmp, os.path.join(out, f"{name}.txt"))
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--limit", type=int, default=0, help="images per set (0: all)")
    ap.add_argument("--source", default="/usr/share/datasets/fashion-mnist",
                    help="directory of Fashion-MNIST's IDX .gz files (Debian's dataset-fashion-mnist)")
    a = ap.parse_args()
    s = a.source
    n_train = write_set(a.out, "train", f"{s}/train-images-idx3-ubyte.gz", f"{s}/train-labels-idx1-ubyte.gz", a.limit)
    n_test = write_set(a.out, "test", f"{s}/t10k-images-idx3-ubyte.gz", f"{s}/t10k-labels-idx1-ubyte.gz", a.limit)
    print(f"make_images.py: {n_train} training and {n_test} test images in {a.out}")


if __name__ == "__main__":
    main()
