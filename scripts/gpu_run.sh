#!/usr/bin/env bash
# gpu_run.sh -- every check of the CUDA backend that needs a GPU, in priority order, inside a time
# budget, from a bundle that scripts/gpu_prepare.sh built on another machine (the GPU machine needs
# no network, no package and no build):
#
#   bash scripts/gpu_run.sh [--bundle DIR]            on a GPU machine (DIR: build-gpu/bundle, or the
#                                                     folder of this script when it runs from a bundle)
#   bash scripts/gpu_run.sh --emulated [--build DIR]  the same sequence on the emulated device
#                                                     (tests/cuda/emu; DIR: the CMake build, default build)
#
# Steps, most important first: probe (GPU, driver, toolkit, compute-sanitizer, Python, torch) ->
# start (can the prebuilt test binary run; if not, build on the device: Ninja when present, sm_90,
# GoogleTest from the bundle's .debs unpacked under /tmp) -> tests (every device test in its own
# process, so that a sticky CUDA error ends one test only; several at a time) -> compute-sanitizer
# memcheck (every test but the largest) -> synccheck and racecheck (a subset) -> bench (copy
# bandwidth; the warp path at n = 4..64, the group path at 256..4096, the large path at 65536; graph
# replay at G = 1024, n = 16; the CUB peer) -> torch-peer -> initcheck (the subset) -> cli -> python.
# A tool the machine refuses (compute-sanitizer's "Device not supported") is a reported skip.
#
# Budget: PKPO_GPU_BUDGET_S seconds (default 480) for the whole run. Every command runs under
# `timeout -k 5`, and no step starts that the remaining budget cannot hold. Results: $OUT/summary.txt
# (one line per step: name, pass/fail/skipped, seconds, key numbers) and $OUT/logs.tgz (every log and
# CSV), both rewritten after every step and every test, so a run killed at any moment returns what
# finished. $OUT defaults to build-gpu/run (or gpu-run-emulated/ in the build folder).
# Exit status: 0 if no step failed.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mode=gpu
bundle=""
build=""
while [ $# -gt 0 ]; do
  case "$1" in
    --emulated) mode=emulated ;;
    --bundle) bundle=$2; shift ;;
    --build) build=$2; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "gpu_run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# The source tree (for the emulated suite and the fallback build): the repository around this script
# or around the bundle (build-gpu/bundle inside a checkout).
root=""
for c in "$here/.." "$here/../.." "$PWD"; do
  if [ -f "$c/CMakeLists.txt" ] && [ -d "$c/src/cuda" ]; then root=$(cd "$c" && pwd); break; fi
done
if [ -z "$bundle" ]; then
  if [ -f "$here/manifest.txt" ]; then bundle=$here; else bundle=${root:-.}/build-gpu/bundle; fi
fi
bundle=$(cd "$bundle" 2>/dev/null && pwd || echo "$bundle")
[ -n "$build" ] || build=${root:-.}/build
if [ -z "${OUT:-}" ]; then
  if [ $mode = gpu ]; then OUT=$(dirname "$bundle")/run; else OUT=$build/gpu-run-emulated; fi
fi
mkdir -p "$OUT" || exit 2
OUT=$(cd "$OUT" && pwd)

budget=${PKPO_GPU_BUDGET_S:-480}
kill_grace=5                 # timeout -k
margin=${PKPO_GPU_MARGIN_S:-8} # kept back for the last summary and archive
jobs=${PKPO_GPU_JOBS:-$([ $mode = gpu ] && echo 4 || nproc 2>/dev/null || echo 2)}
work=$(mktemp -d "${TMPDIR:-/tmp}/pkpo-gpu-run.XXXXXX")
logs=$work/logs
mkdir -p "$logs" "$work/pids"
t0=$SECONDS
started=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
: > "$work/steps.txt"
current=""
step_t0=$SECONDS
deadline=$SECONDS
failed=0

