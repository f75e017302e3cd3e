#!/usr/bin/env bash
# Builds pkpo and runs its tests. Works on a fresh Debian machine: installs what is missing.
#   bash scripts/test.sh              Release build (CUDA backend compiled when nvcc exists), all C/C++
#                                     tests, then the Python package (scripts/test_python.sh: wheel
#                                     into a fresh venv + pytest) and the embedding checks
#                                     (scripts/check_embedding.sh: add_subdirectory, CMake 3.22, nm)
#   bash scripts/test.sh --sanitize   CPU-only Debug build under AddressSanitizer + UBSan, all tests
#   bash scripts/test.sh --tsan       the CUDA kernels on the emulated device under ThreadSanitizer
#                                     (scripts/test_emu_tsan.sh)
# GPU tests (ctest label "gpu") skip themselves when no GPU is present. The CUDA kernels also run on
# the emulated device (tests/cuda/emu, label "cuda-emu") in the default mode, with or without nvcc.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=release
[ "${1:-}" = "--sanitize" ] && mode=sanitize
[ "${1:-}" = "--tsan" ] && exec bash scripts/test_emu_tsan.sh
jobs=$(nproc 2>/dev/null || echo 2)

need_pkgs=()
[ -f /usr/include/gtest/gtest.h ] || need_pkgs+=(libgtest-dev)
command -v cmake >/dev/null || need_pkgs+=(cmake)
command -v g++ >/dev/null || need_pkgs+=(g++)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "test.sh: installing ${need_pkgs[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_pkgs[@]}"
fi
# nvcc is often installed outside PATH.
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi

if [ "$mode" = sanitize ]; then
  build=build-sanitize
  # The emulated device switches stacks without ASan's fiber annotations: it runs in the default
  # mode and under TSan (--tsan), not here.
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DPKPO_CUDA=OFF -DPKPO_CUDA_EMU=OFF \
        -DPKPO_SANITIZE=address,undefined -DPKPO_BUILD_TESTS=ON
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
else
  build=build
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DPKPO_BUILD_TESTS=ON
fi
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure -j "$jobs"
if [ "$mode" = release ]; then
  bash scripts/test_python.sh
  bash scripts/check_embedding.sh
fi
