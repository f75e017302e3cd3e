#!/usr/bin/env bash
# Tests of the device script (scripts/gpu_run.sh) on the emulated device, run by CI, so that the
# means of the first GPU lease keep working while no GPU comes:
#   1. a whole run (--emulated, blocks in a shuffled order): every step reported, the tests pass;
#   2. a run killed with SIGKILL in the middle of its tests (as a command past its limit is): the
#      summary.txt and logs.tgz left behind hold every step that finished, and the tests finished so far;
#   3. a run stopped with SIGTERM: the running step is reported as killed;
#   4. a run whose budget cannot hold the tests: they are not started, and the run ends in budget.
#   bash scripts/test_gpu_run.sh [BUILD]    (BUILD: the CMake build with test_cuda_emu, default build)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${1:-build}
out=$root/$build/gpu-run-test
rm -rf "$out"
mkdir -p "$out"
fails=0
check() { # check DESCRIPTION COMMAND...
  if "${@:2}"; then echo "   ok: $1"; else echo "   FAILED: $1"; fails=$(( fails + 1 )); fi
}
line() { grep -E "^$2 " "$1/summary.txt"; }
has_line() { line "$@" > /dev/null; }
status_of() { line "$1" "$2" | awk '{print $2}'; }
in_tgz() { tar -tzf "$1/logs.tgz" 2>/dev/null | grep -x "$2" > /dev/null; }

echo "== 1. a whole run on the emulated device"
order=${PKPO_EMU_BLOCK_ORDER:-shuffle:$(date -u +%Y%m%d)}
OUT=$out/full PKPO_EMU_BLOCK_ORDER=$order bash scripts/gpu_run.sh --emulated --build "$build" > "$out/full.log" 2>&1
rc=$?
cat "$out/full/summary.txt"
check "exit status 0 (was $rc)" test $rc -eq 0
for s in probe build start tests memcheck sync-race bench torch-peer initcheck cli python total; do
  check "summary.txt has a line for $s" has_line "$out/full" "$s"
done
check "the tests passed" test "$(status_of "$out/full" tests)" = pass
check "the sanitizers are reported as skipped" test "$(status_of "$out/full" memcheck)" = skipped
check "the block order is reported" grep -q "block order $order" "$out/full/summary.txt"
check "logs.tgz holds every test's log" test "$(tar -tzf "$out/full/logs.tgz" | grep -c '^logs/plain/.*\.log$')" -ge 40
check "\$OUT holds summary.txt and logs.tgz only" test "$(ls "$out/full" | tr '\n' ' ')" = "logs.tgz summary.txt "

echo "== 2. a run killed (SIGKILL) while its tests run"
mkdir -p "$out/killed"
OUT=$out/killed setsid bash scripts/gpu_run.sh --emulated --build "$build" > "$out/killed.log" 2>&1 &
pid=$!
finished=0
for _ in $(seq 1 600); do
  sleep 0.5
  finished=$(grep -E '^tests +running' "$out/killed/summary.txt" 2>/dev/null | grep -oE '[0-9]+ pass' |
             grep -oE '[0-9]+' || echo 0)
  [ "${finished:-0}" -ge 3 ] && break
done
kill -KILL -- -"$pid" 2>/dev/null
wait "$pid" 2>/dev/null
# The run's tests ran under timeout, each in a process group of its own, which SIGKILL of the run's
# group does not reach (on the GPU machine everything ends with the command): end them by id.
ps -o pid= -s "$pid" | xargs -r kill -KILL 2>/dev/null
cat "$out/killed/summary.txt"
check "killed after 3 or more tests had finished ($finished)" test "${finished:-0}" -ge 3
for s in probe build start; do
  check "the finished step $s is in summary.txt as passed" test "$(status_of "$out/killed" "$s")" = pass
  check "its log is in logs.tgz" in_tgz "$out/killed" "logs/$s.log"
done
check "the tests step is reported as running" test "$(status_of "$out/killed" tests)" = running
results=$(tar -tzf "$out/killed/logs.tgz" | grep -c '^logs/plain/.*\.result$')
check "logs.tgz holds the results of the finished tests ($results >= $finished)" test "$results" -ge "$finished"
check "logs.tgz is a whole archive" tar -tzf "$out/killed/logs.tgz" > /dev/null

echo "== 3. a run stopped (SIGTERM) while its tests run"
mkdir -p "$out/stopped"
OUT=$out/stopped setsid bash scripts/gpu_run.sh --emulated --build "$build" > "$out/stopped.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  sleep 0.5
  grep -qE '^tests +running' "$out/stopped/summary.txt" 2>/dev/null && break
done
sleep 2
kill -TERM "$pid"
wait "$pid"
rc=$?
cat "$out/stopped/summary.txt"
check "exit status 143 (was $rc)" test $rc -eq 143
check "the tests step is reported as killed" test "$(status_of "$out/stopped" tests)" = killed
sleep 1
check "no test process outlives the run" test -z "$(ps -o stat= -s "$pid" | grep -v '^Z')"

echo "== 4. a budget that cannot hold the tests"
start=$SECONDS
OUT=$out/budget PKPO_GPU_BUDGET_S=30 bash scripts/gpu_run.sh --emulated --build "$build" > "$out/budget.log" 2>&1
rc=$?
took=$(( SECONDS - start ))
cat "$out/budget/summary.txt"
check "exit status 0 (was $rc)" test $rc -eq 0
check "the tests were not started" bash -c "grep -qE '^tests +skipped +0  budget' '$out/budget/summary.txt'"
check "the run ended within its budget ($took s of 30)" test "$took" -le 30

[ $fails -eq 0 ] && echo "test_gpu_run.sh: all checks passed" || echo "test_gpu_run.sh: $fails check(s) FAILED"
[ $fails -eq 0 ]
