#!/usr/bin/env bash
# Runs pkpo's three toy experiments (see experiments/README.md). Usage, from anywhere:
#   experiments/run_all.sh            # all three
#   experiments/run_all.sh 1 3        # a subset
# pip-installs the pkpo package (pip install . of this repository), numpy, scipy and matplotlib if
# they are missing. Every run is seeded: the CSVs are reproducible bit for bit on one
# machine (the figures up to the PNG encoder).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
PY="${PYTHON:-python3}"

if ! "$PY" -c "import pkpo" 2>/dev/null; then
  echo "== pip install $REPO (the pkpo Python package)"
  "$PY" -m pip install --quiet "$REPO"
fi
if ! "$PY" -c "import numpy, scipy, matplotlib" 2>/dev/null; then
  echo "== pip install numpy scipy matplotlib"
  "$PY" -m pip install --quiet numpy scipy matplotlib
fi

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
