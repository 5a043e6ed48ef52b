#!/usr/bin/env bash
# Runs slurm/train.sbatch for real: starts a throwaway single-node Slurm under a temp directory
# (up.sh), submits the script with `sbatch --wait` on a short solver (2 tasks), checks the job's
# exit code, log and snapshots; then preempts a longer job (USR1 to its batch shell), which must
# snapshot, requeue itself, resume and end bit-identical to an undisturbed run; and stops the
# daemons (down.sh), whatever happens.
#   SPARKNET_BIN=.build/debug/sparknet-mpi Tests/slurm/test.sh
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"
HERE="$REPO/Tests/slurm"
for tool in slurmctld slurmd munged sbatch mpirun; do
  command -v "$tool" >/dev/null || { bad "slurm" "$tool not installed (Tests/slurm/install.sh)"; finish; exit; }
done

# Its own directory, traversable by all: munged refuses a socket under a 0700 directory.
B="$(mktemp -d "${TMPDIR:-/tmp}/sparknet-slurm.XXXXXX")"
chmod 755 "$B"
trap '"$HERE/down.sh" "$B" >/dev/null 2>&1; rm -rf "$WORK" "$B"' EXIT
export SLURM_CONF="$B/etc/slurm.conf"
if SLURM_TEST_CPUS=2 "$HERE/up.sh" "$B" >"$WORK/up.log" 2>&1; then
  ok "throwaway slurm is up (node idle)"
else
  bad "slurm up" "$(tail -5 "$WORK/up.log")" "$(tail -5 "$B/log/slurmctld.log" 2>/dev/null)"
  finish; exit
fi

make_h5 train.h5 64
make_h5 test.h5 40
echo "$WORK/train.h5" >train.txt
echo "$WORK/test.h5" >test.txt
tiny_net net.prototxt "$WORK/train.txt" "$WORK/test.txt"
tiny_solver solver.prototxt "$WORK/net.prototxt" 'snapshot: 10'

export SPARKNET_BIN="$BIN"
start=$SECONDS
(cd "$REPO" && timeout 300 sbatch --wait --ntasks=2 --cpus-per-task=1 --output="$WORK/slurm-%j.out" \
   slurm/train.sbatch "$WORK/solver.prototxt" --sync average --tau 5) >"$WORK/sbatch.out" 2>&1
rc=$?
job=$(sed -nE 's/^Submitted batch job ([0-9]+).*/\1/p' "$WORK/sbatch.out")
out="$WORK/slurm-$job.out"
log="$WORK/snap/train-$job.log"
if [ "$rc" -eq 0 ] && [ -n "$job" ]; then
  ok "sbatch --wait slurm/train.sbatch: job $job exit 0 ($((SECONDS - start)) s)"
else
  bad "sbatch --wait slurm/train.sbatch" "rc $rc: $(cat "$WORK/sbatch.out")" "$(tail -20 "$out" 2>/dev/null)"
fi
if [ -f "$log" ] && grep -q "Optimization Done" "$log" && grep -q "2 ranks, --sync average, tau 5" "$log" &&
   grep -q "Test net output #0: accuracy" "$log"; then
  ok "the training log is beside the snapshots ($log): 2 ranks, tested, done"
else
  bad "log beside the snapshots" "expected $log; snap/: $(ls "$WORK/snap" 2>/dev/null | tr '\n' ' ')" "$(tail -5 "$out" 2>/dev/null)"
fi
if grep -q "2 ranks x 1 BLAS threads" "$out" 2>/dev/null; then
  ok "OPENBLAS_NUM_THREADS from --cpus-per-task (1)"
else
  bad "BLAS threads from --cpus-per-task" "$(head -3 "$out" 2>/dev/null)"
fi
if [ -f "$WORK/snap/tiny_iter_20.caffemodel" ] && [ -f "$WORK/snap/tiny_iter_10.solverstate.rank1" ]; then
  ok "rank 0 wrote the snapshots, rank 1 its state beside them"
else
  bad "snapshots" "$(ls "$WORK/snap" | tr '\n' ' ')"
fi

