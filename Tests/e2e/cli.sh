#!/usr/bin/env bash
# The command line end to end: convert-idx, train, test, inspect, time, resume, on tiny data.
# Files the binary writes are checked with independent readers (h5py, Python protobuf).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

check() {  # check NAME COMMAND... : passes when the command succeeds
  local name=$1; shift
  if "$@" >check.out 2>&1; then ok "$name"; else bad "$name" "$(tail -5 check.out)"; fi
}

# --- help: ArgumentParser's usage text on stdout, exit 0, nothing on stderr
for args in "--help" "time --help" "help train" ""; do
  # shellcheck disable=SC2086  # the words of $args are the arguments
  run help $args
  if [ "$RC" -eq 0 ] && grep -q "^USAGE: sparknet-mpi" "$OUT" && [ ! -s "$ERR" ]; then
    ok "sparknet-mpi ${args:-(no arguments)}: usage, exit 0"
  else
    bad "sparknet-mpi ${args:-(no arguments)}: usage, exit 0" "exit $RC" "stdout: $(head -c 300 "$OUT")" \
      "stderr: $(head -c 300 "$ERR")"
  fi
done
run help --help
check "help lists every verb" bash -c 'for v in train test time convert-idx convert-imageset compute-image-mean inspect bench-exchange; do grep -q "^  $v " "$0" || exit 1; done' "$OUT"

# --- convert-idx: gzipped IDX files written here; the HDF5 output compared with h5py
"$PY" - <<'PYEOF'
import gzip, struct, numpy as np
rng = np.random.default_rng(3)
img = rng.integers(0, 256, size=(30, 8, 8), dtype=np.uint8)
lab = (np.arange(30) % 10).astype(np.uint8)
with gzip.open("img.idx3-ubyte.gz", "wb") as f: f.write(struct.pack(">IIII", 2051, 30, 8, 8) + img.tobytes())
with open("lab.idx1-ubyte", "wb") as f: f.write(struct.pack(">II", 2049, 30) + lab.tobytes())
np.save("img.npy", img); np.save("lab.npy", lab)
PYEOF
run convert convert-idx --images img.idx3-ubyte.gz --labels lab.idx1-ubyte --output conv.h5 --scale 0.5
check "convert-idx exits 0" test "$RC" -eq 0
check "convert-idx output matches the IDX input (h5py)" "$PY" -c '
import h5py, numpy as np
f = h5py.File("conv.h5", "r")
img, lab = np.load("img.npy"), np.load("lab.npy")
assert f["data"].shape == (30, 1, 8, 8) and f["data"].dtype == np.float32, f["data"].shape
assert f["label"].shape == (30,) and f["label"].dtype == np.float32
assert np.array_equal(f["data"][:], img.reshape(30, 1, 8, 8).astype(np.float32) * 0.5)
assert np.array_equal(f["label"][:], lab.astype(np.float32))'
check "convert-idx leaves no temporary file" test -z "$(ls | grep -F .tmp)"

# --- train a tiny net, snapshot at 10 and 20
make_h5 train.h5 80
make_h5 test.h5 40
echo train.h5 >train.txt
echo test.h5 >test.txt
tiny_net net.prototxt train.txt test.txt
tiny_solver solver.prototxt net.prototxt 'snapshot: 10'
run train train --solver solver.prototxt
check "train exits 0" test "$RC" -eq 0
check "train logs loss, lr and test outputs in Caffe's format" bash -c "
  grep -qE 'Iteration 10 .*loss = [0-9.e+-]+' '$OUT' &&
  grep -qE 'Iteration 10, lr = [0-9.e+-]+' '$OUT' &&
  grep -qE 'Iteration 20, Testing net \(#0\)' '$OUT' &&
  grep -qE 'Test net output #0: accuracy = [0-9.e+-]+' '$OUT'"
check "train lines carry glog's prefix (parse_log.py reads the time from it)" "$PY" -c "
import re, sys
lines = [l for l in open('$OUT') if 'Iteration' in l]
assert lines
for l in lines:
    w = l.strip().split()
    month, day = int(w[0][1:3]), int(w[0][3:5])
    t = w[1]; pos = t.rfind('.')
    h, m, s = [int(x) for x in t[:pos].split(':')]; us = int(t[pos + 1:])
    assert 1 <= month <= 12 and 1 <= day <= 31 and 0 <= us < 10**6, l"
check "train ends with the final accuracy and the model path" bash -c "
  grep -qE 'Final test accuracy = [0-9.]+ \(iteration 20\)' '$OUT' &&
  grep -qF 'Wrote $WORK/snap/tiny_iter_20.caffemodel' '$OUT'"
