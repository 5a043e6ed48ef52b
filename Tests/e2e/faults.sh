#!/usr/bin/env bash
# Operations under faults (docs/reliability.md): stop signals on one rank or on mpirun end every
# rank at one iteration with one complete snapshot set and exit 75, and `--snapshot auto`
# resumes it bit for bit (async-easgd on K > 1 and --round-seconds: resumes and finishes,
# timing-dependent); SIGUSR2 snapshots and goes on; `--snapshot auto` starts fresh, skips
# incomplete sets, refuses another K unless --reshard; `--keep-snapshots`; a stalled rank
# (sleep, SIGSTOP) ends the job within the --stall-timeout, named. Tests/e2e/mpi_tcp.sh runs it
# again over TCP (OMPI_MCA_btl=self,tcp).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_plm_rsh_agent=false
command -v mpirun >/dev/null || { bad "mpirun" "not installed"; finish; exit; }
MPIRUN=(mpirun --oversubscribe -x OPENBLAS_NUM_THREADS=1)

make_h5 train.h5 80
make_h5 test.h5 40
echo "$WORK/train.h5" >train.txt
echo "$WORK/test.h5" >test.txt
tiny_net net.prototxt "$WORK/train.txt" "$WORK/test.txt"
# solver NAME MAX_ITER [EXTRA]: snapshots under $WORK/NAME/, few logs and tests.
solver() {
  mkdir -p "$WORK/$1"
  tiny_solver "$1.prototxt" net.prototxt "${3:-}"
  sed -i "s#snapshot_prefix: .*#snapshot_prefix: \"$WORK/$1/tiny\"#; s#max_iter: .*#max_iter: $2#;
          s#display: .*#display: 500#; s#test_interval: .*#test_interval: 5000#" "$1.prototxt"
}
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name" "stdout: $(tail -c 600 "$OUT")" "stderr: $(head -c 800 "$ERR")"; fi; }
# launch NAME NP ARGS... : the binary alone (NP=1) or under mpirun, in the background: $PID.
launch() {
  local name=$1 np=$2; shift 2
  OUT="$WORK/$name.out"; ERR="$WORK/$name.err"
  if [ "$np" = 1 ]; then
    "$BIN" "$@" >"$OUT" 2>"$ERR" </dev/null &
  else
    "${MPIRUN[@]}" -np "$np" "$BIN" "$@" >"$OUT" 2>"$ERR" </dev/null &
  fi
  PID=$!
}
# finish_bg: waits for $PID (at most 120 s): $RC, and $SECS since $T0.
finish_bg() {
  local i
  for i in $(seq 1 1200); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$PID" 2>/dev/null && { kill -KILL "$PID"; pkill -KILL -P "$PID"; }
  wait "$PID"; RC=$?
  SECS=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
}
# running_past ITER: waits until the log shows iteration ITER (training is under way).
running_past() {
  local i
  for i in $(seq 1 600); do grep -q "Iteration $1 (" "$OUT" 2>/dev/null && return 0; sleep 0.05; done
  return 1
}
# stopped_iter: the iteration the run stopped at (its log).
stopped_iter() { sed -nE 's/.*Stopped at iteration ([0-9]+) on .*/\1/p' "$OUT" | head -1; }
# complete_set DIR ITER K: a manifest of K ranks whose every file has its size and CRC-32 (checked in Python).
complete_set() {
  local m="$1/tiny_iter_$2.manifest.json"
  [ -f "$m" ] && "$PY" - "$m" "$3" <<'PY'
import json, os, sys, zlib
m = json.load(open(sys.argv[1])); d = os.path.dirname(sys.argv[1])
assert m["ranks"] == int(sys.argv[2]), m["ranks"]
names = [f["name"] for f in m["files"]]
assert m["state"] in names and any(n.endswith(".caffemodel") for n in names), names
for f in m["files"]:
    data = open(os.path.join(d, f["name"]), "rb").read()
    assert len(data) == f["bytes"] and zlib.crc32(data) == f["crc32"], f["name"]
PY
}
no_temp_files() { [ -z "$(find "$WORK" -name '.*.tmp.*' | head -1)" ]; }

