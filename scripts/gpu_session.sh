#!/usr/bin/env bash
# Everything that needs a GPU, in one command, for a machine lent with one (H100/H200 class):
# the CUDA test suites, compute-sanitizer (memcheck, racecheck, synccheck, initcheck) and the
# benchmarks (copy roof, per-estimator sweep, CUB and PyTorch peers, latency, CPU comparison).
#
# The GPU machines of this workplace have no network, and may lack GoogleTest. Once, on the
# development machine, in the repository root:
#   echo /.debs/ >> .git/info/exclude
#   mkdir -p .debs && (cd .debs && apt-get download libgtest-dev googletest)
# then run through the device tool:  command "bash scripts/gpu_session.sh [checks|bench|all]",
# carry [".debs"]. One device command may run 10 minutes at most: run `checks` and `bench` as two
# calls if `all` does not fit.
# Results land in bench/results/<date>-<device>/ (checks/ holds the test and sanitizer logs with
# summary.txt); when $OUT is set (the device tool) they are also packed into $OUT/results.tar.gz.
# Commit that folder, with the summary quoted honestly.
set -u
cd "$(dirname "$0")/.."
part=${1:-all}
case "$part" in checks|bench|all) ;; *) echo "usage: gpu_session.sh [checks|bench|all]" >&2; exit 2;; esac
command -v nvidia-smi >/dev/null && nvidia-smi -L | grep -q GPU || {
  echo "gpu_session.sh: no NVIDIA GPU visible; nothing to do here" >&2
  exit 2
}
if [ ! -f /usr/include/gtest/gtest.h ]; then
  if ls .debs/*.deb >/dev/null 2>&1; then
    for f in .debs/*.deb; do dpkg -x "$f" /; done
  else
    echo "gpu_session.sh: GoogleTest is missing and no .debs/ was carried (see the header)" >&2
  fi
fi
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
export PYTHONUNBUFFERED=1

gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr '[:upper:]' '[:lower:]' |
      sed -e 's/nvidia//' -e 's/[^a-z0-9]\+/-/g' -e 's/^-//' -e 's/-$//')
dest=bench/results/$(date -u +%Y-%m-%d)-$gpu
mkdir -p "$dest"

checks_rc=0
bench_rc=0
if [ "$part" != bench ]; then
  echo "== CUDA tests + compute-sanitizer -> $dest/checks"
  bash tests/cuda/run_gpu_checks.sh "$dest/checks"
  checks_rc=$?
  cat "$dest/checks/summary.txt"
fi
if [ "$part" != checks ]; then
  echo "== benchmarks (bench/run.sh)"
  bash bench/run.sh
  bench_rc=$?
fi

if [ -n "${OUT:-}" ]; then
  # Both this script and bench/run.sh name their folders <today>-<device>.
  tar -czf "$OUT/results.tar.gz" bench/results/"$(date -u +%Y-%m-%d)"-*/
  echo "packed into \$OUT/results.tar.gz: $(ls -d bench/results/"$(date -u +%Y-%m-%d)"-*/)"
fi
echo "== checks exit $checks_rc, bench exit $bench_rc"
[ $checks_rc -eq 0 ] && [ $bench_rc -eq 0 ]
