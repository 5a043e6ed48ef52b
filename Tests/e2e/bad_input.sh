#!/usr/bin/env bash
# Bad input: each case must end with exit code 1, ONE line on stderr naming the culprit, no
# crash trace, no hang, and no temporary file left behind (issue 2, "Bad input").
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

make_h5 train.h5 40
make_h5 test.h5 40
echo "train.h5" >train.txt
echo "test.h5" >test.txt
tiny_net net.prototxt train.txt test.txt
tiny_solver solver.prototxt net.prototxt

# --- missing files
expect_error missing_solver "nope_solver.prototxt" train --solver nope_solver.prototxt
expect_error missing_net "nope_net.prototxt" time --model nope_net.prototxt
tiny_solver solver_nonet.prototxt missing_net.prototxt
expect_error solver_names_missing_net "missing_net.prototxt" train --solver solver_nonet.prototxt
expect_error test_missing_weights "nope.caffemodel" test --model net.prototxt --weights nope.caffemodel

# --- prototxt syntax error (a number where a word belongs, an unclosed brace)
sed 's/num_output: 4/num_output: four/' net.prototxt >syntax.prototxt
expect_error syntax_error "syntax.prototxt:7:|four" time --model syntax.prototxt
printf 'name: "x"\nlayer { name: "a" type: "Input" top: "a"\n' >unclosed.prototxt
expect_error unclosed_brace "unclosed.prototxt|line 2" time --model unclosed.prototxt
sed 's/num_output: 4/num_output: 4 num_output: 6/' net.prototxt >twice.prototxt
expect_error field_given_twice "twice.prototxt:7:37|non-repeated field 'num_output'|line 7, column 23" time --model twice.prototxt
printf 'name: "x"\nlayer { name: "d" type: "Input" top: "d" input_param { shape { dim: 100000 dim: 100000 dim: 100000 } } }\n' >huge_input.prototxt
expect_error huge_input "input_param.shape|INT_MAX" time --model huge_input.prototxt
# Sizes that come from layer parameters are checked before anything is allocated, as Caffe's
# Blob::Reshape checks them: a weight blob, then a top blob, over INT_MAX values.
printf 'name: "x"\nlayer { name: "d" type: "Input" top: "d" input_param { shape { dim: 2 dim: 3 } } }\nlayer { name: "ip" type: "InnerProduct" bottom: "d" top: "ip" inner_product_param { num_output: 2000000000 } }\n' >huge_ip.prototxt
expect_error huge_layer_param "layer 'ip' (InnerProduct)|[2000000000, 3]|INT_MAX" time --model huge_ip.prototxt
printf 'name: "x"\nlayer { name: "d" type: "Input" top: "d" input_param { shape { dim: 64 dim: 1 dim: 100 dim: 100 } } }\nlayer { name: "c" type: "Convolution" bottom: "d" top: "c" convolution_param { num_output: 1000000 kernel_size: 1 } }\n' >huge_top.prototxt
expect_error huge_layer_top "layer 'c' (Convolution)|[64, 1000000, 100, 100]|INT_MAX" time --model huge_top.prototxt
printf 'net: "net.prototxt"\nbase_lr: 0.1\nmax_iter: 10\nbase_lr: 0.2\n' >twice_solver.prototxt
expect_error solver_field_given_twice "twice_solver.prototxt:4:1|'base_lr'" train --solver twice_solver.prototxt
printf 'net: "net.prototxt"\nbase_lr: 0.1\nmax_itr: 10\n' >bad_solver.prototxt
expect_error solver_unknown_field "bad_solver.prototxt|max_itr" train --solver bad_solver.prototxt

# --- unknown layer type
sed 's/type: "ReLU"/type: "Frobnicate"/' net.prototxt >unknown.prototxt
expect_error unknown_layer_type "relu1|Frobnicate" time --model unknown.prototxt

# --- a bottom no layer produces
sed 's/bottom: "conv1" top: "ip1"/bottom: "ghost" top: "ip1"/' net.prototxt >ghost.prototxt
expect_error bottom_not_produced "ghost" time --model ghost.prototxt

# --- HDF5 data problems
printf 'train.h5\nmissing.h5\n' >missing_list.txt
tiny_net missing_h5.prototxt missing_list.txt test.txt
expect_error missing_h5_in_list "missing.h5|missing_list.txt" time --model missing_h5.prototxt
tiny_net missing_list.prototxt no_such_list.txt test.txt
expect_error missing_source_list "no_such_list.txt" time --model missing_list.prototxt