M=20000
# --- undisturbed references, 1 and 2 ranks
for np in 1 2; do
  solver "ref$np" $M
  launch "ref$np" "$np" train --solver "ref$np.prototxt" --tau 5; T0=$(date +%s.%N); finish_bg
  check "undisturbed $np-rank run to $M" bash -c "[ $RC -eq 0 ] && [ -f '$WORK/ref$np/tiny_iter_$M.caffemodel' ]"
done

# --- a stop signal, then --snapshot auto: the same final weights, bit for bit
# stop_and_resume NAME NP SIGNAL TARGET: TARGET is "mpirun" or "rank" (one rank's process).
stop_and_resume() {
  local name=$1 np=$2 sig=$3 target=$4 dir="$WORK/$1" extra=("${@:5}")
  solver "$name" $M
  launch "$name" "$np" train --solver "$name.prototxt" --tau 5 --snapshot auto "${extra[@]}"
  if ! running_past 1000; then bad "$name: training did not start" "$(tail -3 "$OUT")"; return; fi
  local victim=$PID
  [ "$target" = rank ] && victim=$(pgrep -P "$PID" | tail -1)
  T0=$(date +%s.%N); kill -"$sig" "$victim"; finish_bg
  local n; n=$(stopped_iter)
  local took=""
  [ -n "$n" ] && [ -f "$dir/tiny_iter_$n.manifest.json" ] &&
    took=$(awk -v a="$T0" -v b="$(stat -c %.9Y "$dir/tiny_iter_$n.manifest.json")" 'BEGIN { printf "%.2f", b - a }')
  stopped() {
    [ "$RC" -eq 75 ] && [ -n "$n" ] && [ "$n" -lt $M ] && [ "$(grep -c 'Stopped at iteration' "$OUT")" -eq 1 ] &&
      grep -q "SIG$sig" "$OUT" && complete_set "$dir" "$n" "$np"
  }
  check "$name: SIG$sig to $target ($np ranks${extra[*]:+, ${extra[*]}}): exit $RC (75) in ${SECS}s, stopped at iteration ${n:-?}, complete set ${took:-?} s after the signal" stopped
  check "$name: no temporary files left" no_temp_files
  local timed=""
  [ "$np" -gt 1 ] && [[ " ${extra[*]} " == *" async-easgd "* || " ${extra[*]} " == *" --round-seconds "* ]] && timed=1
  # A timing-dependent run's pace is too (100 to 7000 iterations/s for 4 async ranks over TCP on
  # 2 cores), so its resume goes only 2000 iterations past the stop (Caffe lets a resume change
  # max_iter); the bit-identical resumes run the whole way.
  local M=$M
  [ -n "$timed" ] && M=$(( ${n:-0} + 2000 )) && sed -i "s#max_iter: .*#max_iter: $M#" "$name.prototxt"
  launch "$name.resume" "$np" train --solver "$name.prototxt" --tau 5 --snapshot auto "${extra[@]}"; T0=$(date +%s.%N); finish_bg
  if [ -n "$timed" ]; then
    # The ranks' relative pace is timing-dependent, so no two runs have the same bits: the
    # resume must start from the set and finish with a complete final set and a test.
    check "$name: --snapshot auto resumes at $n and runs to $M (timing-dependent: not bit-identical)" bash -c "
      [ $RC -eq 0 ] && grep -q 'resuming from $WORK/$name/tiny_iter_$n.solverstate' '$OUT' &&
      grep -q 'Optimization Done' '$OUT' && grep -q 'Final test accuracy = .* (iteration $M)' '$OUT' &&
      [ -f '$WORK/$name/tiny_iter_$M.caffemodel' ]" &&
    check "$name: the resumed run's final set is complete" complete_set "$dir" $M "$np"
    # A finished job requeued: the set is at max_iter, no rank steps, the run ends at once.
    launch "$name.again" "$np" train --solver "$name.prototxt" --tau 5 --snapshot auto "${extra[@]}"; T0=$(date +%s.%N); finish_bg
    check "$name: --snapshot auto on the set at $M ends in ${SECS}s with exit $RC (0)" bash -c "
      [ $RC -eq 0 ] && grep -q 'resuming from $WORK/$name/tiny_iter_$M.solverstate' '$OUT' && awk 'BEGIN { exit !($SECS < 30) }'"
  else
    check "$name: --snapshot auto resumes at $n and ends bit-identical to the undisturbed run" bash -c "
      [ $RC -eq 0 ] && grep -q 'resuming from $WORK/$name/tiny_iter_$n.solverstate' '$OUT' &&
      cmp -s '$WORK/$name/tiny_iter_$M.caffemodel' '$WORK/ref$np/tiny_iter_$M.caffemodel'"
  fi
}
stop_and_resume stop1 1 TERM self
stop_and_resume stop2 2 USR1 mpirun
stop_and_resume stopr 2 TERM rank
stop_and_resume stopi 2 INT rank
# async-easgd on one rank stops like any mode; one rank in any mode trains the same bits as plain SGD.
stop_and_resume stopa 1 TERM self --sync async-easgd
# async-easgd on K > 1: the ranks meet at no common iteration; a stop travels to rank 0 on the
# schedule board, rank 0 ends training there and every rank snapshots rank 0's iteration.
stop_and_resume stopa4 4 USR1 mpirun --sync async-easgd
stop_and_resume stopa2 2 TERM rank --sync async-easgd
# --round-seconds: each rank ends its rounds on its own clock; the ranks agree on a stop only at
# round ends (no per-iteration agreement), then snapshot one set.
stop_and_resume stoprs 2 TERM rank --round-seconds 0.05