remaining() { echo $(( budget - (SECONDS - t0) )); }
one_line() { tr '\n' ' ' | tr -s ' ' | cut -c1-"${1:-300}"; }
# has_status FILE STATUS...: a row of the results table (TEST STATUS SECONDS DETAIL) has one of them.
has_status() {
  local f=$1
  shift
  awk -F'\t' -v want="$*" 'BEGIN {split(want, w, " ")} {for (i in w) if ($2 == w[i]) found = 1}
                           END {exit !found}' "$f"
}

# ---- results: summary.txt and logs.tgz, written whole and renamed into place ------------------------

publish() {
  {
    echo "pkpo device run ($mode), started $started, budget ${budget} s, $(( SECONDS - t0 )) s used"
    [ -f "$work/header.txt" ] && cat "$work/header.txt"
    printf '%-12s %-8s %6s  %s\n' step status seconds "key numbers"
    cat "$work/steps.txt"
    if [ -n "$current" ]; then
      printf '%-12s %-8s %6s  %s\n' "$current" running "$(( SECONDS - step_t0 ))" "$(cat "$work/progress.txt" 2>/dev/null)"
    fi
  } > "$OUT/summary.txt.tmp" && mv -f "$OUT/summary.txt.tmp" "$OUT/summary.txt"
  cp -f "$OUT/summary.txt" "$logs/summary.txt"
  tar -C "$work" -czf "$OUT/logs.tgz.tmp" logs 2>/dev/null && mv -f "$OUT/logs.tgz.tmp" "$OUT/logs.tgz"
}

record() { # record NAME STATUS SECONDS KEY
  printf '%-12s %-8s %6s  %s\n' "$1" "$2" "$3" "$4" >> "$work/steps.txt"
  [ "$2" = fail ] && failed=1
  return 0
}

on_signal() {
  trap '' TERM INT HUP
  [ -n "$current" ] && record "$current" killed $(( SECONDS - step_t0 )) "$(cat "$work/progress.txt" 2>/dev/null)"
  current=""
  publish
  # What still runs: every timed command's process group, then this script's jobs.
  local p
  for p in $(ls "$work/pids" 2>/dev/null); do kill -TERM -- "-$p" 2>/dev/null; done
  for p in $(jobs -p); do kill "$p" 2>/dev/null; done
  exit 143
}
trap on_signal TERM INT HUP

# run_step NAME MIN WANT FUNCTION: FUNCTION runs with a deadline of at most WANT seconds (less if the
# budget holds less), and not at all if the budget cannot hold MIN. It sets status and key.
run_step() {
  local name=$1 min=$2 want=$3 fn=$4 left
  left=$(( $(remaining) - kill_grace - margin ))
  if [ "$left" -lt "$min" ]; then
    record "$name" skipped 0 "budget: ${left} s left, the step needs ${min} s"
    publish
    return
  fi
  [ "$want" -gt "$left" ] && want=$left
  step_t0=$SECONDS
  deadline=$(( SECONDS + want ))
  current=$name
  status=pass
  key=""
  : > "$work/progress.txt"
  publish
  "$fn" > "$logs/$name.log" 2>&1
  current=""
  record "$name" "$status" $(( SECONDS - step_t0 )) "$key"
  publish
}

# timed SECONDS COMMAND...: the command under `timeout -k`, which runs it in a process group of its
# own; waited for in the background, so that a signal to this script is handled at once (on_signal
# stops every such group).
timed() {
  local t=$1 p rc
  shift
  timeout -k "$kill_grace" "$t" "$@" &
  p=$!
  : > "$work/pids/$p"
  wait "$p"
  rc=$?
  rm -f "$work/pids/$p"
  return $rc
}
# Seconds left before the running step's deadline, at most $1.
until_deadline() { local d=$(( deadline - SECONDS )); [ "$d" -gt "$1" ] && d=$1; [ "$d" -lt 1 ] && d=1; echo "$d"; }
tmo() { # tmo SECONDS COMMAND...: timed, cut to the step's deadline
  local t
  t=$(until_deadline "$1")
  shift
  timed "$t" "$@"
}

