#!/usr/bin/env bash
# Throughput of `pkpo transform` on a large float32 NPY batch (default 10^7 rewards, groups of 16),
# the measurement quoted in the README. Generates the input with the Python standard library (seeded),
# runs the tool RUNS times under /usr/bin/time -v, and prints wall time, rows/s and peak memory.
#   bash examples/throughput.sh [PKPO_BINARY]        ROWS=100000000 RUNS=3 bash examples/throughput.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PKPO=${1:-build-run/src/cli/pkpo}
ROWS=${ROWS:-10000000}
GROUP=${GROUP:-16}
K=${K:-4}
RUNS=${RUNS:-5}
DIR=${DIR:-build-throughput}
mkdir -p "$DIR"
IN="$DIR/rewards_${ROWS}_f32.npy"
if [ ! -f "$IN" ]; then
  python3 - "$IN" "$ROWS" <<'PY'
import array, random, struct, sys
path, n = sys.argv[1], int(sys.argv[2])
random.seed(20251121)
h = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d,), }" % n
pad = (64 - (10 + len(h) + 1) % 64) % 64
hb = (h + " " * pad + "\n").encode()
with open(path, "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hb)) + hb)
    step = 1 << 20
    for i in range(0, n, step):
        array.array("f", (random.random() for _ in range(min(step, n - i)))).tofile(f)
PY
fi
echo "input: $IN ($(stat -c %s "$IN") bytes), group size $GROUP, k $K; $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$RUNS"); do
  /usr/bin/time -v "$PKPO" transform -k "$K" --group-size "$GROUP" "$IN" -o "$DIR/out.npy" 2>"$DIR/time.txt"
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/{print $2}' "$DIR/time.txt")
  secs=$(echo "$wall" | awk -F: '{s=0; for(i=1;i<=NF;i++) s=s*60+$i; print s}')
  rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$DIR/time.txt")
  user=$(awk -F': ' '/User time/{print $2}' "$DIR/time.txt")
  sys=$(awk -F': ' '/System time/{print $2}' "$DIR/time.txt")
  awk -v s="$secs" -v n="$ROWS" -v r="$rss" -v u="$user" -v y="$sys" 'BEGIN{
    printf "run: wall %.3f s  %.1f M rows/s  user %.2f s  sys %.2f s  peak RSS %.1f MiB\n", s, n/s/1e6, u, y, r/1024}'
done
