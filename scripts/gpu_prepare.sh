#!/usr/bin/env bash
# gpu_prepare.sh -- builds, on this machine (no GPU needed; the CUDA toolkit is), everything a run on a
# GPU machine needs into build-gpu/bundle/ (git-ignored, at most 48 MiB), so that the GPU machine,
# which has no network and no package registry, builds nothing:
#
#   bin/test_cuda   the device tests (tests/cuda/test_cuda.cpp) against the nvcc-built library,
#                   GoogleTest linked statically
#   bin/bench_gpu   the GPU benchmarks (bench/bench_gpu.cu)
#   pkpo-*.whl      the Python package (the CUDA backend inside) and the command-line tool in it
#                   (pkpo/bin/pkpo beside the package's libpkpo.so: one copy of the kernels, where a
#                   statically linked tool would add the ~15 MiB of another)
#   gpu_run.sh      the device script (scripts/gpu_run.sh), and the data its steps read: data/,
#                   bench/ (torch_peer.py), tests/python/
#   debs/           libgtest-dev and googletest, for a build on the device if bin/test_cuda cannot
#                   start there
#   manifest.txt    commit, toolkit, architectures, sizes, the shared libraries each binary needs
#
# Machine code for sm_80 and sm_90 (PKPO_GPU_ARCHS, CMake's form, default "80-real;90-real"). Every
# binary must need only what a bare GPU machine has: ldd may name libc (and glibc's libm, libdl,
# libpthread, librt), libstdc++, libgcc_s, libgomp and libcuda, nothing else (the CUDA runtime is
# linked statically); the script checks this and the size, and fails if either is off.
# Build folders: build-gpu/build (CMake), build-gpu/wheel (the wheel's). Then, on the GPU machine:
#   bash build-gpu/bundle/gpu_run.sh      (see scripts/gpu_run.sh and README.md, "CUDA backend")
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
archs=${PKPO_GPU_ARCHS:-80-real;90-real}
build=$root/build-gpu/build
bundle=$root/build-gpu/bundle
limit_mib=48
jobs=$(nproc 2>/dev/null || echo 2)
[ "$jobs" -gt 2 ] || jobs=2
say() { echo "== gpu_prepare: $*"; }
die() { echo "gpu_prepare.sh: $*" >&2; exit 1; }