make_h5 nolabel.h5 40 nolabel
echo nolabel.h5 >nolabel.txt
tiny_net nolabel.prototxt nolabel.txt test.txt
expect_error h5_without_dataset "nolabel.h5|label" time --model nolabel.prototxt

make_h5 mismatch.h5 40 mismatch
echo mismatch.h5 >mismatch.txt
tiny_net mismatch.prototxt mismatch.txt test.txt
expect_error h5_row_count_mismatch "mismatch.h5" time --model mismatch.prototxt

make_h5 flat.h5 40 flat
echo flat.h5 >flat.txt
tiny_net flat.prototxt flat.txt test.txt
expect_error h5_wrong_rank "conv1" time --model flat.prototxt

echo "not an hdf5 file" >text.h5
echo text.h5 >text.txt
tiny_net text.prototxt text.txt test.txt
expect_error h5_not_hdf5 "text.h5" time --model text.prototxt

# A file whose chunk layout makes libhdf5 1.10 divide by zero inside H5Dopen2 (libFuzzer's
# find): the fault is contained and reported as one error naming the file.
cp "$REPO/Tests/fuzz/crashers/hdf5/crash-160dd47cad2b6cac49eb902afba200c4bc7ee93d" fault.h5
echo fault.h5 >fault.txt
tiny_net fault.prototxt fault.txt test.txt
expect_error h5_library_fault "fault.h5' is corrupt: the HDF5 library faulted (SIGFPE)" time --model fault.prototxt
expect_error h5_library_fault_inspect "fault.h5' is corrupt" inspect fault.h5

# --- labels outside [0, num_output)
make_h5 badlabel.h5 40 badlabel
echo badlabel.h5 >badlabel.txt
tiny_net badlabel.prototxt badlabel.txt test.txt 10
tiny_solver badlabel_solver.prototxt badlabel.prototxt
expect_error label_out_of_range "12" train --solver badlabel_solver.prototxt

# --- weights that do not fit the net (ip1 is 10×144 in the net)
make_caffemodel wrong_shape.caffemodel "conv1:4x1x3x3,4;ip1:10x100,10"
expect_error weights_shape_mismatch "ip1" test --model net.prototxt --weights wrong_shape.caffemodel --iterations 1
expect_error train_weights_shape_mismatch "ip1" train --solver solver.prototxt --weights wrong_shape.caffemodel

# --- truncated and corrupt .caffemodel
make_caffemodel good.caffemodel "conv1:4x1x3x3,4;ip1:10x144,10"
head -c $(( $(stat -c %s good.caffemodel) / 2 )) good.caffemodel >truncated.caffemodel
expect_error truncated_caffemodel "truncated.caffemodel" test --model net.prototxt --weights truncated.caffemodel --iterations 1
expect_error inspect_truncated "truncated.caffemodel" inspect truncated.caffemodel
head -c 3000 /dev/urandom >corrupt.caffemodel
expect_error corrupt_caffemodel "corrupt.caffemodel" train --solver solver.prototxt --weights corrupt.caffemodel
expect_error missing_snapshot "nope.solverstate" train --solver solver.prototxt --snapshot nope.solverstate
cp corrupt.caffemodel corrupt.solverstate
expect_error corrupt_solverstate "corrupt.solverstate" train --solver solver.prototxt --snapshot corrupt.solverstate

# --- the loss becomes NaN: lr jumps to 5e28 at iteration 6 (after snapshots at 2, 4 and 6)
tiny_solver nan_solver.prototxt net.prototxt 'snapshot: 2
stepsize: 6
gamma: 1e30'
sed -i 's/lr_policy: "fixed"/lr_policy: "step"/' nan_solver.prototxt
rm -rf "$WORK/snap"; mkdir -p "$WORK/snap"
expect_error nan_loss "teration" train --solver nan_solver.prototxt
if grep -qE "NaN|nan|Inf|inf" "$ERR"; then ok "nan_loss message says NaN or Inf"; else bad "nan_loss message says NaN or Inf" "$(cat "$ERR")"; fi
models=$(ls "$WORK"/snap/*.caffemodel 2>/dev/null)
if [ -n "$models" ]; then
  good=1
  for m in $models; do
    "$BIN" inspect "$m" >inspect.out 2>&1 || good=0
    grep -qiE "nan|inf" inspect.out && good=0
  done
  if [ $good -eq 1 ]; then ok "nan_loss keeps finite snapshots: $(basename -a $models | tr '\n' ' ')"
  else bad "nan_loss keeps finite snapshots" "$(cat inspect.out | head -5)"; fi
else
  bad "nan_loss keeps the last good snapshot" "no .caffemodel in $WORK/snap"
fi

finish
