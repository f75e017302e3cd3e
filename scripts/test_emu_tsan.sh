#!/usr/bin/env bash
# The CUDA backend's device tests on the emulated device (tests/cuda/emu), built with
# ThreadSanitizer: every CUDA thread is a TSan fiber, and only barriers, __syncwarp, atomics and
# kernel boundaries order memory, so a missing __syncthreads (or CUB temp storage repurposed
# without one) is reported as a data race and fails the test (halt_on_error).
#   bash scripts/test_emu_tsan.sh            all cuda-emu tests but the two largest sweeps
#   bash scripts/test_emu_tsan.sh --all      every cuda-emu test (slow)
# Needs no GPU and no nvcc. Build folder: build-emu-tsan/.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
build=build-emu-tsan
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPKPO_CUDA=OFF -DPKPO_CUDA_EMU=ON \
      -DPKPO_SANITIZE=thread -DPKPO_BUILD_TESTS=ON -DPKPO_BUILD_CLI=OFF
cmake --build "$build" -j "$jobs" --target test_cuda_emu
export TSAN_OPTIONS="halt_on_error=1:abort_on_error=1:second_deadlock_stack=1"
exclude='emu\.Cuda\.(UniformSweepAgainstOracleAndCpu|OneGroupOf2To20)$'
if [ "${1:-}" = "--all" ]; then exclude='^$'; fi
ctest --test-dir "$build" -L cuda-emu -E "$exclude" --output-on-failure -j "$jobs"
