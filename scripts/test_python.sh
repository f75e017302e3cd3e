#!/usr/bin/env bash
# The Python package's tests, as a user gets the package: build a wheel (pip wheel .), install it
# into a fresh virtual environment, run tests/python with pytest from outside the source tree.
#   bash scripts/test_python.sh
#   PKPO_WHEEL=dist/pkpo-...whl bash scripts/test_python.sh    tests that wheel instead of building one
# torch, jax: their tests run when they are installed in that (clean) environment: with CI=true or
# PKPO_TEST_TORCH=1 they are pip-installed into it (torch: about 2 minutes and 5 GB from
# PyPI, measured 2026-11-25 on the 2-core dev VM; jax: 30 s). Called by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
PY="${PYTHON:-python3}"
out="$root/build-python"
rm -rf "$out/venv" "$out/wheel"
mkdir -p "$out"

if ! "$PY" -m venv --help >/dev/null 2>&1 || ! "$PY" -c "import ensurepip" 2>/dev/null; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq python3-venv
fi
"$PY" -m venv "$out/venv"  # clean: only the wheel and what is installed below
vpy="$out/venv/bin/python"
"$vpy" -m pip install -q --upgrade pip >/dev/null

if [ -n "${PKPO_WHEEL:-}" ]; then
  echo "== the wheel \$PKPO_WHEEL names (CI: the manylinux wheel of scripts/build_wheel.sh)"
  mkdir -p "$out/wheel" && cp "$PKPO_WHEEL" "$out/wheel/"
else
  echo "== pip wheel . (builds libpkpo and the pkpo tool with CMake through scikit-build-core)"
  start=$(date +%s)
  "$vpy" -m pip wheel -q --no-deps -w "$out/wheel" "$root"
  echo "   built $(ls "$out/wheel") in $(( $(date +%s) - start )) s"
fi

echo "== install the wheel into the fresh environment"
"$vpy" -m pip install -q "$out"/wheel/pkpo-*.whl numpy pytest
if [ "${CI:-}" = "true" ] || [ "${PKPO_TEST_TORCH:-0}" = "1" ]; then
  if ! "$vpy" -c "import torch, jax" 2>/dev/null; then
    echo "== pip install torch jax (for the torch, torch.distributed and JAX tests)"
    start=$(date +%s)
    "$vpy" -m pip install -q torch jax
    echo "   installed in $(( $(date +%s) - start )) s"
  fi
fi
"$vpy" -c "import pkpo, sys; print('   pkpo', pkpo.__version__, 'from', pkpo.library_path()); \
sys.exit(0 if pkpo.library_path().startswith('$out/venv') else 1)"

# The package's CUDA path against the emulated device (tests/python/test_cuda_emulated.py), when
# scripts/test.sh has built it.
if [ -f "$root/build/tests/cuda/emu/libpkpo_emu.so" ]; then
  export PKPO_EMU_LIBRARY="$root/build/tests/cuda/emu/libpkpo_emu.so"
fi

echo "== pytest tests/python"
cd "$out"  # outside the source tree: the installed package is the one imported
"$vpy" -m pytest -q -p no:cacheprovider "$root/tests/python"
