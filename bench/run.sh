#!/usr/bin/env bash
# bench/run.sh -- the one command for pkpo's benchmarks.
#
#   bench/run.sh [--quick] [--k K] [--jobs J]   (J: build jobs, default 2 without a GPU, nproc with)
#
# Builds pkpo (Release, shared library, own build folder build-bench/) with the benchmarks, then:
#   always          bench_cpu (CPU sweep, 1 and 2 threads; then --mixtures: harmonic(16) vs one k)
#                   and reference_numpy.py (the paper's Listing 1 structure in numpy vs pkpo's CPU
#                   backend);
#   with an NVIDIA  bench_gpu (copy roof, per-estimator sweep, CUB peer, latency plain vs graph)
#   GPU             and torch_peer.py (PyTorch-composed sloo_minus_one; installs torch with pip if
#                   missing and the network allows, else skips it with a message).
# Everything lands in bench/results/<YYYY-MM-DD>-<device-slug>[-quick]/: CSV files, logs, meta.txt,
# results.md (tables + targets met/missed with ratios) and throughput_*.png.
# Exit status: 0 when every step ran and validated, 1 otherwise (the report is written either way).
set -uo pipefail

QUICK=0
K=4
JOBS=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --k) K="$2"; shift ;;
    --jobs) JOBS="$2"; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${PKPO_BENCH_BUILD:-$ROOT/build-bench}"
PY="${PYTHON:-python3}"
slug() { tr '[:upper:]' '[:lower:]' | sed -e 's/([^)]*)//g' -e 's/[^a-z0-9]\+/-/g' -e 's/^-//' -e 's/-$//'; }

# ---- device ----
GPU=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  GPU=1
  DEVICE="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n1 | slug)"
else
  CPU_MODEL="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | slug)"
  DEVICE="cpu-${CPU_MODEL:-unknown}-$(nproc)c"
fi
DATE="$(date -u +%Y-%m-%d)"
# Not $OUT, which a calling script may use for its own results folder.
RESULTS="$ROOT/bench/results/$DATE-$DEVICE"
[[ $QUICK == 1 ]] && RESULTS="$RESULTS-quick"
mkdir -p "$RESULTS"
QFLAG=()
[[ $QUICK == 1 ]] && QFLAG=(--quick)
STATUS=0
fail() { echo "run.sh: $*" >&2; STATUS=1; }

# Build parallelism: 2 on a CPU-only box (shared 2-core development machines), all cores with a GPU.
[[ -z $JOBS ]] && { [[ $GPU == 1 ]] && JOBS="$(nproc)" || JOBS=2; }

# ---- python packages (tolerate no network) ----
if ! "$PY" -c 'import numpy, matplotlib' >/dev/null 2>&1; then
  "$PY" -m pip install --quiet --retries 1 --timeout 15 numpy matplotlib || echo "run.sh: pip could not install numpy/matplotlib" >&2
fi

# ---- build ----
CUDA_OPT=OFF
[[ $GPU == 1 ]] && CUDA_OPT=ON
BENCH_TARGETS=(pkpo bench_cpu)
[[ $GPU == 1 ]] && BENCH_TARGETS+=(bench_gpu)
echo "run.sh: building in $BUILD (PKPO_CUDA=$CUDA_OPT)" >&2
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON \
      -DPKPO_BUILD_BENCH=ON -DPKPO_BUILD_TESTS=OFF -DPKPO_BUILD_CLI=OFF -DPKPO_CUDA=$CUDA_OPT \
      > "$RESULTS/build.log" 2>&1 &&
  cmake --build "$BUILD" -j "$JOBS" --target "${BENCH_TARGETS[@]}" >> "$RESULTS/build.log" 2>&1 ||
  { tail -n 30 "$RESULTS/build.log" >&2; echo "run.sh: build failed (see $RESULTS/build.log)" >&2; exit 1; }
LIB="$BUILD/libpkpo.so"

# ---- meta ----
{
  echo "date (UTC): $(date -u '+%Y-%m-%d %H:%M:%S')"
  echo "device: $DEVICE"
  echo "command: bench/run.sh $([[ $QUICK == 1 ]] && echo --quick) --k $K"
  echo "git commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)"
  DIRTY="$(git -C "$ROOT" status --porcelain -- src include CMakeLists.txt 2>/dev/null | awk '{printf "%s ", $2}')"
  echo "uncommitted library changes built in: ${DIRTY:-none}"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores"
  echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "compiler: $(${CC:-cc} --version | head -n1)"
  [[ $GPU == 1 ]] && echo "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -n1)"
  [[ $GPU == 1 ]] && echo "nvcc: $(nvcc --version 2>/dev/null | tail -n1)"
  echo "python: $("$PY" -c 'import sys, numpy; print(sys.version.split()[0], "numpy", numpy.__version__)')"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "other busy processes at start: $(ps -eo pcpu=,comm= --sort=-pcpu | awk '$1 > 20 {printf "%s (%s%%) ", $2, $1}')"
} > "$RESULTS/meta.txt"

# ---- CPU ----
echo "run.sh: CPU sweep" >&2
"$BUILD/bench/bench_cpu" "${QFLAG[@]}" --k "$K" --machine "$DEVICE" --csv "$RESULTS/cpu_sweep.csv" \
  2> >(tee "$RESULTS/cpu_sweep.log" >&2) || fail "bench_cpu failed or did not validate"
echo "run.sh: CPU mixture over k vs one k" >&2
"$BUILD/bench/bench_cpu" "${QFLAG[@]}" --mixtures --k "$K" --machine "$DEVICE" \
  --csv "$RESULTS/cpu_mixture.csv" 2> >(tee "$RESULTS/cpu_mixture.log" >&2) ||
  fail "bench_cpu --mixtures failed or did not validate"
echo "run.sh: numpy reference" >&2
"$PY" "$ROOT/bench/reference_numpy.py" "${QFLAG[@]}" --k "$K" --lib "$LIB" --device "$DEVICE" \
  --out "$RESULTS/numpy_reference.csv" 2> >(tee "$RESULTS/numpy_reference.log" >&2) ||
  fail "reference_numpy.py failed or did not validate"

# ---- GPU ----
if [[ $GPU == 1 ]]; then
  echo "run.sh: GPU sweep" >&2
  "$BUILD/bench/bench_gpu" "${QFLAG[@]}" --k "$K" --device-slug "$DEVICE" --out "$RESULTS" \
    2> >(tee "$RESULTS/gpu.log" >&2) || fail "bench_gpu failed or did not validate"
  if ! "$PY" -c 'import torch' >/dev/null 2>&1; then
    "$PY" -m pip install --quiet --retries 1 --timeout 15 torch >/dev/null 2>&1 ||
      echo "run.sh: torch is missing and pip could not install it (no network?): torch peer skipped" >&2
  fi
  "$PY" "$ROOT/bench/torch_peer.py" "${QFLAG[@]}" --k "$K" --lib "$LIB" --device "$DEVICE" \
    --out "$RESULTS/torch_peer.csv" 2> >(tee "$RESULTS/torch_peer.log" >&2) ||
    fail "torch_peer.py failed or did not validate"
else
  echo "run.sh: no NVIDIA GPU found (nvidia-smi): GPU benchmarks skipped" >&2
fi

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$RESULTS/meta.txt"
"$PY" "$ROOT/bench/report.py" "$RESULTS" || fail "report.py failed"
echo "run.sh: results in $RESULTS" >&2
exit $STATUS
