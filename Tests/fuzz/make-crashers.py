# Hand-made regression inputs for the fuzz targets (Tests/fuzz/crashers/<target>/), each a bad
# file that once crashed a reader or could reach an allocation of its claimed size. Run with
# Debian's python3 and caffe_pb2 on PYTHONPATH (see make-corpus.sh); libFuzzer's own finds are
# copied in beside them as crash-<sha1>.
import sys, caffe_pb2, h5py, numpy as np
c = sys.argv[1]

def varint(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)

def field(number, payload):  # a length-delimited field
    return varint((number << 3) | 2) + varint(len(payload)) + payload

# BlobProto.data (5, packed float) claiming 10^12 floats, with 16 bytes present; and the same
# claim as the length of the layer and of the blob themselves.
blob = varint((5 << 3) | 2) + varint(4 * 10**12) + b"\0" * 16
open(f"{c}/caffemodel/packed_data_claims_1e12_floats", "wb").write(field(100, field(1, b"ip") + field(7, blob)))
open(f"{c}/caffemodel/layer_length_claims_4e12_bytes", "wb").write(varint((100 << 3) | 2) + varint(4 * 10**12) + field(1, b"ip"))

def model(*dims, legacy=False):
    net = caffe_pb2.NetParameter(name="Fuzz")
    l = net.layer.add(name="ip", type="InnerProduct")
    b = l.blobs.add()
    if legacy:
        b.num, b.channels, b.height, b.width = dims
    else:
        b.shape.dim.extend(dims)
    return net.SerializeToString()

# Shapes whose product overflows Int64, is negative, or is 10^12 with no values.
open(f"{c}/caffemodel/shape_product_overflows", "wb").write(model(2**40, 2**40))
open(f"{c}/caffemodel/shape_negative_axis", "wb").write(model(-3, 4))
open(f"{c}/caffemodel/shape_1e12_no_values", "wb").write(model(10**6, 10**6))
open(f"{c}/caffemodel/legacy_dims_overflow", "wb").write(model(2**31 - 1, 2**31 - 1, 2**31 - 1, 2**31 - 1, legacy=True))

# A state whose current_step is negative (indexed stepvalue[-1] at the first step).
st = caffe_pb2.SolverState(iter=3, current_step=-1)
for dims in ([2, 1, 3, 3], [2], [3, 8], [3]):
    b = st.history.add(); b.shape.dim.extend(dims); b.data.extend([0.0] * int(np.prod(dims)))
open(f"{c}/solverstate/negative_current_step", "wb").write(st.SerializeToString())
st.current_step, st.iter = 0, -5
open(f"{c}/solverstate/negative_iter", "wb").write(st.SerializeToString())
st.iter = 1
st.history[2].shape.dim[:] = [2**40, 2**40]
open(f"{c}/solverstate/history_shape_overflows", "wb").write(st.SerializeToString())
open(f"{c}/solverstate/history_claims_1e12_floats", "wb").write(field(3, field(5, b"") [:-1] + varint(4 * 10**12) + b"\0" * 8))

# HDF5 datasets whose dims are absurd (chunked, never written: the file stays small).
with h5py.File(f"{c}/hdf5/dims_1e9_by_1e9", "w") as f:
    f.create_dataset("data", shape=(10**9, 10**9), dtype="f4", chunks=(1, 1024))
    f.create_dataset("label", shape=(10**9,), dtype="f4", chunks=(1024,))
with h5py.File(f"{c}/hdf5/rows_1e12", "w") as f:
    f.create_dataset("data", shape=(10**12, 1), dtype="f4", chunks=(1024, 1))
    f.create_dataset("label", shape=(10**12,), dtype="f4", chunks=(1024,))
with h5py.File(f"{c}/hdf5/dims_2e18", "w") as f:
    f.create_dataset("data", shape=(2 * 10**18, 4), dtype="f4", chunks=(1, 4))
    f.create_dataset("label", shape=(2 * 10**18,), dtype="f4", chunks=(1,))
# No rows, and samples of 2^31 values: over a blob's INT_MAX, though the dataset holds nothing.
with h5py.File(f"{c}/hdf5/sample_2e31_values", "w") as f:
    f.create_dataset("data", shape=(0, 2, 2**30), dtype="f4", chunks=(1, 1, 1024), maxshape=(None, 2, 2**30))
    f.create_dataset("label", shape=(0,), dtype="f4", chunks=(1,), maxshape=(None,))
# Under the machine's memory, but never written: 8 GB of fill values from a 1.6 KB file.
with h5py.File(f"{c}/hdf5/never_written_8gb", "w") as f:
    f.create_dataset("data", shape=(2000, 1000, 1000), dtype="f4", chunks=(1, 100, 100))
    f.create_dataset("label", shape=(2000,), dtype="f4")