# ---- tools ------------------------------------------------------------------------------------------

if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=$PATH:/usr/local/cuda/bin; fi
sanitizer=$(command -v compute-sanitizer || true)
for c in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer; do
  [ -z "$sanitizer" ] && [ -x "$c" ] && sanitizer=$c
done
sanitizer_refused=""
sanitizer_ok=0
py=${PYTHON:-python3}
if [ $mode = gpu ]; then
  bin_test=$bundle/bin/test_cuda
  bin_bench=$bundle/bin/bench_gpu
  bin_cli=$work/site/pkpo/bin/pkpo # the wheel's tool, installed by install_wheel
else
  bin_test=$build/tests/cuda/test_cuda_emu
fi
site=$work/site # the wheel, unpacked by pip

# ---- test pools ----------------------------------------------------------------------------------------

# Every test of the binary, Suite.Name per line.
list_tests() { "$bin_test" --gtest_list_tests 2>/dev/null | awk '/^[^ ]/ {s=$1} /^  [^ ]/ {print s $1}'; }

# run_one KIND TEST SECONDS: one test in its own process (KIND: plain or a compute-sanitizer tool);
# writes its log and one result line "TEST STATUS SECONDS DETAIL".
run_one() {
  local kind=$1 t=$2 secs=$3 dir=$logs/$1 rc s0=$SECONDS st detail=""
  local cmd=("$bin_test" "--gtest_filter=$t")
  case $kind in
    memcheck) cmd=("$sanitizer" --tool memcheck --leak-check full --error-exitcode 99 "${cmd[@]}") ;;
    racecheck|synccheck|initcheck) cmd=("$sanitizer" --tool "$kind" --error-exitcode 99 "${cmd[@]}") ;;
  esac
  timed "$secs" "${cmd[@]}" > "$dir/$t.log" 2>&1
  rc=$?
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    st=timeout; detail="over ${secs} s"
  elif [ $rc -eq 99 ]; then
    st=fail; detail=$(grep -m1 "ERROR SUMMARY" "$dir/$t.log" | one_line 80)
  elif [ $rc -ne 0 ]; then
    st=fail; detail="exit $rc: $(grep -m1 -E 'Failure|error|Error|FAILED' "$dir/$t.log" | one_line 120)"
  elif grep -q '^\[  SKIPPED \] 1 test' "$dir/$t.log"; then
    st=skipped; detail=$(grep -m1 -A1 ': Skipped$' "$dir/$t.log" | tail -1 | one_line 100)
  elif grep -q '^\[  PASSED  \] 1 test' "$dir/$t.log"; then
    st=pass
  else
    st=fail; detail="no test ran"
  fi
  printf '%s\t%s\t%s\t%s\n' "$t" "$st" $(( SECONDS - s0 )) "$detail" > "$dir/$t.result"
}

