#!/usr/bin/env bash
# Runs every end-to-end test script in this directory and prints the total.
set -uo pipefail
: "${SPARKNET_BIN:?set SPARKNET_BIN to the sparknet-mpi binary}"
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
passed=0 failed=0 broken=()
for t in "$dir"/*.sh; do
  case "$(basename "$t")" in lib.sh|run-all.sh) continue ;; esac
  echo "=== $(basename "$t")"
  log=$(mktemp)
  bash "$t" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  line=$(grep -E '^[a-z_-]+: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
  rm -f "$log"
  if [ -z "$line" ]; then
    broken+=("$(basename "$t") (rc $rc, no summary)"); failed=$((failed + 1)); continue
  fi
  p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
  f=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$line")
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then broken+=("$(basename "$t") (rc $rc)"); failed=$((failed + 1)); fi
done
for b in ${broken[@]+"${broken[@]}"}; do echo "broken: $b"; done
echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
