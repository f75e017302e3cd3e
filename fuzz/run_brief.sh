#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for FUZZ_SECONDS (default 30) from the
# committed seed corpus: fuzz_csv and fuzz_npy (the CLI's readers) and fuzz_api (the public API on
# the CPU backend). Exit status 0 when all ran clean; 1 on a crash or sanitizer report
# (the reproducer is left in $BUILD/artifacts/); 0 with a notice when clang is not installed.
#   bash fuzz/run_brief.sh                 FUZZ_SECONDS=300 bash fuzz/run_brief.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CLANG=${CLANG:-$(command -v clang || command -v clang-14 || true)}
if [ -z "$CLANG" ]; then
  echo "fuzz/run_brief.sh: clang not found; skipping the fuzzers" >&2
  exit 0
fi
BUILD=${BUILD:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-30}
CC="$CLANG" cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPKPO_BUILD_FUZZ=ON \
  -DPKPO_BUILD_TESTS=OFF -DPKPO_BUILD_CLI=OFF -DPKPO_CUDA=OFF >/dev/null
cmake --build "$BUILD" -j2 --target fuzz_csv fuzz_npy fuzz_api >/dev/null
mkdir -p "$BUILD/artifacts"
status=0
for t in csv npy api; do
  work="$BUILD/corpus_$t"
  mkdir -p "$work"
  echo "== fuzz_$t for ${SECONDS_EACH}s" >&2
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  if ! "$BUILD/fuzz/fuzz_$t" -max_total_time="$SECONDS_EACH" -max_len=4096 -timeout=10 \
      "${dict[@]}" -artifact_prefix="$BUILD/artifacts/${t}_" -print_final_stats=1 \
      "$work" "fuzz/corpus/$t" 2>"$BUILD/fuzz_$t.log"; then
    status=1
    tail -40 "$BUILD/fuzz_$t.log" >&2
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$BUILD/fuzz_$t.log" >&2 || true
  fi
done
exit $status
