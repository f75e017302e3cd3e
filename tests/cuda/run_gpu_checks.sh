#!/usr/bin/env bash
# run_gpu_checks.sh -- the checks of the CUDA backend that need a GPU. Run on a machine with one:
#
#   tests/cuda/run_gpu_checks.sh bench/results/$(date -u +%Y-%m-%d)-<device> [build-dir]
#
# Builds pkpo with CUDA (Release, sm_80 + sm_90 + compute_90 PTX), runs the ctest suites labelled
# gpu and cuda-emu, then compute-sanitizer (memcheck, racecheck, synccheck, initcheck) on the
# device test binary, and writes every log plus summary.txt (one PASS/FAIL line per step, with the
# machine, driver, toolkit and commit) into the results folder. Exit status: 0 only if every step
# passed. Nothing here is run by CI (CI has no GPU).
set -u
out=${1:?usage: run_gpu_checks.sh <results-dir> [build-dir]}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${2:-$root/build-gpu-checks}
mkdir -p "$out"
out=$(cd "$out" && pwd)
summary=$out/summary.txt
fail=0

{
  echo "pkpo CUDA checks, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "commit: $(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "host: $(uname -n), $(nproc) cores"
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1 | sed 's/^/gpu: /'
  echo "nvcc: $(nvcc --version 2>&1 | tail -1)"
} > "$summary"

step() { # step <name> <log> <command...>
  local name=$1 log=$2
  shift 2
  local t0=$(date +%s)
  "$@" > "$out/$log" 2>&1
  local rc=$?
  local dt=$(( $(date +%s) - t0 ))
  if [ $rc -eq 0 ]; then
    echo "PASS  $name  (${dt}s, log: $log)" >> "$summary"
  else
    echo "FAIL  $name  (rc=$rc, ${dt}s, log: $log)" >> "$summary"
    fail=1
  fi
  return $rc
}

step configure configure.log cmake -S "$root" -B "$build" -DPKPO_CUDA=ON -DCMAKE_BUILD_TYPE=Release \
  -DPKPO_BUILD_TESTS=ON || { cat "$summary"; exit 1; }
step build build.log cmake --build "$build" -j "$(nproc)" --target test_cuda test_cuda_emu \
  || { cat "$summary"; exit 1; }
step "ctest -L cuda-emu" ctest_cuda_emu.log ctest --test-dir "$build" -L cuda-emu --output-on-failure
step "ctest -L gpu" ctest_gpu.log ctest --test-dir "$build" -L gpu --output-on-failure
# A run must not skip: a GPU test that skips here means the device was not usable.
if grep -q "SKIPPED\|Skipped" "$out/ctest_gpu.log"; then
  echo "FAIL  gpu tests were skipped (no usable device?)" >> "$summary"
  fail=1
fi

bin=$build/tests/cuda/test_cuda
# The sanitizers slow kernels down 10-100x: they run every test but the two largest.
filter='-Cuda.MoreThan2To31Rewards:Cuda.OneGroupOf2To20:Cuda.UniformSweepAgainstOracleAndCpu'
for tool in memcheck racecheck synccheck initcheck; do
  extra=""
  [ "$tool" = memcheck ] && extra="--leak-check full"
  step "compute-sanitizer --tool $tool" "sanitizer_$tool.log" \
    compute-sanitizer --tool "$tool" $extra --error-exitcode 99 "$bin" --gtest_filter="$filter"
done

echo "overall: $([ $fail -eq 0 ] && echo PASS || echo FAIL)" >> "$summary"
cat "$summary"
exit $fail