# --- SIGUSR2: a snapshot mid-run, training goes on to the same end
solver usr2 $M
launch usr2 2 train --solver usr2.prototxt --tau 5
running_past 1000 && kill -USR2 "$PID"; T0=$(date +%s.%N); finish_bg
n=$(sed -nE 's/.*SIGUSR2 on rank [0-9]+: snapshotting at iteration ([0-9]+)$/\1/p' "$OUT" | head -1)
usr2_ok() { [ "$RC" -eq 0 ] && [ -n "$n" ] && complete_set "$WORK/usr2" "$n" 2 && cmp -s "$WORK/usr2/tiny_iter_$M.caffemodel" "$WORK/ref2/tiny_iter_$M.caffemodel"; }
check "SIGUSR2 to mpirun: snapshot at iteration ${n:-?}, training goes on, same final weights" usr2_ok
# async-easgd on K > 1 cannot snapshot mid-run (its ranks are at different iterations): one line says
# so, however many ranks mpirun forwarded the signal to, and training goes on to its final set.
# A signal that lands after rank 0's last step has nothing to answer, and these 2 ranks run
# 20000 steps in about 2 s, so this run is 3 times as long: a loaded host once delivered the
# signal after the end (no line; fresh clone, 5 December).
MA=$(( 3 * M ))
solver usr2a $MA
launch usr2a 2 train --solver usr2a.prototxt --tau 5 --sync async-easgd
running_past 1000 && kill -USR2 "$PID"; T0=$(date +%s.%N); finish_bg
usr2a_ok() {
  local lines sets; lines=$(grep -c 'SIGUSR2 on rank [0-9]*: ignored' "$OUT"); sets=$(ls "$WORK/usr2a" | grep -c manifest)
  [ "$RC" -eq 0 ] && [ "$lines" -eq 1 ] && complete_set "$WORK/usr2a" $MA 2 && [ "$sets" -eq 1 ] && return 0
  echo "     exit $RC, $lines 'ignored' lines (1), $sets manifests (1), ${SECS}s after the signal"; return 1
}
check "SIGUSR2 to mpirun, async-easgd on 2 ranks: ignored with one line, training goes on to $MA" usr2a_ok

# --- --snapshot auto: fresh start; incomplete sets skipped; --keep-snapshots
solver auto 40 'snapshot: 10'
launch auto 2 train --solver auto.prototxt --tau 4 --snapshot auto --keep-snapshots 2; T0=$(date +%s.%N); finish_bg
check "--snapshot auto without snapshots starts fresh and says so" bash -c "
  [ $RC -eq 0 ] && grep -q 'no complete snapshot under $WORK/auto/tiny_iter_\*; starting fresh' '$OUT'"
