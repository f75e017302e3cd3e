"""pkpo.transform called between torch operations in one process, as inside a trainer.

Prints, for a verl-sized batch (G prompts x n samples, float32 rewards, uid strings or a 2-D array),
the per-call time of pkpo.transform on the CPU when the process also runs torch matmuls, with pkpo's
default thread count, and the grouping time of the uid strings alone.
    python3 bench/python_in_trainer.py [--groups 4096] [--n 8] [--reps 50]
"""

import argparse
import os
import platform
import statistics
import time
import uuid

import numpy as np
import torch

import pkpo
from pkpo import _grouping


def timed(fn, reps):
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1e3, min(ts) * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", type=int, default=4096)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--reps", type=int, default=50)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    G, n = a.groups, a.n
    uids = np.array([str(uuid.UUID(int=int(rng.integers(0, 2**62)))) for _ in range(G)],
                    dtype=object).repeat(n)
    perm = rng.permutation(G * n)
    ids = uids[perm]
    r = torch.rand(G * n)
    r2 = r.reshape(G, n)
    x = torch.randn(512, 512)
    print("date %s, %s, %d cores, torch %s (%d intra-op threads), pkpo %s, OMP_NUM_THREADS=%s"
          % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), platform.processor() or
             platform.machine(), os.cpu_count(), torch.__version__, torch.get_num_threads(),
             pkpo.__version__, os.environ.get("OMP_NUM_THREADS", "unset")))
    print("batch: %d groups x %d samples = %d float32 rewards" % (G, n, G * n))

    def torch_work():
        for _ in range(4):
            x @ x

    pkpo.transform(r2, k=4)  # creates the handle
    rows = [
        ("grouping %d uid strings (no transform)" % (G * n), lambda: _grouping.codes_and_labels(ids)),
        ("transform [G, n], alone", lambda: pkpo.transform(r2, k=4)),
        ("transform [G, n], after torch matmuls", lambda: (torch_work(), pkpo.transform(r2, k=4))),
        ("torch matmuls alone (reference)", torch_work),
        ("transform 1-D + uid strings, alone", lambda: pkpo.transform(r, ids, k=4)),
    ]
    for name, fn in rows:
        med, mn = timed(fn, a.reps)
        print("  %-46s median %8.3f ms   min %8.3f ms" % (name, med, mn))
    # The pkpo call alone, timed right after torch's threads were busy (what a trainer sees).
    ts = []
    for _ in range(a.reps):
        torch_work()
        t = time.perf_counter()
        pkpo.transform(r2, k=4)
        ts.append(time.perf_counter() - t)
    print("  %-46s median %8.3f ms   min %8.3f ms" % ("transform [G, n], timed right after torch work",
                                                     statistics.median(ts) * 1e3, min(ts) * 1e3))


if __name__ == "__main__":
    main()