# --- preemption: USR1 to the batch shell mid-run (what --signal=B:USR1@90 sends before the time
# limit or a preemption): the ranks write one complete snapshot and stop, the script requeues
# the job, the next run resumes (--snapshot auto), and the final weights equal an undisturbed run's.
# The preempted job runs with --comm-delay (a sleep per exchange, which leaves the weights
# unchanged bit for bit: Tests/e2e/experiments.sh), so it lasts at least M/5 x 5 ms = 20 s
# whatever the machine's speed, and its ranks leave CPU time to Slurm's daemons. Without it the
# tiny net runs ~12,000 it/s with both cores busy, and scancel took up to 12 s to reach
# slurmctld: a fast machine finished the whole run before the signal arrived.
M=20000
mkdir -p "$WORK/pre" "$WORK/undisturbed"
sed -e "s#snapshot_prefix: .*#snapshot_prefix: \"$WORK/pre/tiny\"#; s#max_iter: .*#max_iter: $M#" \
    -e "s#display: .*#display: 500#; s#test_interval: .*#test_interval: 5000#; s#^snapshot: .*##" solver.prototxt >pre.prototxt
sed "s#$WORK/pre/#$WORK/undisturbed/#" pre.prototxt >undisturbed.prototxt
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_plm_rsh_agent=false timeout 300 \
  mpirun --oversubscribe -np 2 -x OPENBLAS_NUM_THREADS=1 "$BIN" train --solver undisturbed.prototxt --tau 5 >undisturbed.out 2>&1
(cd "$REPO" && timeout 400 sbatch --wait --ntasks=2 --cpus-per-task=1 --output="$WORK/slurm-%j.out" \
   slurm/train.sbatch "$WORK/pre.prototxt" --tau 5 --comm-delay 0.005) >"$WORK/sbatch-pre.out" 2>&1 &
sbatch_pid=$!
job=""
for _ in $(seq 1 1200); do
  job=$(sed -nE 's/^Submitted batch job ([0-9]+).*/\1/p' "$WORK/sbatch-pre.out")
  [ -n "$job" ] && grep -q "Iteration 1000 (" "$WORK/pre/train-$job.log" 2>/dev/null && break
  sleep 0.1
done
signalled=$(date +%s.%N)
scancel --batch --signal=USR1 "$job"
wait "$sbatch_pid"; rc=$?
log="$WORK/pre/train-$job.log"; out="$WORK/slurm-$job.out"
n=$(sed -nE 's/.*Stopped at iteration ([0-9]+) on .*/\1/p' "$log" 2>/dev/null | head -1)
manifest="$WORK/pre/tiny_iter_${n:-none}.manifest.json"
took=$( [ -f "$manifest" ] && awk -v a="$signalled" -v b="$(stat -c %.9Y "$manifest")" 'BEGIN { printf "%.2f", b - a }')
if [ -n "$n" ] && [ "$n" -lt "$M" ] && [ -f "$manifest" ] && grep -q "requeueing job $job" "$out"; then
  ok "USR1 to the batch shell of job $job: the ranks stopped at iteration $n, complete snapshot ${took} s after the signal, job requeued"
else
  bad "USR1 to the batch shell: snapshot and requeue" "job '${job}' rc $rc, stopped at '${n}'" "$(tail -8 "$out" 2>/dev/null)"
fi
if [ "$rc" -eq 0 ] && grep -q "(restart 1)" "$out" && grep -q "resuming from $WORK/pre/tiny_iter_$n.solverstate" "$log" &&
   grep -q "Optimization Done" "$log"; then
  ok "the requeued run (restart 1) resumed at iteration $n and finished; sbatch --wait exit 0"
else
  bad "requeued run resumes" "rc $rc" "$(grep -E 'restart|resuming|Stopped|exit' "$out" "$log" 2>/dev/null | tail -8)"
fi
if cmp -s "$WORK/pre/tiny_iter_$M.caffemodel" "$WORK/undisturbed/tiny_iter_$M.caffemodel"; then
  ok "preempted + requeued job's final weights are bit-identical to an undisturbed run's (iteration $M)"
else
  bad "bit-identical after requeue" "$(ls "$WORK/pre" | tr '\n' ' ')"
fi

"$HERE/down.sh" "$B" >"$WORK/down.log" 2>&1
left=""
for f in "$B/run/slurmctld.pid" "$B/run/slurmd.pid" "$B/munge/munged.pid"; do
  [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && left+=" $(basename "$f")"
done
if [ -z "$left" ]; then ok "daemons stopped"; else bad "daemons stopped" "still running:$left"; fi
finish
