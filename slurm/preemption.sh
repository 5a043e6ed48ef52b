# Sourced by slurm/train.sbatch and slurm/train-multinode.sbatch (from the repository root).
#
# run_preemptible CMD...: runs CMD (mpirun ... sparknet-mpi train --snapshot auto ...) with its
# output appended to $LOG, so that USR1 sent to the batch shell (--signal=B:USR1@<grace>, or
# `scancel --batch --signal=USR1`) reaches every rank: mpirun forwards USR1 to the ranks, which
# agree on an iteration, write one complete snapshot set and exit 75. The job is then requeued
# (--requeue) and its next run resumes from that snapshot. TERM is forwarded the same way (Slurm
# sends it at the time limit, KillWait seconds before SIGKILL). Exits with CMD's status, or 0
# after a requeue.
run_preemptible() {
  local name="${SCRIPT_NAME:-sbatch}" pid rc
  trap 'echo "$name: USR1 (time limit or preemption): asking the ranks to snapshot and stop"; kill -USR1 "$pid" 2>/dev/null' USR1
  trap 'echo "$name: TERM: asking the ranks to snapshot and stop"; kill -USR1 "$pid" 2>/dev/null' TERM
  set +e
  "$@" > >(tee -a "$LOG") 2>&1 &
  pid=$!
  # bash runs a trap only between commands: wait returns early on each signal, so wait again.
  while kill -0 "$pid" 2>/dev/null; do wait "$pid"; done
  wait "$pid"; rc=$?
  trap - USR1 TERM
  echo "$name: exit $rc; log $LOG"
  if [ "$rc" -eq 75 ] && [ -n "${SLURM_JOB_ID:-}" ]; then
    echo "$name: stopped with a complete snapshot; requeueing job $SLURM_JOB_ID (the next run resumes it)"
    scontrol requeue "$SLURM_JOB_ID" && exit 0
  fi
  exit "$rc"
}
