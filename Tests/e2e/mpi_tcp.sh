#!/usr/bin/env bash
# The multi-node path, on one machine: Open MPI forced onto TCP (btl self,tcp: no shared-memory
# transport between ranks, as between nodes). Checks that TCP carries the ranks' traffic, then
# runs mpi_train.sh (distributed training, exact resume, errors, a dying rank) and faults.sh
# (signals, auto-resume, stall watchdog) again over it.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_plm_rsh_agent=false
command -v mpirun >/dev/null || { bad "mpirun" "not installed"; finish; exit; }

make_h5 train.h5 80
make_h5 test.h5 40
echo "$WORK/train.h5" >train.txt
echo "$WORK/test.h5" >test.txt
tiny_net net.prototxt "$WORK/train.txt" "$WORK/test.txt"
tiny_solver solver.prototxt net.prototxt
timeout 300 mpirun --oversubscribe -np 2 --mca btl self,tcp --mca btl_base_verbose 30 -x OPENBLAS_NUM_THREADS=1 \
  "$BIN" train --solver solver.prototxt --tau 4 >tcp.out 2>&1
rc=$?
if [ "$rc" -eq 0 ] && grep -q "Optimization Done" tcp.out && grep -qE "btl:tcp: connect\(\) to .* completed" tcp.out &&
   ! grep -q "select: init of component vader returned success" tcp.out; then
  ok "--mca btl self,tcp: the ranks connect over TCP ($(grep -m1 -oE 'using ipv4 interface [a-z0-9]+' tcp.out)), no shared memory, training done"
else
  bad "--mca btl self,tcp" "rc $rc" "$(grep -iE 'tcp|error' tcp.out | head -5)"
fi

for t in mpi_train faults; do
  start=$SECONDS
  OMPI_MCA_btl=self,tcp bash "$REPO/Tests/e2e/$t.sh" >"$WORK/$t.log" 2>&1
  line=$(grep -E "^$t: [0-9]+ passed, [0-9]+ failed$" "$WORK/$t.log" | tail -1)
  p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"${line:-x: 0 passed, 1 failed}")
  f=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"${line:-x: 0 passed, 1 failed}")
  if [ -n "$line" ] && [ "$f" -eq 0 ] && [ "$p" -gt 0 ]; then
    ok "$t.sh over TCP (OMPI_MCA_btl=self,tcp): $p passed ($((SECONDS - start)) s)"
  else
    bad "$t.sh over TCP" "${line:-no summary}" "$(grep -A3 '^FAIL' "$WORK/$t.log" | head -20)"
  fi
done
finish
