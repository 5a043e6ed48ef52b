#!/usr/bin/env bash
# One error, once (issue 10 item 6): under mpirun, `time` and `test` with bad input and
# command-line usage errors print ONE message, and every rank exits non-zero, without MPI_Abort.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v mpirun >/dev/null || { bad "mpirun" "not installed"; finish; exit; }

make_h5 train.h5 40
make_h5 test.h5 40
echo "$WORK/train.h5" >train.txt
echo "$WORK/test.h5" >test.txt
tiny_net net.prototxt "$WORK/train.txt" "$WORK/test.txt"
tiny_solver solver.prototxt net.prototxt
make_caffemodel good.caffemodel "conv1:4x1x3x3,4;ip1:10x144,10"
make_caffemodel wrong_shape.caffemodel "conv1:4x1x3x3,4;ip1:10x100,10"
sed 's/num_output: 4/num_output: four/' net.prototxt >syntax.prototxt
sed 's/num_output: 4/num_output: 4 num_output: 5/' net.prototxt >twice.prototxt
make_h5 badlabel.h5 40 badlabel
echo "$WORK/badlabel.h5" >badlabel.txt
tiny_net badlabel.prototxt "$WORK/train.txt" "$WORK/badlabel.txt"
cp "$REPO/Tests/fuzz/crashers/hdf5/crash-160dd47cad2b6cac49eb902afba200c4bc7ee93d" fault.h5
echo "$WORK/fault.h5" >fault.txt
tiny_net fault.prototxt "$WORK/fault.txt" "$WORK/test.txt"

# --- bad input to `time` and `test`, the same on every rank: exit 1, rank 0 prints
once time_missing_model 1 "nope.prototxt" time --model nope.prototxt
once time_syntax_error 1 "syntax.prototxt:7:" time --model syntax.prototxt --iterations 1
once time_field_twice 1 "twice.prototxt:7:37: non-repeated field" time --model twice.prototxt --iterations 1
grep -q "non-repeated field 'num_output' of ConvolutionParameter" "$ERR" &&
  ok "field given twice: the message names the field and its message type" ||
  bad "field given twice: the message names the field" "$(cat "$ERR")"
# inspect and convert-idx run on rank 0 alone; the others learn its outcome
once inspect_missing 1 "nope.caffemodel: file not found" inspect nope.caffemodel
printf 'not a model' >junk.caffemodel
once inspect_corrupt 1 "junk.caffemodel: not a valid .caffemodel" inspect junk.caffemodel
once convert_idx_missing 1 "nope-images" convert-idx --images nope-images --labels nope-labels --output out.h5
once test_missing_model 1 "nope.prototxt" test --model nope.prototxt --weights good.caffemodel
once test_missing_weights 1 "nope.caffemodel" test --model net.prototxt --weights nope.caffemodel
once test_wrong_weights 1 "ip1" test --model net.prototxt --weights wrong_shape.caffemodel --iterations 2
# Row 20 of 40 has label 12: only rank 1's shard holds it.
once test_label_out_of_range 1 "rank 1: " test --model badlabel.prototxt --weights good.caffemodel --iterations 4
# libhdf5 faults (SIGFPE) opening a dataset of this file on every rank, inside the collective open
once time_h5_library_fault 1 "fault.h5' is corrupt: the HDF5 library faulted" time --model fault.prototxt --iterations 1

# --- usage errors: ArgumentParser's message once, exit 64 on every rank
once usage_unknown_flag 64 "--frob" test --model net.prototxt --weights good.caffemodel --frob
once usage_missing_solver 64 "--solver" train
once usage_bad_value 64 "'foo'" train --solver solver.prototxt --sync foo
once usage_invalid 64 "--tau must be positive" train --solver solver.prototxt --tau 0
once usage_bucket 64 "--bucket-mb must be 0 (no overlap) or positive" train --solver solver.prototxt --sync gradient --bucket-mb -1
once usage_both 64 "not both" train --solver solver.prototxt --weights a --snapshot b

# --- without the wrapper, mpirun itself: non-zero, one message
mpi usage_mpirun 2 train --frob
n=$(grep -c '^Error: ' "$ERR")
[ "$RC" -ne 0 ] && [ "$n" -eq 1 ] && ok "usage error under plain mpirun: exit $RC, one message" ||
  bad "usage error under plain mpirun" "rc $RC, $n messages" "$(head -c 600 "$ERR")"
mpi time_mpirun 2 time --model nope.prototxt
n=$(grep -c '^sparknet-mpi: error: ' "$ERR")
[ "$RC" -ne 0 ] && [ "$n" -eq 1 ] && ! grep -q MPI_ABORT "$ERR" && ok "bad model under plain mpirun: exit $RC, one message" ||
  bad "bad model under plain mpirun" "rc $RC, $n messages" "$(head -c 600 "$ERR")"

# --- only rank 1 has a bad flag: it alone prints, naming itself. Rank 0, running `time` on a
# deploy net (no collective reads), learns of it at its first checkpoint and exits 1; on an
# HDF5Data net rank 0 waits in the collective open that rank 1 never joins, so rank 1 gives up
# after 15 s and ends the job (MPI_Abort).
cat >deploy.prototxt <<'NET'
name: "Deploy"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 1 dim: 8 dim: 8 } } }
layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1" inner_product_param { num_output: 3 } }
NET
cat >one_bad.sh <<EOF
#!/usr/bin/env bash
[ "\$OMPI_COMM_WORLD_RANK" = 1 ] && set -- "\$@" --iterations 0
exec "$BIN" "\$@"
EOF
chmod +x one_bad.sh
for net in deploy net; do
  BIN="$WORK/one_bad.sh" CODES=1 mpi "usage_one_rank_$net" 2 time --model $net.prototxt --iterations 1
  codes=$(rank_codes "usage_one_rank_$net")
  n=$(grep -cE '^(rank 1: Error: |Error: |sparknet-mpi: error: )' "$ERR")
  want="1 64 "; [ $net = net ] && want="64 "
  [ "$n" -eq 1 ] && grep -q '^rank 1: Error: .*iterations must be positive' "$ERR" && [ "$codes" = "$want" ] && [ "$SECS" -lt 60 ] &&
    ok "a usage error on rank 1 only ($net.prototxt): one message naming rank 1, exit codes $codes(${SECS}s)" ||
    bad "a usage error on rank 1 only ($net.prototxt)" "$n messages, codes '$codes', expected '$want'" "$(head -c 800 "$ERR")"
done

# --- help: printed once, exit 0
CODES=1 mpi help 2 train --help
n=$(grep -c '^OVERVIEW: ' "$OUT")
[ "$n" -eq 1 ] && [ "$(rank_codes help)" = "0 0 " ] && ok "train --help under 2 ranks: printed once, exit 0" ||
  bad "train --help under 2 ranks" "$n copies, codes '$(rank_codes help)'"
finish
