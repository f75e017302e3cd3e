#!/usr/bin/env python3
"""The paper's reference algorithm (Walder & Karkhanis, arXiv 2505.15201, Listing 1 structure) in
numpy, validated against pkpo's CPU backend and timed against it on the same inputs.

The Listing 1 structure, written from docs/math.md §2 (not copied from the paper):
  * per-group argsort along the last axis of a [G, n] array;
  * binomial-product weights per entry, mu_i = C(i-1, k-1) / C(n, k), as a running product
    mu_{i-1} = mu_i (i-k)/(i-1) from mu_n = k/n (numpy cumprod), nu_j = mu_j (k-1)/(j-1);
  * cumulative sums: s(i) = mu_i g(i) + sum_{j>i} nu_j g(j) (reverse cumsum), and for
    sloo_minus_one the baseline (k/n) U_{k-1}(g without i) from a prefix and a suffix cumsum with
    the (n-1, k-1) weights; then a_i = s_i - baseline_i, scattered back to input order;
  * rho = sum_i mu_i g(i).
This is the "difference of two quantities of the rewards' size" form that docs/math.md §4 warns
about; here it runs in float64 on rewards in [0, 1), where it is accurate to ~1e-12, so the
comparison with pkpo's float32 outputs uses docs/math.md's float32 target (4e-6 * scale).

Two ways of running it are timed:
  numpy_ref   batched: one call on the whole [G, n] array (argsort along the last axis) -- the
              strongest numpy form;
  numpy_loop  as Listing 1 is written, a function of one group, called in a Python loop over the
              groups (what a trainer that pastes the listing does). Timed on the first
              min(G, 2^16 / n) groups (at least 1), reported per element.

Timing: median of several runs of each side on the same [G, n] float32 array (N ~ 2^22 elements;
2^18 with --quick), pkpo at 1 and 2 threads, into preallocated outputs (see pkpo_min.py).
Writes one CSV line per (implementation, estimator, n, threads).

Usage: reference_numpy.py --lib build-bench/libpkpo.so --out results/x/numpy_reference.csv
                          [--quick] [--k 4] [--device cpu-slug]
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pkpo_min  # noqa: E402

TOL_F32 = 4e-6  # docs/math.md §4, float32 outputs


def binomial_weights(n, k):
    """mu_i = C(i-1, k-1)/C(n, k) for i = 1..n (index i-1), by the running product from mu_n."""
    mu = np.zeros(n)
    if k < 1 or k > n:
        return mu
    i = np.arange(k + 1, n + 1, dtype=np.float64)           # i = k+1 .. n
    ratios = (i - k) / (i - 1)                               # mu_{i-1} / mu_i
    tail = (k / n) * np.concatenate(([1.0], np.cumprod(ratios[::-1])))  # mu_n, mu_{n-1}, .., mu_k
    mu[k - 1:] = tail[::-1]
    return mu


def rho_ref(g, k):
    """rho of every row of g [G, n]: sum_i mu_i g(i)."""
    n = g.shape[-1]
    srt = np.take_along_axis(g, np.argsort(g, axis=-1), axis=-1).astype(np.float64)
    return srt @ binomial_weights(n, k)


def sloo_minus_one_ref(g, k):
    """sloo_minus_one of every row of g [G, n] (k >= 2): s_i - (k/n) U_{k-1}(g without i)."""
    G, n = g.shape
    order = np.argsort(g, axis=-1)
    srt = np.take_along_axis(g, order, axis=-1).astype(np.float64)
    mu = binomial_weights(n, k)
    j = np.arange(1, n + 1, dtype=np.float64)
    nu = np.where(j >= 2, mu * (k - 1) / np.maximum(j - 1, 1), 0.0)
    # s(i) = mu_i g(i) + sum_{j>i} nu_j g(j)
    nug = srt * nu
    suffix = np.cumsum(nug[:, ::-1], axis=-1)[:, ::-1]       # sum_{j>=i}
    s = srt * mu + (suffix - nug)
    # U_{k-1}(g without rank i) = sum_{j<i} mu'_j g(j) + sum_{j>i} mu'_{j-1} g(j), mu' = (n-1, k-1)
    mup = binomial_weights(n - 1, k - 1)
    below = np.zeros((G, n))
    below[:, 1:] = np.cumsum(srt[:, :-1] * mup, axis=-1)
    above_terms = np.zeros((G, n))
    above_terms[:, 1:] = srt[:, 1:] * mup                   # rank j (>= 2) weighted by mu'_{j-1}
    above = np.cumsum(above_terms[:, ::-1], axis=-1)[:, ::-1] - above_terms
    a_sorted = s - (k / n) * (below + above)
    out = np.empty((G, n))
    np.put_along_axis(out, order, a_sorted, axis=-1)
    return out


def spec_error(est, g, k, got, exact):
    """docs/math.md §4 error per group: max |got - exact| / scale; max over groups."""
    g64 = g.astype(np.float64)
    n = g.shape[-1]
    if est == "rho":
        scale = np.max(np.abs(g64), axis=-1)                 # rho's own magnitude (bench_common.h)
        diff = np.abs(got.astype(np.float64) - exact)
    else:
        scale = (k / n) * (g64.max(axis=-1) - g64.min(axis=-1))
        diff = np.max(np.abs(got.astype(np.float64) - exact), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.where(scale > 0, diff / scale, np.where(diff == 0, 0.0, np.inf))
    return float(err.max())


def median_time(fn, runs):
    fn()  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), float(min(times))


def self_test():
    """docs/math.md worked example, g = (1/2, 0, 1, 1/4, 3/4)."""
    g = np.array([[0.5, 0, 1, 0.25, 0.75]], dtype=np.float32)
    want = {2: [3 / 40, 0, 1 / 4, 1 / 40, 3 / 20], 3: [1 / 40, 0, 1 / 4, 0, 1 / 10],
            4: [0, 0, 1 / 4, 0, 1 / 20], 5: [0, 0, 1 / 4, 0, 0]}
    rho = {1: 1 / 2, 2: 3 / 4, 3: 7 / 8, 4: 19 / 20, 5: 1.0}
    for k, w in want.items():
        assert np.allclose(sloo_minus_one_ref(g, k)[0], w, atol=1e-14), k
    for k, r in rho.items():
        assert abs(rho_ref(g, k)[0] - r) < 1e-14, k


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lib", default=os.environ.get("PKPO_LIBRARY"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--n", default="4,8,16,32,64,128,256,1024,4096,65536")
    ap.add_argument("--N", type=int, default=None)
    ap.add_argument("--runs", type=int, default=None)
    a = ap.parse_args()
    if a.k < 2:
        ap.error("--k must be >= 2 (sloo_minus_one at k = 1 follows a separate convention)")
    target = a.N or (1 << 18 if a.quick else 1 << 22)
    runs = a.runs or (3 if a.quick else 5)
    threads = [int(t) for t in a.threads.split(",")]
    self_test()
    lib = pkpo_min.load(a.lib)
    handles = {t: pkpo_min.CpuHandle(lib, t) for t in threads}
    print("reference_numpy: pkpo %s, numpy %s, k=%d, N~%d, runs=%d"
          % (lib.pkpo_version_string().decode(), np.__version__, a.k, target, runs),
          file=sys.stderr)
    failures = 0
    rng = np.random.default_rng(20251121)
    with open(a.out, "w") as f:
        f.write("device,impl,estimator,dtype,n,k,G,N,threads,runs,median_ms,min_ms,ns_per_elem,"
                "valid,max_err\n")
        for n in [int(v) for v in a.n.split(",")]:
            G = -(-target // n)
            N = G * n
            x = rng.random((G, n), dtype=np.float32)
            for est, ref in (("rho", rho_ref), ("sloo_minus_one", sloo_minus_one_ref)):
                h1 = handles[threads[0]]
                d = h1.desc(x, a.k, est)
                out = None if est == "rho" else np.empty_like(x)
                rho = np.empty(G, dtype=np.float32)
                h1.transform(d, x, out, rho)
                exact = ref(x, a.k)
                got = rho if est == "rho" else out
                err = spec_error(est, x, a.k, got, exact)
                row = "%s,%%s,%s,float32,%d,%d,%d,%d,%%d,%%d,%%s,%%s,%%s,%%s,%.3g\n" % (
                    a.device, est, n, min(a.k, n), G, N, err)
                if not err <= TOL_F32:
                    failures += 1
                    print("  VALIDATION FAILED %s n=%d: numpy reference and pkpo differ by %.3g * "
                          "scale (> %g) -- not timed" % (est, n, err, TOL_F32), file=sys.stderr)
                    f.write(row % ("numpy_ref", 1, 0, "", "", "", "FAIL"))
                    continue
                med, mn = median_time(lambda: ref(x, a.k), runs)
                f.write(row % ("numpy_ref", 1, runs, "%.6f" % (med * 1e3), "%.6f" % (mn * 1e3),
                               "%.3f" % (med * 1e9 / N), "ok"))
                line = "  %-15s n=%-6d numpy %9.2f ms" % (est, n, med * 1e3)
                # Listing 1 as written: one group per call, a Python loop over groups.
                Gs = max(1, min(G, (1 << 16) // n))
                xs = x[:Gs]

                def loop():
                    return np.stack([ref(xs[i:i + 1], a.k)[0] for i in range(Gs)])

                lerr = spec_error(est, xs, a.k, got[:Gs], loop())
                if not lerr <= TOL_F32:
                    failures += 1
                    print("  VALIDATION FAILED numpy_loop %s n=%d: %.3g * scale" % (est, n, lerr),
                          file=sys.stderr)
                else:
                    lmed, lmn = median_time(loop, runs)
                    f.write(("%s,numpy_loop,%s,float32,%d,%d,%d,%d,1,%d,%.6f,%.6f,%.3f,ok,%.3g\n")
                            % (a.device, est, n, min(a.k, n), Gs, Gs * n, runs, lmed * 1e3,
                               lmn * 1e3, lmed * 1e9 / (Gs * n), lerr))
                    line += " (loop %.0f ns/el)" % (lmed * 1e9 / (Gs * n))
                for t in threads:
                    h = handles[t]
                    h.reserve(d)
                    pm, pmin = median_time(lambda: h.transform(d, x, out, rho), runs)
                    f.write(row % ("pkpo_cpu", t, runs, "%.6f" % (pm * 1e3), "%.6f" % (pmin * 1e3),
                                   "%.3f" % (pm * 1e9 / N), "ok"))
                    line += " | pkpo %dt %8.3f ms (x%.0f)" % (t, pm * 1e3, med / pm)
                f.flush()
                print(line, file=sys.stderr)
    for h in handles.values():
        h.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
