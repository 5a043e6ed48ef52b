#!/usr/bin/env bash
# Runs every fuzz target under libFuzzer for SECONDS each (make fuzz: 60; make test: 15) with the
# sanitizer build of sparknet-fuzz (FUZZ_BIN). Seeds come from Tests/fuzz/corpus/<target>; new
# inputs and crash artifacts go under .build/fuzz/runs. A target passes when libFuzzer ends
# without a finding (crash, trap, timeout, out-of-memory). Prints executions per target, and
# the artifact to copy into Tests/fuzz/crashers/<target>/ for each finding.
set -uo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${FUZZ_BIN:-$REPO/.build/fuzz/debug/sparknet-fuzz}"
SECS="${1:-60}"
RUNS="$REPO/.build/fuzz/runs"
TARGETS=(${FUZZ_TARGETS:-net-prototxt solver-prototxt caffemodel solverstate hdf5 image})
[ -x "$BIN" ] || { echo "fuzz: $BIN not built (make fuzz builds it)"; echo "fuzz: 0 passed, 1 failed"; exit 1; }

passed=0 failed=0 total=0
for t in "${TARGETS[@]}"; do
  mkdir -p "$RUNS/corpus/$t" "$RUNS/artifacts/$t"
  dict=(); [[ $t == *prototxt ]] && dict=(-dict="$REPO/Tests/fuzz/prototxt.dict")
  log="$RUNS/$t.log"
  # -timeout: one input running 10 s is a hang; -rss_limit_mb: growing past 2 GiB is an
  # unbounded allocation. The Swift backtracer would take the trap before libFuzzer saves it.
  SPARKNET_FUZZ_TARGET=$t SWIFT_BACKTRACE=enable=no OPENBLAS_NUM_THREADS=1 \
    timeout $((SECS + 120)) "$BIN" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
    -max_len=16384 -seed="${FUZZ_SEED:-1}" -print_final_stats=1 "${dict[@]}" \
    -artifact_prefix="$RUNS/artifacts/$t/" "$RUNS/corpus/$t" "$REPO/Tests/fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  execs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
  total=$((total + ${execs:-0}))
  artifact=$(grep -oE "Test unit written to [^ ]+" "$log" | tail -1 | sed 's/Test unit written to //')
  if [ "$rc" -eq 0 ] && [ -z "$artifact" ]; then
    passed=$((passed + 1)); echo "ok   $t: ${execs:-0} executions in ${SECS}s, no crash"
  else
    failed=$((failed + 1)); echo "FAIL $t: exit $rc after ${execs:-?} executions; finding: ${artifact:-none} (log $log)"
    grep -m3 -E "Fatal error|ERROR: libFuzzer|SUMMARY" "$log" | sed 's/^/     /'
  fi
done
echo "fuzz: $total executions in all"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
