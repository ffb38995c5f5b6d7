#!/usr/bin/env bash
# Runs the whole Swift test suite under AddressSanitizer and then ThreadSanitizer, each in its own
# build directory (.build-asan, .build-tsan). A clean build of each takes several minutes on two
# cores. Results are recorded in RELIABILITY.md.
#   scripts/sanitizers.sh            both
#   scripts/sanitizers.sh address    one
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
kinds=("$@")
[ ${#kinds[@]} -eq 0 ] && kinds=(address thread)
for kind in "${kinds[@]}"; do
  echo "== swift test --sanitize=$kind"
  # Leak reports at exit come from the test runners' own allocations (XCTest's suite objects,
  # Foundation.Process), not from this code; leaks are not what this run looks for.
  ASAN_OPTIONS=detect_leaks=0 TSAN_OPTIONS=halt_on_error=1 \
    swift test --sanitize="$kind" --build-path ".build-${kind:0:1}san"
done