# pool KIND SECONDS_PER_TEST TESTS...: up to $jobs tests at a time; a test starts only while the
# step's deadline holds its timeout (the longest test first, so that it starts early). Sets key.
pool() {
  local kind=$1 per=$2 running=0 t secs done_n total
  shift 2
  mkdir -p "$logs/$kind"
  total=$#
  for t in "$@"; do
    while [ "$running" -ge "$jobs" ]; do
      wait -n; running=$(( running - 1 ))
      pool_progress "$kind" "$total"
    done
    secs=$per
    [ $mode = gpu ] && [ "$t" = Cuda.MoreThan2To31Rewards ] && secs=$(( per * 2 ))
    if [ $(( deadline - SECONDS )) -lt $(( secs + kill_grace )) ]; then
      printf '%s\tnot-run\t0\tbudget\n' "$t" > "$logs/$kind/$t.result"
      continue
    fi
    run_one "$kind" "$t" "$secs" &
    running=$(( running + 1 ))
  done
  while [ "$running" -gt 0 ]; do
    wait -n; running=$(( running - 1 ))
    pool_progress "$kind" "$total"
  done
  cat "$logs/$kind"/*.result 2>/dev/null | sort > "$logs/$kind.tsv"
  done_n=$(wc -l < "$logs/$kind.tsv")
  key=$(pool_key "$kind" "$total")
  if has_status "$logs/$kind.tsv" fail timeout; then status=fail; fi
  [ "$done_n" -eq 0 ] && status=fail
  return 0
}

pool_key() { # pool_key KIND TOTAL: "N tests: a pass, b fail (names), ..."
  local f=$logs/$1.tsv s out=""
  [ -f "$f" ] || f=/dev/null
  out="$2 tests:"
  for s in pass fail timeout skipped not-run; do
    local names n
    n=$(awk -F'\t' -v s=$s '$2 == s' "$f" | wc -l)
    [ "$n" -eq 0 ] && continue
    names=""
    if [ $s != pass ]; then
      names=$(awk -F'\t' -v s=$s '$2 == s {print $1 ($4 != "" ? ": " $4 : "")}' "$f" | head -4 | paste -sd ';')
      names=" (${names:0:240})"
    fi
    out="$out $n $s$names,"
  done
  echo "${out%,}"
}

pool_progress() {
  cat "$logs/$1"/*.result 2>/dev/null | sort > "$logs/$1.tsv"
  pool_key "$1" "$2" > "$work/progress.txt"
  publish
}

# The subset for the slower compute-sanitizer tools: each kernel family at moderate sizes.
subset=(Cuda.TiesSignsAndSumsOnEveryPath Cuda.RaggedMixedAgainstOracleAndCpu Cuda.LargePathFourWayMerges
        Cuda.LargeUniformGroupActions Cuda.RhoCurveEqualsCpu Cuda.GroupByIdEqualsCpu Cuda.GraphCaptureAndReplay)
# Too large for the sanitizers (minutes each, or 40 GB).
heavy='^Cuda\.(MoreThan2To31Rewards|OneGroupOf2To20|UniformSweepAgainstOracleAndCpu)$'
# Minutes each on the emulated device, where they run in ctest instead.
emu_slow='^Cuda\.(UniformSweepAgainstOracleAndCpu|LargeUniformFoldTwoTilesPerThread)$'

# ---- the steps ---------------------------------------------------------------------------------------

step_probe() {
  local gpu="" drv="" cs="" torch="" nv
  nv=$(nvcc --version 2>/dev/null | tail -1)
  echo "== host"; uname -a; nproc; ldd --version 2>&1 | head -1
  echo "== bundle"; cat "$bundle/manifest.txt" 2>/dev/null || echo "(no manifest at $bundle)"
  echo "== nvcc"; echo "${nv:-none}"
  if [ $mode = gpu ]; then
    echo "== nvidia-smi"; tmo 30 nvidia-smi || true
    gpu=$(tmo 30 nvidia-smi --query-gpu=name,memory.total,compute_cap --format=csv,noheader 2>/dev/null | head -1)
    drv=$(tmo 30 nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)
    echo "== compute-sanitizer"; [ -n "$sanitizer" ] && tmo 30 "$sanitizer" --version
    cs=$([ -n "$sanitizer" ] && "$sanitizer" --version 2>/dev/null | grep -o 'Version [0-9.]*' | head -1)
    echo "== python"; tmo 60 "$py" -c 'import sys, numpy; print(sys.version.split()[0], "numpy", numpy.__version__)'
    torch=$(tmo 60 "$py" -c 'import torch; print(torch.__version__, "cuda", torch.cuda.is_available())' 2>/dev/null)
    [ -n "$gpu" ] || { status=fail; gpu="no GPU visible to nvidia-smi"; }
    key="$gpu; driver ${drv:-?}; compute-sanitizer ${cs:-none}; torch ${torch:-none}"
  else
    echo "== emulated device: $bin_test; PKPO_EMU_BLOCK_ORDER=${PKPO_EMU_BLOCK_ORDER:-index}"
    key="emulated device ($(uname -m), $(nproc) cores), block order ${PKPO_EMU_BLOCK_ORDER:-index}"
  fi
  {
    echo "bundle: $(grep -m1 '^commit' "$bundle/manifest.txt" 2>/dev/null || echo none)"
    echo "machine: $(uname -n), $(nproc) cores; ${gpu:-emulated device}; driver ${drv:--}; ${nv:-no nvcc}"
  } > "$work/header.txt"
  echo "$key"
}

step_build_emulated() {
  if [ ! -f "$build/CMakeCache.txt" ]; then
    tmo 120 cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DPKPO_CUDA=OFF -DPKPO_BUILD_CLI=OFF || status=fail
  fi
  [ $status = pass ] && { tmo 100000 cmake --build "$build" -j "$(nproc)" --target test_cuda_emu || status=fail; }
  key="$bin_test"
  [ -x "$bin_test" ] || { status=fail; key="no $bin_test"; }
}

# Can the prebuilt binary start, and does it see the device?
cannot_start=0
step_start() {
  local n smoke
  if ! tmo 60 "$bin_test" --gtest_list_tests > "$logs/test_list.txt" 2>&1; then
    status=fail
    cannot_start=1
    key="$(basename "$bin_test") cannot start: $(head -3 "$logs/test_list.txt" | one_line 200)"
    return
  fi
  n=$(list_tests | wc -l)
  smoke=$(tmo 60 "$bin_test" --gtest_filter=Cuda.IsolationNaNInOneGroup 2>&1)
  echo "$smoke"
  if grep -q '^\[  PASSED  \] 1 test' <<< "$smoke"; then
    key="$(basename "$bin_test") runs ($n tests), Cuda.IsolationNaNInOneGroup passes"
  else
    status=fail
    key="$(basename "$bin_test") lists $n tests, but Cuda.IsolationNaNInOneGroup:"
    key="$key $(grep -m1 -E 'Skipped|Failure|error' -A1 <<< "$smoke" | one_line 160)"
  fi
}

# Only when the prebuilt binary cannot start: build it here, sm_90 only.
step_build_on_device() {
  local gt=/tmp/pkpo-gtest b=/tmp/pkpo-device-build gen=() cfg
  [ -n "$root" ] || { status=fail; key="no source tree next to the bundle"; return; }
  mkdir -p "$gt"
  for d in "$bundle"/debs/*.deb; do [ -f "$d" ] && dpkg -x "$d" "$gt"; done
  cfg=$(find "$gt" -name GTestConfig.cmake | head -1)
  command -v ninja >/dev/null && gen=(-G Ninja)
  tmo 120 cmake -S "$root" -B "$b" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DPKPO_CUDA=ON -DPKPO_CUDA_EMU=OFF \
    -DPKPO_BUILD_BENCH=ON -DCMAKE_CUDA_ARCHITECTURES=90-real ${cfg:+-DGTest_DIR="$(dirname "$cfg")"} || status=fail
  [ $status = pass ] && { tmo 100000 cmake --build "$b" -j "$(nproc)" --target test_cuda bench_gpu pkpo_cli || status=fail; }
  if [ $status = pass ] && [ -x "$b/tests/cuda/test_cuda" ]; then
    bin_test=$b/tests/cuda/test_cuda bin_bench=$b/bench/bench_gpu bin_cli=$b/src/cli/pkpo
    key="built on the device (sm_90) in $b"
  else
    status=fail; key="the build on the device failed (see build.log)"
  fi
}

step_tests() {
  local tests
  list_tests > "$logs/tests.txt"
  mapfile -t tests < <(grep -vxF Cuda.MoreThan2To31Rewards "$logs/tests.txt")
  [ $mode = emulated ] && mapfile -t tests < <(printf '%s\n' "${tests[@]}" | grep -vE "$emu_slow")
  # the longest first
  if grep -qxF Cuda.MoreThan2To31Rewards "$logs/tests.txt"; then tests=(Cuda.MoreThan2To31Rewards "${tests[@]}"); fi
  pool plain "$([ $mode = gpu ] && echo 100 || echo 200)" "${tests[@]}"
  # On a GPU, a test that skips for want of a device means the device was not usable.
  if [ $mode = gpu ] && grep -q 'no CUDA device visible' "$logs/plain.tsv"; then status=fail; fi
}

# Runs the tool on one small test first: a refusal skips this and every later sanitizer step.
sanitizer_usable() {
  local out
  if [ $mode = emulated ]; then status=skipped; key="emulated device: no compute-sanitizer"; return 1; fi
  if [ -z "$sanitizer" ]; then status=skipped; key="compute-sanitizer not installed"; return 1; fi
  if [ -n "$sanitizer_refused" ]; then status=skipped; key=$sanitizer_refused; return 1; fi
  [ $sanitizer_ok = 1 ] && return 0
  out=$(tmo 90 "$sanitizer" --tool memcheck "$bin_test" --gtest_filter=Cuda.IsolationNaNInOneGroup 2>&1)
  echo "$out"
  if grep -qiE 'device not supported|not supported on this|unable to (open|attach|initialize)|error 999' <<< "$out"; then
    sanitizer_refused="compute-sanitizer refused: $(grep -m1 -iE 'not supported|unable|999' <<< "$out" | one_line 120)"
    status=skipped; key=$sanitizer_refused
    return 1
  fi
  sanitizer_ok=1
}

step_memcheck() {
  local tests
  sanitizer_usable || return
  mapfile -t tests < <(list_tests | grep -vE "$heavy")
  pool memcheck 150 "${tests[@]}"
}

step_sync_race() {
  sanitizer_usable || return
  local k1
  pool synccheck 120 "${subset[@]}"
  k1=$key
  pool racecheck 150 "${subset[@]}" # status stays fail if synccheck failed
  key="synccheck $k1; racecheck $key"
}

step_initcheck() {
  sanitizer_usable || return
  pool initcheck 120 "${subset[@]}"
}

# The pairs of a CSV column list, for the summary: "n=4 62%, n=8 71%".
bench_key() {
  local d=$logs/bench copy lat
  copy=$(awk -F, 'NR == 2 {printf "%.0f", $6}' "$d/gpu_copy.csv" 2>/dev/null)
  lat=$(awk -F, '$8 ~ /graph/ {printf "%s %s us, ", $8, $10}' "$d/gpu_latency.csv" 2>/dev/null)
  # gpu_sweep.csv: n in column 5, the fraction of the copy roofline in 14, valid in 16
  fractions() { awk -F, -v impl="$1" '$2 == impl && $16 == "ok" {printf "n=%s %.0f%%, ", $5, 100 * $14}' "$d/gpu_sweep.csv"; }
  echo "copy ${copy:-?} GB/s; sloo_minus_one fraction of copy: $(fractions pkpo 2>/dev/null)cub $(fractions cub 2>/dev/null)"\
       "G=1024 n=16 ${lat%, }"
}

step_bench() {
  if [ $mode = emulated ]; then status=skipped; key="emulated device: no timings"; return; fi
  mkdir -p "$logs/bench"
  local slug
  slug=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | tr '[:upper:]' '[:lower:]' |
         sed -e 's/nvidia//' -e 's/[^a-z0-9]\+/-/g' -e 's/^-//' -e 's/-$//')
  tmo 600 "$bin_bench" --quick --out "$logs/bench" --device-slug "${slug:-gpu}" --estimators sloo_minus_one \
    --n 4,8,16,32,64,256,512,1024,2048,4096,65536 --latency 1024:16 2> "$logs/bench/bench_gpu.log" || status=fail
  cat "$logs/bench/bench_gpu.log"
  key=$(tail -1 "$logs/bench/bench_gpu.log" | one_line 200)
  [ -s "$logs/bench/gpu_copy.csv" ] && key=$(bench_key)
}

install_wheel() {
  [ -d "$site/pkpo" ] && return 0
  "$py" -m pip install -q --no-index --no-deps --no-compile --target "$site" "$bundle"/pkpo-*.whl
}

step_torch_peer() {
  if [ $mode = emulated ]; then status=skipped; key="emulated device: no timings"; return; fi
  if ! "$py" -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
    status=skipped; key="torch with CUDA not installed"; return
  fi
  install_wheel || { status=fail; key="the wheel does not install"; return; }
  mkdir -p "$logs/bench"
  tmo 600 env PYTHONUNBUFFERED=1 "$py" "$bundle/bench/torch_peer.py" --quick --lib "$site/pkpo/libpkpo.so" \
    --n 4,8,16,32,64,256,1024,4096,65536 --out "$logs/bench/torch_peer.csv" || status=fail
  key=$(awk -F, '$13 == "ok" {printf "n=%s %.0f, ", $5, $12}' "$logs/bench/torch_peer.csv" 2>/dev/null)
  key="torch sloo_minus_one GB/s: $key"
  key=${key%, }
}

step_cli() {
  if [ $mode = emulated ]; then status=skipped; key="emulated device: the CLI is built against the GPU library"; return; fi
  local a=$logs/cli_cuda.csv b=$logs/cli_cpu.csv
  install_wheel || { status=fail; key="the wheel does not install"; return; }
  tmo 60 "$bin_cli" transform -k 4 --device cuda "$bundle/data/continuous.csv" -o "$a" 2> "$logs/cli.err" || status=fail
  tmo 60 "$bin_cli" transform -k 4 --device cpu "$bundle/data/continuous.csv" -o "$b" 2>> "$logs/cli.err" || status=fail
  cat "$logs/cli.err"
  [ $status = pass ] || { key="pkpo transform failed: $(head -1 "$logs/cli.err" | one_line 160)"; return; }
  key=$("$py" - "$a" "$b" <<'EOF'
import csv, sys
a = list(csv.DictReader(open(sys.argv[1])))
b = list(csv.DictReader(open(sys.argv[2])))
d = max(abs(float(x["transformed"]) - float(y["transformed"])) for x, y in zip(a, b))
print("%d rows, max |cuda - cpu| = %.3g%s" % (len(a), d, "" if len(a) == len(b) and d <= 1e-9 else " (FAIL)"))
EOF
)
  case "$key" in *FAIL*|"") status=fail ;; esac
}

step_python() {
  if [ $mode = emulated ]; then
    status=skipped; key="emulated device: tests/python/test_cuda_emulated.py runs in CI instead"; return
  fi
  install_wheel || { status=fail; key="the wheel does not install"; return; }
  if ! "$py" -c 'import pytest' 2>/dev/null; then status=skipped; key="pytest not installed"; return; fi
  (cd "$work" && tmo 600 env PYTHONPATH="$site" "$py" -m pytest -q -p no:cacheprovider \
      "$bundle/tests/python/test_torch.py" "$bundle/tests/python/test_arrays.py") > "$logs/pytest.log" 2>&1 || status=fail
  cat "$logs/pytest.log"
  key=$(grep -E '[0-9]+ (passed|failed)' "$logs/pytest.log" | tail -1 | one_line 160)
}

# ---- the run -------------------------------------------------------------------------------------------

publish
run_step probe 5 60 step_probe
if [ $mode = emulated ]; then
  run_step build 10 "$budget" step_build_emulated
fi
run_step start 5 90 step_start
if [ $mode = gpu ] && [ $cannot_start = 1 ]; then
  run_step build 60 330 step_build_on_device
fi
run_step tests 20 300 step_tests
run_step memcheck 30 150 step_memcheck
run_step sync-race 30 120 step_sync_race
run_step bench 30 120 step_bench
run_step torch-peer 20 90 step_torch_peer
run_step initcheck 20 90 step_initcheck
run_step cli 5 30 step_cli
run_step python 10 90 step_python
record total "$([ $failed -eq 0 ] && echo pass || echo fail)" $(( SECONDS - t0 )) "of a ${budget} s budget; logs: logs.tgz"
publish
cat "$OUT/summary.txt"
rm -rf "$work"
exit $failed
