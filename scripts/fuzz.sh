#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/ with -sanitize=fuzzer,address and runs each one for
# FUZZ_SECONDS (default 20) on a scratch copy of its committed seed corpus (Fuzz/Corpus/<target>).
# A crash fails the run and leaves the input in Fuzz/crashes/<target>/; turn it into a regression
# test (Tests/NanoPayCoreTests/FuzzRegressionTests.swift) and commit it to the corpus.
#   scripts/fuzz.sh                      all targets, 20 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh FuzzAmount   one target, longer
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=${FUZZ_SECONDS:-20}
build="$root/.build-fuzz"
swift build -c release --package-path Fuzz --build-path "$build" \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld 2>&1 | grep -Ev "^(\[|warning: .*unhandled|    /)" || true
bin="$build/release"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=($(ls Fuzz/Sources | grep -v '^FuzzSupport$'))
fi
failed=0
for target in "${targets[@]}"; do
  [ -x "$bin/$target" ] || { echo "fuzz: $target was not built" >&2; exit 1; }
  work=$(mktemp -d)
  cp Fuzz/Corpus/"$target"/* "$work"/ 2>/dev/null || true
  mkdir -p "Fuzz/crashes/$target"
  log="$work.log"
  if ASAN_OPTIONS=detect_leaks=0 "$bin/$target" -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="Fuzz/crashes/$target/" -print_final_stats=1 "$work" >"$log" 2>&1; then
    runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo "?")
    cover=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+' || echo "?")
    echo "fuzz: $target ok — $runs inputs in ${seconds}s, $cover edges covered"
  else
    echo "fuzz: $target FAILED — see below; the input is in Fuzz/crashes/$target/" >&2
    grep -E "ERROR|==|Fatal|precondition|Test unit written" "$log" | head -20 >&2
    failed=1
  fi
  rm -rf "$work" "$log"
done
exit $failed
