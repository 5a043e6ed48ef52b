#!/usr/bin/env bash
# Nets written in Swift (NetSpec, examples/swift-dsl): swift-dsl-example prints each example net
# and solver; an independent parser (Python protobuf's text_format, Caffe's grammar) must read the
# text back equal to the prototxt twin; the printed CIFAR net runs under `sparknet-mpi time`; the
# define → train → export demo writes a .caffemodel the independent decoder reads. Then the
# misuse the DSL promises to reject at compile time is type-checked with swiftc against the built
# modules, beside a snippet that must compile (so a wrong setup cannot pass as "rejected").
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BUILD="$(dirname "$BIN")"
DSL="$BUILD/swift-dsl-example"
if [ ! -x "$DSL" ]; then   # e.g. a release sparknet-mpi built alone: build the example (debug)
  (cd "$REPO" && swift build --product swift-dsl-example >"$WORK/build.log" 2>&1) || { bad "build swift-dsl-example" "$(tail -5 "$WORK/build.log")"; finish; exit; }
  BUILD="$REPO/.build/debug"; DSL="$BUILD/swift-dsl-example"
fi

# --- each example net and solver, printed, equals its twin under Python's parser
while read -r name twin flag; do
  if "$DSL" "$name" $flag >"$name$flag.prototxt" 2>dsl.err &&
     "$PY" "$REPO/Tests/scripts/prototxt_equal.py" $flag "$name$flag.prototxt" "$REPO/$twin" >eq.out 2>&1; then
    ok "swift-dsl-example $name $flag: Python's text_format reads it equal to $twin"
  else
    bad "swift-dsl-example $name $flag equals $twin" "$(head -c 400 dsl.err)" "$(head -40 eq.out)"
  fi
done <<'EOF'
lenet examples/fashion-mnist/lenet_train_test.prototxt
cifar10-quick bench/nets/cifar10_quick_train.prototxt
resnet examples/fashion-mnist-resnet/resnet_train_test.prototxt
alexnet-deploy examples/deploy/alexnet_deploy.prototxt
googlenet-deploy examples/deploy/googlenet_deploy.prototxt
lenet examples/fashion-mnist/lenet_solver.prototxt --solver
resnet examples/fashion-mnist-resnet/resnet_solver.prototxt --solver
EOF

# --- the printed net runs under the CLI
run time-cifar time --model "$WORK/cifar10-quick.prototxt" --iterations 1
if [ "$RC" -eq 0 ] && grep -q "conv1" "$OUT" "$ERR"; then ok "sparknet-mpi time runs the printed CIFAR-10 quick"
else bad "sparknet-mpi time runs the printed CIFAR-10 quick" "exit $RC" "$(tail -3 "$ERR")"; fi

# --- a wrong name gives one error line and exit 1
"$DSL" lenett >dsl.out 2>dsl.err; rc=$?
if [ "$rc" -eq 1 ] && [ "$(wc -l <dsl.err)" -eq 1 ] && grep -q "^swift-dsl-example: error: unknown net 'lenett'" dsl.err; then
  ok "swift-dsl-example lenett: $(cat dsl.err)"
else bad "swift-dsl-example lenett: one error line, exit 1" "exit $rc" "$(head -c 300 dsl.err)"; fi

# --- define → train → export; the .caffemodel decodes independently
if "$DSL" demo "$WORK" 100 >demo.out 2>demo.err &&
   "$PY" "$REPO/Tests/scripts/decode_caffemodel.py" points.caffemodel >decoded.json 2>&1 &&
   "$PY" - decoded.json demo.out <<'PYEOF'
import json, re, sys
m = json.load(open(sys.argv[1]))
blobs = {l["name"]: [b["shape"] for b in l["blobs"]] for l in m["layers"]}
assert blobs["ip1"] == [[8, 2], [8]] and blobs["score"] == [[2, 8], [2]], blobs
out = open(sys.argv[2]).read()
before, after = [float(x) for x in re.findall(r"loss = ([0-9.e-]+)", out)]
assert after < 0.5 * before, out
PYEOF
then ok "swift-dsl-example demo: loss falls, points.caffemodel decodes with ip1 8x2 and score 2x8"
else bad "swift-dsl-example demo" "$(tail -3 demo.out)" "$(tail -3 demo.err)" "$(tail -5 decoded.json 2>/dev/null)"; fi

# --- compile-time checks: swiftc -typecheck against the built SparkNet module
typecheck() {  # typecheck FILE : leaves the compiler's output in FILE.log
  swiftc -typecheck -I "$BUILD/Modules" -Xcc -fmodule-map-file="$REPO/Sources/CBLAS/module.modulemap" \
    -Xcc -fmodule-map-file="$BUILD/CKernels.build/module.modulemap" "$1" >"$1.log" 2>&1
}
snippet() {  # snippet NAME BODY : a file importing SparkNet and CaffeProto with BODY
  printf 'import SparkNet\nimport CaffeProto\n%s\n' "$2" >"$1.swift"
}
snippet good 'let net = NetSpec("ok") {
    Input("data", shapes: ["data": [1, 1, 8, 8]])
    Convolution("conv1", bottom: "data", outputs: 2, kernel: 3, weightFiller: .xavier()).param(lr: 1)
    Pooling("pool1", .max, kernel: 2)
    ReLU("relu1")
}
let solver = SolverSpec(baseLR: 0.1, policy: .fixed).net(net)
print(net, solver)'
if typecheck good.swift; then ok "compile-time checks: the well-formed snippet compiles"
else bad "compile-time checks: the well-formed snippet compiles" "$(head -8 good.swift.log)"; fi

misuse() {  # misuse NAME EXPECTED BODY : BODY must not compile, with EXPECTED in the error
  snippet "$1" "$3"
  if typecheck "$1.swift"; then bad "compile error for $1" "it compiled"
  elif grep -q "error: .*$2" "$1.swift.log"; then ok "compile error for $1: $(grep -m1 -o "error: .*$2.*" "$1.swift.log")"
  else bad "compile error for $1 mentions '$2'" "$(grep -m3 error: "$1.swift.log")"; fi
}
misuse layer-without-name "missing argument for parameter #1" \
  'let n = NetSpec("n") { Convolution(outputs: 2, kernel: 3) }'
misuse missing-required-field "missing argument for parameter 'outputs'" \
  'let n = NetSpec("n") { InnerProduct("ip") }'
misuse filler-as-bottom "cannot convert value of type 'Caffe_FillerParameter' to expected argument type 'BlobRef'" \
  'let f = Caffe_FillerParameter.xavier()
let n = NetSpec("n") { ReLU("relu", bottom: f) }'
misuse layer-as-bottom "cannot convert value of type 'Convolution' to expected argument type 'BlobRef'" \
  'let conv = Convolution("conv", bottom: "data", outputs: 2, kernel: 3)
let n = NetSpec("n") { conv; Pooling("pool", .max, bottom: conv, kernel: 2) }'
misuse string-variable-as-bottom "cannot convert value of type 'String' to expected argument type 'BlobRef'" \
  'let name = "data"
let n = NetSpec("n") { ReLU("relu", bottom: name) }'
misuse blob-as-filler "cannot convert value of type 'String' to expected argument type 'Caffe_FillerParameter'" \
  'let n = NetSpec("n") { InnerProduct("ip", outputs: 2, weightFiller: "data") }'
misuse non-layer-in-net "NetSpecComponent" \
  'let n = NetSpec("n") { Caffe_FillerParameter.xavier() }'
misuse solver-without-policy "missing argument for parameter 'policy'" \
  'let s = SolverSpec(baseLR: 0.1)'

finish
