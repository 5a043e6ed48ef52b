#!/usr/bin/python3
"""Independent check that two prototxt files hold the same net (or solver), used by the e2e tests.

Parses both with Python's protobuf text_format (the grammar of Caffe's C++ TextFormat parser)
against caffe_pb2 generated from the project's proto/caffe.proto, and compares the messages.
On a difference prints the first differing layer (or field) of each file.

usage: prototxt_equal.py [--solver] A.prototxt B.prototxt
Exit codes: 0 equal; 1 different; 2 usage or a file that does not parse; 3 missing tools.
"""
import os
import shutil
import subprocess
import sys
import tempfile


def main():
    args = sys.argv[1:]
    solver = args[:1] == ["--solver"]
    if solver:
        args = args[1:]
    if len(args) != 2:
        print("usage: prototxt_equal.py [--solver] A.prototxt B.prototxt", file=sys.stderr)
        return 2
    try:
        from google.protobuf import text_format
    except ImportError:
        print("python3 has no google.protobuf module: run `make test` (installs python3-protobuf)", file=sys.stderr)
        return 3
    protoc = shutil.which("protoc")
    if protoc is None:
        print("protoc not found: run `make test` (installs protobuf-compiler)", file=sys.stderr)
        return 3
    proto_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([protoc, "--python_out=" + tmp, "-I", proto_dir,
                        os.path.join(proto_dir, "caffe.proto")], check=True)
        sys.path.insert(0, tmp)
        import caffe_pb2  # generated above
        messages = []
        for path in args:
            m = caffe_pb2.SolverParameter() if solver else caffe_pb2.NetParameter()
            try:
                with open(path) as f:
                    text_format.Parse(f.read(), m)
            except (OSError, text_format.ParseError) as e:
                print("%s: does not parse: %s" % (path, e), file=sys.stderr)
                return 2
            messages.append(m)
        a, b = messages
        if a == b:
            return 0
        if not solver:
            for i in range(max(len(a.layer), len(b.layer))):
                la = a.layer[i] if i < len(a.layer) else None
                lb = b.layer[i] if i < len(b.layer) else None
                if la != lb:
                    print("layer #%d differs:\n--- %s\n%s--- %s\n%s" % (
                        i + 1, args[0], la, args[1], lb))
                    return 1
        print("--- %s\n%s--- %s\n%s" % (args[0], a, args[1], b))
        return 1


if __name__ == "__main__":
    sys.exit(main())
