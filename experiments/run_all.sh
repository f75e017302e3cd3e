#!/usr/bin/env bash
# Runs pkpo's three toy experiments (see experiments/README.md). Usage, from anywhere:
#   experiments/run_all.sh            # all three
#   experiments/run_all.sh 1 3        # a subset
# Builds build-shared/libpkpo.so if it is missing (CPU only) and pip-installs numpy, scipy and
# matplotlib if they are missing. Every run is seeded: the CSVs are reproducible bit for bit on one
# machine (the figures up to the PNG encoder).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
PY="${PYTHON:-python3}"

if [[ -z "${PKPO_LIBRARY:-}" && ! -f "$REPO/build-shared/libpkpo.so" ]]; then
  echo "== building $REPO/build-shared/libpkpo.so"
  cmake -S "$REPO" -B "$REPO/build-shared" -DBUILD_SHARED_LIBS=ON -DPKPO_CUDA=OFF \
        -DPKPO_BUILD_TESTS=OFF -DPKPO_BUILD_CLI=OFF >/dev/null
  cmake --build "$REPO/build-shared" -j2
fi

if ! "$PY" -c "import numpy, scipy, matplotlib" 2>/dev/null; then
  echo "== pip install numpy scipy matplotlib"
  "$PY" -m pip install --quiet numpy scipy matplotlib
fi

echo "== binding check (python/test_pkpo.py)"
"$PY" "$REPO/python/test_pkpo.py"

which=("$@")
[[ ${#which[@]} -eq 0 ]] && which=(1 2 3)
for e in "${which[@]}"; do
  case "$e" in
    1) script=exp1_optimal_theta.py ;;
    2) script=exp2_gradient_variance.py ;;
    3) script=exp3_training_demo.py ;;
    *) echo "unknown experiment '$e' (1, 2 or 3)" >&2; exit 2 ;;
  esac
  echo "== experiment $e: $script"
  start=$(date +%s)
  (cd "$HERE" && "$PY" "$script")
  echo "== experiment $e took $(( $(date +%s) - start )) s"
done