check "train logs nothing on stderr" test ! -s "$ERR"
check "train learned the tiny task (final accuracy > 0.5)" "$PY" -c "
import re
v = float(re.findall(r'Final test accuracy = ([0-9.]+)', open('$OUT').read())[-1])
assert v > 0.5, v"

# --- the .caffemodel, decoded by Python protobuf from proto/caffe.proto (not our reader)
make_pb2
check "caffemodel decodes in Python with the right layers and shapes" env PYTHONPATH="$WORK/py" "$PY" -c "
import caffe_pb2
net = caffe_pb2.NetParameter()
net.ParseFromString(open('$WORK/snap/tiny_iter_20.caffemodel', 'rb').read())
shapes = {l.name: [list(b.shape.dim) for b in l.blobs] for l in net.layer if l.blobs}
assert shapes == {'conv1': [[4, 1, 3, 3], [4]], 'ip1': [[10, 144], [10]]}, shapes
assert all(len(b.data) == eval('*'.join(map(str, b.shape.dim))) for l in net.layer for b in l.blobs)
st = caffe_pb2.SolverState()
st.ParseFromString(open('$WORK/snap/tiny_iter_20.solverstate', 'rb').read())
assert st.iter == 20 and st.learned_net.endswith('tiny_iter_20.caffemodel'), (st.iter, st.learned_net)
assert [list(h.shape.dim) for h in st.history] == [[4, 1, 3, 3], [4], [10, 144], [10]]"

# --- test reproduces train's final accuracy (4 batches of 10 = the 40 test samples)
train_acc=$(grep -oE 'Final test accuracy = [0-9.e+-]+' "$OUT" | tail -1 | awk '{print $NF}')
run test test --model net.prototxt --weights "$WORK/snap/tiny_iter_20.caffemodel" --iterations 4
check "test exits 0" test "$RC" -eq 0
check "test prints each batch, then the means" bash -c "
  grep -qE 'Batch 0, accuracy = ' '$OUT' && grep -qE 'Batch 3, loss = ' '$OUT' &&
  grep -qE '\] accuracy = [0-9.]+$' '$OUT' && grep -qE '\] loss = [0-9.e+-]+ \(\* 1 = [0-9.e+-]+ loss\)' '$OUT'"
test_acc=$(grep -oE '\] accuracy = [0-9.e+-]+$' "$OUT" | tail -1 | awk '{print $NF}')
check "test reproduces train's accuracy ($train_acc vs $test_acc)" test "$train_acc" = "$test_acc"

# --- inspect
run inspect_model inspect "$WORK/snap/tiny_iter_20.caffemodel"
check "inspect shows layers, shapes and norms" bash -c "
  grep -qE \"layer 'conv1' \(Convolution\)\" '$OUT' && grep -qE 'blob 0: 10 144 \(1440\)  L2 = [0-9.]+' '$OUT' &&
  grep -qE 'total: 1490 parameters in 4 blobs' '$OUT'"
run inspect_state inspect "$WORK/snap/tiny_iter_20.solverstate"
check "inspect shows a solver state" bash -c "grep -q 'iter: 20' '$OUT' && grep -qE 'history 2: 10 144' '$OUT'"
run inspect_h5 inspect conv.h5
check "inspect shows HDF5 datasets" bash -c "grep -qE 'data: 30 1 8 8 \(1920\)' '$OUT'"

# --- resume from iteration 10 ends bit-identical to the uninterrupted run
mkdir -p resumed
sed "s#$WORK/snap/tiny#$WORK/resumed/tiny#" solver.prototxt >resume_solver.prototxt
run resume train --solver resume_solver.prototxt --snapshot "$WORK/snap/tiny_iter_10.solverstate"
check "resume exits 0" test "$RC" -eq 0
check "resumed weights are bit-identical to the uninterrupted run" env PYTHONPATH="$WORK/py" "$PY" -c "
import caffe_pb2
def blobs(p):
    n = caffe_pb2.NetParameter(); n.ParseFromString(open(p, 'rb').read())
    return [(l.name, list(b.data)) for l in n.layer for b in l.blobs]
import struct
a, b = blobs('$WORK/snap/tiny_iter_20.caffemodel'), blobs('$WORK/resumed/tiny_iter_20.caffemodel')
pack = lambda bl: [(n, struct.pack('%df' % len(d), *d)) for n, d in bl]
assert pack(a) == pack(b), 'weights differ'"