check "--keep-snapshots 2: the sets of iterations 30 and 40 remain, older ones deleted" bash -c "
  [ \"\$(ls '$WORK/auto' | grep -c manifest)\" -eq 2 ] && [ -f '$WORK/auto/tiny_iter_30.manifest.json' ] &&
  [ -f '$WORK/auto/tiny_iter_40.manifest.json' ] && ! ls '$WORK/auto' | grep -q 'iter_10\.' &&
  grep -q 'Deleted the snapshots of iteration 10 (--keep-snapshots 2)' '$OUT'"
printf 'x' | dd of="$WORK/auto/tiny_iter_40.solverstate.rank1" bs=1 seek=20 conv=notrunc 2>/dev/null
sed -i 's#max_iter: .*#max_iter: 50#' auto.prototxt
launch auto2 2 train --solver auto.prototxt --tau 4 --snapshot auto; T0=$(date +%s.%N); finish_bg
check "a corrupt file makes its set incomplete: --snapshot auto skips it, resumes at 30" bash -c "
  [ $RC -eq 0 ] && grep -q 'skipping the snapshot of iteration 40: tiny_iter_40.solverstate.rank1 does not match its checksum' '$OUT' &&
  grep -q 'resuming from $WORK/auto/tiny_iter_30.solverstate' '$OUT' && grep -q 'Optimization Done' '$OUT'"
launch auto4 4 train --solver auto.prototxt --tau 4 --snapshot auto; T0=$(date +%s.%N); finish_bg
check "a set of 2 ranks resumed on 4: one error naming both counts and --reshard, non-zero exit" bash -c "
  [ $RC -ne 0 ] && [ \$(grep -c '^sparknet-mpi: error: ' '$ERR') -eq 1 ] &&
  grep -q '^sparknet-mpi: error: --snapshot auto: .*written by 2 ranks and this job has 4.*--reshard' '$ERR'"
sed -i 's#max_iter: .*#max_iter: 60#' auto.prototxt
SPARKNET_CHECK_SYNC=1 launch reshard 4 train --solver auto.prototxt --tau 4 --snapshot auto --reshard; T0=$(date +%s.%N); finish_bg
check "--reshard: 4 ranks go on from the 2-rank set of iteration 50 to 60, weights equal on every rank" bash -c "
  [ $RC -eq 0 ] && grep -q -- 'Resuming from $WORK/auto/tiny_iter_50.solverstate (--reshard: every rank takes rank 0' '$OUT' &&
  grep -q '4 ranks, --sync average' '$OUT' && grep -q 'Optimization Done' '$OUT' && [ -f '$WORK/auto/tiny_iter_60.solverstate.rank3' ]"

# --- a stalled rank ends the job within about --stall-timeout, named, with what the others waited in
solver stall 100000
for spec in "stall 2 average 4" "sigstop 1 gradient 2"; do
  read -r mode rank sync np <<<"$spec"
  T0=$(date +%s.%N)
  SPARKNET_FAIL_RANK=$rank SPARKNET_FAIL_ITER=10 SPARKNET_FAIL_MODE=$mode launch "stall_$mode" "$np" \
    train --solver stall.prototxt --sync "$sync" --tau 5 --stall-timeout 3
  finish_bg
  check "rank $rank stalls ($mode, --sync $sync, $np ranks): job ends non-zero in ${SECS}s, one message naming rank $rank" bash -c "
    [ $RC -ne 0 ] && awk 'BEGIN { exit !($SECS < 20) }' && [ \$(grep -c '^sparknet-mpi: error: ' '$ERR') -eq 1 ] &&
    grep -q '^sparknet-mpi: error: rank $rank ([^)]*) made no progress for [0-9.]* s (--stall-timeout 3): .* waited in the $sync exchange' '$ERR'"
done
launch stall_ext 2 train --solver stall.prototxt --tau 5 --stall-timeout 3
if running_past 1000; then
  victim=$(pgrep -P "$PID" | tail -1); kill -STOP "$victim"; T0=$(date +%s.%N); finish_bg
  check "SIGSTOP from outside on one rank: job ends non-zero in ${SECS}s, the stalled rank named" bash -c "
    [ $RC -ne 0 ] && awk 'BEGIN { exit !($SECS < 20) }' && [ \$(grep -c '^sparknet-mpi: error: ' '$ERR') -eq 1 ] &&
    grep -q '^sparknet-mpi: error: rank [01] ([^)]*) made no progress' '$ERR'"
else
  bad "SIGSTOP from outside: training did not start" "$(tail -3 "$OUT")"; kill -KILL "$PID"
fi
finish
