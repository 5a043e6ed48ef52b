#!/usr/bin/python3
"""Independent decoder for .caffemodel files, used by SparkNet's tests.

Generates caffe_pb2.py from the project's proto/caffe.proto with protoc into a temporary
directory, parses the model with Python's protobuf, and prints JSON:
  {"name": ..., "layers": [{"name", "type", "blobs": [{"shape": [...], "count", "sum"}]}]}

Exit codes: 0 ok; 2 usage or unreadable/corrupt model; 3 missing tools (protoc or
python3-protobuf: run `make test`, which installs python3-protobuf and protobuf-compiler).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile


def main():
    if len(sys.argv) != 2:
        print("usage: decode_caffemodel.py MODEL.caffemodel", file=sys.stderr)
        return 2
    try:
        import google.protobuf  # noqa: F401
    except ImportError:
        print("python3 has no google.protobuf module: run `make test` "
              "(installs python3-protobuf and protobuf-compiler)", file=sys.stderr)
        return 3
    protoc = shutil.which("protoc")
    if protoc is None:
        print("protoc not found: run `make test` "
              "(installs python3-protobuf and protobuf-compiler)", file=sys.stderr)
        return 3
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    proto_dir = os.path.join(root, "proto")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([protoc, "--python_out=" + tmp, "-I", proto_dir,
                        os.path.join(proto_dir, "caffe.proto")], check=True)
        sys.path.insert(0, tmp)
        import caffe_pb2  # generated above
        net = caffe_pb2.NetParameter()
        try:
            with open(sys.argv[1], "rb") as f:
                net.ParseFromString(f.read())
        except Exception as e:  # DecodeError, OSError
            print("%s: cannot decode: %s" % (sys.argv[1], e), file=sys.stderr)
            return 2
        layers = []
        for layer in net.layer:
            blobs = []
            for b in layer.blobs:
                blobs.append({"shape": list(b.shape.dim), "count": len(b.data),
                              "sum": float(sum(b.data)), "diff_count": len(b.diff)})
            layers.append({"name": layer.name, "type": layer.type, "blobs": blobs})
        print(json.dumps({"name": net.name, "layers": layers}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
