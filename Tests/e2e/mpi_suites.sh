#!/usr/bin/env bash
# The multi-rank Swift Testing suites (Tests/SparkNetMPITests/DistributedTrainingTests.swift),
# each run under `mpirun --oversubscribe -np K` for K = 2 and 4. A suite passes when mpirun
# exits 0 and every rank reports its one test passed.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_plm_rsh_agent=false
TESTS="${SPARKNET_TESTS:-$(dirname "$BIN")/sparknet-mpiPackageTests.xctest}"
[ -x "$TESTS" ] || TESTS="$REPO/.build/debug/sparknet-mpiPackageTests.xctest"
if [ ! -x "$TESTS" ]; then
  bad "test binary" "not found: $TESTS (run 'swift build --build-tests' first)"
  finish; exit
fi

SUITES=(MPIRoundAgreementTests MPIAverageIsMeanOfLocalWeightsTests MPIGradientEqualsBigBatchTests MPIModeEquivalenceTests
        MPIShardCoverageTests MPIDistributedTestTests MPIResumeTests MPIAsyncEASGDTests
        MPIAgreementTests MPICommunicatorTests MPICommDelayTests MPITargetAccuracyTests MPIAsyncSlowRankTests)

for np in 2 4; do
  for suite in "${SUITES[@]}"; do
    log="$WORK/$suite.$np.log"
    start=$SECONDS
    timeout 300 mpirun --oversubscribe -np "$np" -x OPENBLAS_NUM_THREADS=1 \
      "$TESTS" --testing-library swift-testing --filter "SparkNetMPITests.$suite/" >"$log" 2>&1
    rc=$?
    passed=$(grep -cE "Test run with 1 test (in 1 suite )?passed" "$log")
    if [ "$rc" -eq 0 ] && [ "$passed" -eq "$np" ]; then
      ok "$suite -np $np ($((SECONDS - start)) s)"
    else
      bad "$suite -np $np" "mpirun exit $rc, $passed of $np ranks passed" \
        "$(grep -E "✘|error|Expectation failed|recorded an issue" "$log" | head -8)"
    fi
  done
done
finish
