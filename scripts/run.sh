#!/usr/bin/env bash
# The main job: build pkpo (CUDA backend too when nvcc exists) and run the pkpo command-line tool.
#   bash scripts/run.sh                      sloo_minus_one, k = 4, on examples/continuous.csv -> stdout
#   bash scripts/run.sh transform -k 8 -e l2o examples/binary.csv -o out.csv
#   bash scripts/run.sh estimate --all-k examples/binary.csv
# --device auto (the default) uses the GPU when the CUDA backend is built and a GPU is present.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cmake >/dev/null || {
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq cmake g++
}
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
build=build-run
if [ ! -x "$build/src/cli/pkpo" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DPKPO_BUILD_TESTS=OFF >&2
fi
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target pkpo_cli >&2
if [ $# -eq 0 ]; then
  set -- transform -k 4 -e sloo_minus_one --device auto examples/continuous.csv
fi
exec "$build/src/cli/pkpo" "$@"