# --- fine-tune from a model
sed "s#$WORK/snap/tiny#$WORK/resumed/ft#" solver.prototxt >ft_solver.prototxt
run finetune train --solver ft_solver.prototxt --weights "$WORK/snap/tiny_iter_20.caffemodel"
check "train --weights fine-tunes (exit 0, logs Finetuning)" bash -c "[ $RC -eq 0 ] && grep -q 'Finetuning from' '$OUT'"

# --- time on every example net, and on an HDF5Data net
for net in lenet alexnet googlenet resnet; do
  run "time_$net" time --model "$REPO/examples/deploy/${net}_deploy.prototxt" --iterations 1
  check "time $net" bash -c "[ $RC -eq 0 ] && grep -qE 'Average Forward-Backward: [0-9.e+-]+ ms\.' '$OUT' &&
    grep -qE 'conv[0-9a-z_/]*	forward: [0-9.e+-]+ ms\.' '$OUT' && grep -qE 'backward: [0-9.e+-]+ ms\.' '$OUT' && [ ! -s '$ERR' ]"
done
run time_hdf5 time --model net.prototxt --iterations 2
check "time on an HDF5Data net" bash -c "[ $RC -eq 0 ] && grep -q 'Total Time' '$OUT'"

# --- SPARKNET_CPU forces a lower kernel path (every path this CPU runs); a bad value is one error
for path in avx512 avx2 portable; do
  SPARKNET_CPU=$path run "time_cpu_$path" time --model "$REPO/examples/deploy/resnet_deploy.prototxt" --iterations 1
  check "SPARKNET_CPU=$path: time runs" bash -c "[ $RC -eq 0 ] && grep -q 'Total Time' '$OUT' && [ ! -s '$ERR' ]"
done
check "the avx512 and avx2 paths give the same initial loss, bit for bit" bash -c "
  [ -n \"\$(grep -o 'Initial loss: .*' '$WORK/time_cpu_avx2.out')\" ] &&
  [ \"\$(grep -o 'Initial loss: .*' '$WORK/time_cpu_avx512.out')\" = \"\$(grep -o 'Initial loss: .*' '$WORK/time_cpu_avx2.out')\" ]"
SPARKNET_CPU=avx1 run cpu_bad time --model net.prototxt --iterations 1
check "SPARKNET_CPU=avx1: one error naming the variable, exit 64" bash -c "
  [ $RC -eq 64 ] && [ \$(wc -l <'$ERR') -eq 1 ] && grep -q \"SPARKNET_CPU='avx1'\" '$ERR'"
SPARKNET_WINOGRAD=off run winograd_bad time --model net.prototxt --iterations 1
check "SPARKNET_WINOGRAD=off: one error naming the variable, exit 64" bash -c "
  [ $RC -eq 64 ] && [ \$(wc -l <'$ERR') -eq 1 ] && grep -q \"SPARKNET_WINOGRAD='off'\" '$ERR'"
SPARKNET_WINOGRAD=0 run winograd_off time --model net.prototxt --iterations 1
check "SPARKNET_WINOGRAD=0: time runs" bash -c "[ $RC -eq 0 ] && grep -q 'Total Time' '$OUT' && [ ! -s '$ERR' ]"

# --- parallel HDF5 under mpirun: two ranks open the source collectively
if command -v mpirun >/dev/null; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_plm_rsh_agent=false
  timeout 120 mpirun --oversubscribe -np 2 "$BIN" time --model net.prototxt --iterations 1 >mpi.out 2>mpi.err
  rc=$?
  check "time under mpirun -np 2 (collective HDF5 reads)" bash -c "[ $rc -eq 0 ] && [ \$(grep -c 'Total Time' mpi.out) -eq 1 ]"
  timeout 120 mpirun --oversubscribe -np 2 "$BIN" bench-exchange --model net.prototxt --repeats 3 --link-rate 10gbit >bench.out 2>bench.err
  rc=$?
  # The tiny net's weights: conv1 4x1x3x3 + 4, ip1 10x144 + 10 = 1490 floats.
  check "bench-exchange under mpirun -np 2: the net's 1490 floats, one row per mode, printed once" bash -c "
    [ $rc -eq 0 ] && grep -q '1490 floats (0.01 MB), 2 ranks on 1 node' bench.out &&
    [ \$(grep -cE '^(average|master|gradient|easgd) +5960 ' bench.out) -eq 4 ] && [ ! -s bench.err ]"
fi
run bench_one bench-exchange --model net.prototxt
check "bench-exchange on one rank says there is nothing to exchange" bash -c "[ $RC -eq 0 ] && grep -q 'one rank exchanges nothing' '$OUT'"

finish
