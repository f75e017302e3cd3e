#!/usr/bin/env bash
# Embedding checks (called by scripts/test.sh):
#  1. add_subdirectory(pkpo) from another project configures, builds and runs without GoogleTest,
#     with CMake 3.22 (Ubuntu 22.04's, pip-installed into build-embed/ when missing) and the
#     machine's CMake;
#  2. libpkpo.so exports the public pkpo_* functions and nothing else (nm).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out="$root/build-embed"
mkdir -p "$out"
jobs=$(nproc 2>/dev/null || echo 2)
PY="${PYTHON:-python3}"

cmakes=(cmake)
if [ ! -x "$out/cmake322/bin/cmake" ]; then
  "$PY" -m venv "$out/cmake322" && "$out/cmake322/bin/pip" install -q "cmake==3.22.*" \
    || echo "check_embedding: could not pip-install CMake 3.22; checking with $(cmake --version | head -1) only"
fi
[ -x "$out/cmake322/bin/cmake" ] && cmakes+=("$out/cmake322/bin/cmake")

for c in "${cmakes[@]}"; do
  ver=$("$c" --version | head -1)
  dir="$out/embed-$(echo "$ver" | awk '{print $3}')"
  rm -rf "$dir"
  echo "== add_subdirectory(pkpo) with $ver, CPU backend, no GoogleTest"
  "$c" -S tests/embed -B "$dir" -DPKPO_SOURCE_DIR="$root" -DPKPO_CUDA=OFF -DGTest_DIR=/nonexistent \
       -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON > "$dir.log" 2>&1 || { cat "$dir.log"; exit 1; }
  "$c" --build "$dir" -j "$jobs" > "$dir.build.log" 2>&1 || { cat "$dir.build.log"; exit 1; }
  "$dir/embedded"
done

echo "== exported symbols of libpkpo.so (nm -D)"
shared="$out/shared"
cmake -S . -B "$shared" -DBUILD_SHARED_LIBS=ON -DPKPO_CUDA=OFF -DPKPO_BUILD_TESTS=OFF \
      -DPKPO_BUILD_CLI=OFF > "$shared.log" 2>&1 || { cat "$shared.log"; exit 1; }
cmake --build "$shared" -j "$jobs" > "$shared.build.log" 2>&1 || { cat "$shared.build.log"; exit 1; }
syms=$(nm -D --defined-only "$shared/libpkpo.so" | awk '{print $3}')
bad=$(echo "$syms" | grep -v '^pkpo_[a-z]' || true)
if [ -n "$bad" ]; then
  echo "libpkpo.so exports symbols outside the public API:"; echo "$bad"; exit 1
fi
for f in $(grep -oE "\bpkpo_[a-z_]+\(" include/pkpo.h | tr -d "(" | sort -u); do
  echo "$syms" | grep -qx "$f" || { echo "libpkpo.so does not export $f"; exit 1; }
done
echo "   $(echo "$syms" | wc -l) symbols, all public pkpo_* functions of include/pkpo.h"