# ---- tools ----------------------------------------------------------------------------------------
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=$PATH:/usr/local/cuda/bin; fi
command -v nvcc >/dev/null || die "nvcc not found: the bundle needs the CUDA toolkit on this machine"
need=()
[ -f /usr/include/gtest/gtest.h ] || need+=(libgtest-dev)
command -v cmake >/dev/null || need+=(cmake)
command -v g++ >/dev/null || need+=(g++)
command -v ninja >/dev/null || need+=(ninja-build)
python3 -c "import ensurepip, venv" 2>/dev/null || need+=(python3-venv)
sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}"
fi
gtest_lib=$(ls /usr/lib/*/libgtest.a /usr/lib/libgtest.a 2>/dev/null | head -1 || true)
[ -n "$gtest_lib" ] || die "no static libgtest.a (libgtest-dev ships one on Debian/Ubuntu)"

# ---- the binaries -----------------------------------------------------------------------------------
mkdir -p "$root/build-gpu"
say "building test_cuda, bench_gpu and pkpo for $archs in $build"
gen=()
[ -f "$build/CMakeCache.txt" ] || { command -v ninja >/dev/null && gen=(-G Ninja); }
# CUDA::cudart_static everywhere (CMakeLists.txt); GoogleTest from the static libgtest.a.
cmake -S "$root" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DPKPO_CUDA=ON -DPKPO_CUDA_EMU=OFF \
      -DPKPO_BUILD_TESTS=ON -DPKPO_BUILD_BENCH=ON -DPKPO_BUILD_CLI=ON -DBUILD_SHARED_LIBS=OFF \
      "-DCMAKE_CUDA_ARCHITECTURES=$archs" > "$root/build-gpu/configure.log" ||
  { cat "$root/build-gpu/configure.log"; die "configure failed"; }
start=$SECONDS
cmake --build "$build" -j "$jobs" --target test_cuda bench_gpu
say "built in $(( SECONDS - start )) s"

# ---- the wheel -----------------------------------------------------------------------------------------
# A virtual environment of its own: pip and the build backend, whatever the system Python allows.
venv=$root/build-gpu/venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip > /dev/null
rm -rf "$bundle"
mkdir -p "$bundle/bin" "$bundle/data" "$bundle/bench" "$bundle/tests" "$bundle/debs"
say "building the wheel (CUDA backend for $archs) in build-gpu/wheel"
start=$SECONDS
"$venv/bin/python" -m pip wheel -q --no-deps -w "$bundle" -C build-dir="$root/build-gpu/wheel" \
  -C "cmake.define.CMAKE_CUDA_ARCHITECTURES=$archs" -C cmake.define.PKPO_CUDA=ON "$root"
say "wheel built in $(( SECONDS - start )) s: $(cd "$bundle" && ls pkpo-*.whl)"

# ---- the rest of the bundle ------------------------------------------------------------------------------
cp "$build/tests/cuda/test_cuda" "$build/bench/bench_gpu" "$bundle/bin/"
# host symbols and debug sections go (about 1 MiB); the kernels' line tables (-lineinfo) stay inside
# the fatbinary, which strip leaves alone
strip "$bundle"/bin/*
cp "$root/scripts/gpu_run.sh" "$bundle/"
cp "$root/examples/continuous.csv" "$bundle/data/"
cp "$root/bench/torch_peer.py" "$root/bench/pkpo_min.py" "$bundle/bench/"
mkdir -p "$bundle/tests/python"
cp -r "$root"/tests/python/*.py "$root/tests/python/fixtures" "$bundle/tests/python/"
say "downloading the GoogleTest packages for a build on the device"
(cd "$bundle/debs" && { apt-get download -q libgtest-dev googletest > /dev/null 2>&1 ||
   { $sudo_cmd apt-get update -qq && apt-get download -q libgtest-dev googletest > /dev/null; }; }) ||
  die "apt-get download libgtest-dev googletest failed"

# ---- checks: the shared libraries each binary needs, and the size ---------------------------------------
wheel_lib=$(mktemp -d)
trap 'rm -rf "$wheel_lib"' EXIT
python3 -m zipfile -e "$bundle"/pkpo-*.whl "$wheel_lib"
allowed='^(linux-vdso|ld-linux-x86-64|libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|libgomp|libcuda)\.so'
bad=0
{
  dirty=$(git -C "$root" status --porcelain -- src include tests bench scripts CMakeLists.txt 2>/dev/null)
  echo "commit: $(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)${dirty:+ (with uncommitted changes)}"
  echo "built: $(date -u '+%Y-%m-%d %H:%M UTC') on $(uname -n), $(ldd --version 2>&1 | head -1)"
  echo "nvcc: $(nvcc --version | tail -1)"
  echo "architectures: $archs"
  echo "tests: $("$bundle/bin/test_cuda" --gtest_list_tests | grep -c '^  ')"
} > "$bundle/manifest.txt"
for f in "$bundle"/bin/* $(find "$wheel_lib" -name 'libpkpo*.so*'); do
  libs=$(ldd "$f" | awk '{print $1}')
  glibc=$(objdump -T "$f" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
  cxx=$(objdump -T "$f" | grep -o 'GLIBCXX_[0-9.]*' | sort -uV | tail -1)
  echo "$(basename "$f"): $(du -h "$f" | cut -f1), needs $(echo $libs | tr ' ' ','); newest symbols $glibc ${cxx:-}" |
    tee -a "$bundle/manifest.txt"
  for l in $libs; do
    if ! [[ $l =~ $allowed ]] && [[ $l != /* ]]; then
      echo "gpu_prepare.sh: $(basename "$f") needs $l, which a bare GPU machine does not have" >&2
      bad=1
    fi
  done
done
[ $bad -eq 0 ] || die "a binary needs a shared library outside libc, libm, libstdc++, libgcc_s, libgomp and libcuda"
size_kib=$(du -sk "$bundle" | cut -f1)
echo "size: $(( size_kib / 1024 )) MiB ($size_kib KiB) of at most $limit_mib MiB" | tee -a "$bundle/manifest.txt"
[ "$size_kib" -le $(( limit_mib * 1024 )) ] || die "the bundle is larger than $limit_mib MiB"
say "bundle ready: $bundle"
cat "$bundle/manifest.txt"
