#!/usr/bin/env bash
# The wheel as a user without a compiler gets it (CI runs this after scripts/build_wheel.sh):
#   bash scripts/check_wheel.sh [WHEEL]        default: the manylinux wheel in dist/
# A fresh virtual environment; a PATH holding only its bin/ and a folder with links to sh and
# python, so no compiler, cmake or nvcc can be found (checked); the environment otherwise emptied
# (no LD_LIBRARY_PATH: the wheel's tool and library must find their libraries through RPATH).
# There, pip installs the wheel with --no-index (numpy from build-wheel/wheelhouse-pyXY, downloaded
# first), then tests/wheel/check_installed.py imports pkpo, computes, and runs `pkpo --version`
# and `pkpo transform` on examples/continuous.csv against the package.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
PY="${PYTHON:-python3}"
work="$root/build-wheel/check"

if [ $# -ge 1 ]; then
  wheel=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
else
  wheels=("$root"/dist/pkpo-*-manylinux_*_x86_64.whl)
  [ -f "${wheels[0]}" ] || { echo "check_wheel.sh: no wheel in dist/: run scripts/build_wheel.sh"; exit 1; }
  [ ${#wheels[@]} -eq 1 ] || { echo "check_wheel.sh: several wheels in dist/: name one"; exit 1; }
  wheel=${wheels[0]}
fi
echo "== $(basename "$wheel")"

# numpy for this Python, kept: a rerun needs no network
wheelhouse="$root/build-wheel/wheelhouse-$("$PY" -c 'import sys; print("py%d%d" % sys.version_info[:2])')"
if ! ls "$wheelhouse"/numpy-*.whl >/dev/null 2>&1; then
  "$PY" -m pip download -q --only-binary=:all: -d "$wheelhouse" "numpy>=1.23"
fi

rm -rf "$work"
mkdir -p "$work/tools" "$work/run"
if ! "$PY" -c "import ensurepip" 2>/dev/null; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq python3-venv
fi
"$PY" -m venv "$work/venv"  # pip from ensurepip: no network
ln -s "$(command -v sh)" "$work/tools/sh"
ln -s "$work/venv/bin/python" "$work/tools/python"

clean() {  # runs "$@" with only the venv and the links on PATH, nothing else inherited
  env -i HOME="$work/run" LANG=C.UTF-8 PATH="$work/venv/bin:$work/tools" \
      PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 "$@"
}

echo "== the PATH has no compiler"
clean sh -c 'for t in gcc cc c++ g++ clang cmake nvcc make ld; do
  if command -v "$t"; then echo "check_wheel.sh: $t is on the clean PATH"; exit 1; fi; done
  echo "   none of gcc cc c++ g++ clang cmake nvcc make ld found"'

echo "== pip install --no-index"
clean python -m pip install -q --no-index --find-links "$wheelhouse" "$wheel"
clean sh -c 'command -v pkpo' | sed 's/^/   pkpo command: /'

echo "== import, transform, rho_curve, pkpo --version, pkpo transform"
cd "$work/run"  # outside the source tree
clean python "$root/tests/wheel/check_installed.py" "$root/examples"
echo "== the wheel installs and runs without a compiler"
