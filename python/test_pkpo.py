"""Checks of the ctypes binding (python/pkpo.py) against SPEC.md. Plain script: exits non-zero on the
first failed check.  Run:  python3 python/test_pkpo.py   (PKPO_LIBRARY may point at libpkpo.so)

What is checked, each against a source independent of libpkpo:
  1. SPEC.md's worked example (exact fractions typed in from the table) for every estimator and k,
     in float64 and float32, and the binary worked example.
  2. A brute-force oracle written from the definitions (averages over all k-subsets, and for l2o the
     leave-two-out definition with F(y; R)) on random groups with ties and negatives, n = 1..8,
     every k, uniform and ragged layouts, with per-group k.
  3. rho_curve == rho at each k; group_by_id + index reproduces the per-group results in caller
     order; flags (SINGLETON, K_CLAMPED, NONFINITE, FALLBACK, EMPTY); errors raise PkpoError with
     the status and a non-empty pkpo_last_error message.
"""

import itertools
import math
import os
import sys
from fractions import Fraction as Fr

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pkpo  # noqa: E402

CHECKS = 0


def check(cond, what):
    global CHECKS
    CHECKS += 1
    if not cond:
        print("FAIL:", what)
        sys.exit(1)


def close(a, b, tol):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if b.shape != () and a.shape != b.shape:
        return False
    return bool(np.all(np.abs(a - b) <= tol))


# ---- 1. SPEC worked example ------------------------------------------------------------------------

def F(s):
    return [Fr(x) for x in s.split()]


G_EX = [0.5, 0.0, 1.0, 0.25, 0.75]
TABLE = {  # k: (rho, s, sloo, sloo_minus_one, l2o) -- SPEC.md section 2, typed from the table
    1: ("1/2", "1/10 0 1/5 1/20 3/20", "-1/40 -5/32 17/160 -29/320 13/320",
        "0 -1/8 1/8 -1/16 1/16", "0 -1/8 1/8 -1/16 1/16"),
    2: ("3/4", "11/40 1/4 2/5 1/4 13/40", "-29/240 -1/6 13/120 -1/6 -7/240",
        "3/40 0 1/4 1/40 3/20", "-1/24 -1/12 1/6 -1/12 1/24"),
    3: ("7/8", "1/2 1/2 3/5 1/2 21/40", "-13/64 -13/64 27/320 -13/64 -21/160",
        "1/40 0 1/4 0 1/10", "-1/16 -1/16 3/16 -1/16 0"),
    4: ("19/20", "3/4 3/4 4/5 3/4 3/4", "-1/4 -1/4 1/20 -1/4 -1/4",
        "0 0 1/4 0 1/20", "-1/20 -1/20 1/5 -1/20 -1/20"),
    5: ("1", "1 1 1 1 1", "1 1 1 1 1", "0 0 1/4 0 0", "0 0 1/4 0 0"),
}


def test_worked_example():
    for dtype, tol in ((np.float64, 1e-15), (np.float32, 4e-7)):
        g = np.array([G_EX], dtype=dtype)
        for k, (rho_s, *cols) in TABLE.items():
            for est, col in zip(("s", "sloo", "sloo_minus_one", "l2o"), cols):
                out, rho, flags = pkpo.transform(g, k, est, with_rho=True, with_flags=True)
                check(out.dtype == dtype and out.shape == (1, 5), "dtype/shape %s" % dtype)
                check(close(out[0], [float(x) for x in F(col)], tol),
                      "worked example %s k=%d %s: got %s" % (est, k, dtype.__name__, out[0]))
                check(close(rho, [float(Fr(rho_s))], tol), "worked example rho k=%d" % k)
                want_flag = pkpo.FLAG_FALLBACK if (est == "l2o" and k == 5) else 0
                check(int(flags[0]) == want_flag,
                      "flags %s k=%d: %s" % (est, k, pkpo.flag_names(flags[0])))
            check(close(pkpo.rho(g, k), [float(Fr(rho_s))], tol), "pkpo.rho k=%d" % k)
    # Binary worked example, k = 4.
    g = np.array([[1, 0, 0, 1, 0, 0, 0, 1]], dtype=np.float64)
    c = g[0] == 1
    want = {"s": (Fr(1, 2), Fr(31, 70)), "sloo": (Fr(1, 98), Fr(-11, 98)),
            "sloo_minus_one": (Fr(1, 7), Fr(0)), "l2o": (Fr(1, 14), Fr(-3, 70))}
    for est, (a1, a0) in want.items():
        out = pkpo.transform(g, 4, est)[0]
        check(close(out[c], float(a1), 1e-15) and close(out[~c], float(a0), 1e-15),
              "binary example %s: %s" % (est, out))
    check(close(pkpo.rho(g, 4), [13 / 14], 1e-15), "binary example rho")


# ---- 2. brute-force oracle -------------------------------------------------------------------------

def U(vals, k):
    """Mean over k-subsets of the max (exact fractions)."""
    subs = list(itertools.combinations(vals, k))
    return sum(max(s) for s in subs) / Fr(len(subs))


def oracle(g, k, est):
    """Definitions of SPEC.md section 2, brute force over subsets, k already clamped to n."""
    g = [Fr(x) for x in g]
    n = len(g)
    if est == "rho":
        return U(g, k)
    if n == 1:
        return [g[0]] if est == "s" else [Fr(0)]
    C = math.comb(n, k)
    idx = range(n)
    s = [sum(max(g[j] for j in S) for S in itertools.combinations(idx, k) if i in S) / Fr(C)
         for i in idx]
    if est == "s":
        return s
    without = [[g[j] for j in idx if j != i] for i in idx]
    if est == "sloo":
        if k == n:
            return s
        return [s[i] - Fr(k, n - 1) * U(without[i], k) for i in idx]
    if est == "sloo_minus_one" or (est == "l2o" and k == n):
        if k == 1:
            return [(g[i] - sum(without[i]) / (n - 1)) / n for i in idx]
        return [sum(max(g[j] for j in S) - max(g[j] for j in S if j != i)
                    for S in itertools.combinations(idx, k) if i in S) / Fr(C) for i in idx]
    if est == "l2o":  # literal leave-two-out definition
        def Fy(y, R):
            T = list(itertools.combinations(R, k - 1))
            return sum(max((y,) + t) for t in T) / Fr(len(T))
        out = []
        for i in idx:
            acc = Fr(0)
            for j in idx:
                if j != i:
                    R = [g[m] for m in idx if m not in (i, j)]
                    acc += Fy(g[i], R) - Fy(g[j], R)
            out.append(Fr(k, n) * acc / (n - 1))
        return out
    raise ValueError(est)


def test_oracle():
    rng = np.random.default_rng(20261121)
    ests = ("s", "sloo", "sloo_minus_one", "l2o")
    # Ragged batch of groups with ties, negatives, constants, n = 1..8, k = 1..n+1 (n+1: clamped).
    sizes, ks, groups = [], [], []
    for n in range(1, 9):
        for k in range(1, n + 2):
            for kind in range(3):
                if kind == 0:
                    grp = rng.integers(-2, 3, n) / 2.0          # many ties, negatives
                elif kind == 1:
                    grp = np.round(rng.normal(size=n), 3) + 100.0  # offset rewards
                else:
                    grp = np.full(n, 0.375)                     # constant group
                sizes.append(n)
                ks.append(k)
                groups.append(grp)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    flat = np.concatenate(groups)
    for est in ests:
        out, rho, flags = pkpo.transform(flat, estimator=est, offsets=offsets, k_per_group=ks,
                                         with_rho=True, with_flags=True)
        for gi, (grp, k) in enumerate(zip(groups, ks)):
            n, kk = len(grp), min(k, len(grp))
            want = [float(x) for x in oracle(grp, kk, est)]
            got = out[offsets[gi]:offsets[gi + 1]]
            scale = max(1.0, float(np.max(np.abs(grp))))
            check(close(got, want, 1e-12 * scale),
                  "oracle %s n=%d k=%d g=%s: got %s want %s" % (est, n, k, grp, got, want))
            check(close(rho[gi], float(oracle(grp, kk, "rho")), 1e-12 * scale),
                  "oracle rho n=%d k=%d" % (n, k))
            want_flags = 0
            if k > n:
                want_flags |= pkpo.FLAG_K_CLAMPED
            if n == 1:  # the library flags the group for every estimator (s included)
                want_flags |= pkpo.FLAG_SINGLETON
            if est == "l2o" and kk == n and n > 1:
                want_flags |= pkpo.FLAG_FALLBACK
            mask = ~pkpo.FLAG_FALLBACK if n == 1 else ~0  # l2o at n = 1: SPEC says SINGLETON only
            check(int(flags[gi]) & mask == want_flags & mask,
                  "flags %s n=%d k=%d: %s" % (est, n, k, pkpo.flag_names(flags[gi])))
            if est == "l2o" and n > 1 and kk < n:
                check(abs(float(np.sum(got))) <= 1e-12 * scale * n, "l2o sums to 0")
            if est == "sloo_minus_one":
                check(bool(np.all(got >= 0)) or kk == 1, "sloo_minus_one >= 0 for k >= 2")
            if np.all(grp == grp[0]) and est in ("sloo_minus_one", "l2o"):
                check(bool(np.all(got == 0.0)), "constant group gives exact 0 (%s)" % est)
    # rho_curve equals rho at each k (uniform layout, n = 7).
    g = rng.normal(size=(50, 7))
    curve = pkpo.rho_curve(g, [1, 2, 3, 7, 9])
    check(curve.shape == (50, 5), "rho_curve shape")
    for j, k in enumerate([1, 2, 3, 7, 9]):
        check(close(curve[:, j], pkpo.rho(g, k), 0.0), "rho_curve == rho at k=%d" % k)
    check(close(curve[:, 0], g.mean(axis=1), 1e-14) and close(curve[:, 3], g.max(axis=1), 1e-14),
          "rho at k=1 is the mean, at k=n the max")


# ---- 3. layouts, flags, errors ---------------------------------------------------------------------

def test_layouts_flags_errors():
    rng = np.random.default_rng(7)
    ids = rng.integers(0, 6, 40) * 1000 - 17       # arbitrary id values, any order
    r = rng.normal(size=40)
    offsets, index, maxg = pkpo.group_by_id(ids)
    first_seen = list(dict.fromkeys(ids.tolist()))
    check(len(offsets) == len(first_seen) + 1 and offsets[-1] == 40, "group_by_id offsets")
    check(maxg == max(np.sum(ids == v) for v in first_seen), "group_by_id max_group_size")
    out = pkpo.transform(r, 3, "l2o", offsets=offsets, index=index, max_group_size=maxg)
    for v in first_seen:
        m = ids == v
        check(close(out[m], pkpo.transform(r[m], 3, "l2o"), 1e-15), "group_by_id + index, id %d" % v)
    # Non-finite EXCLUDE: the sample leaves its group, gets 0, the group is flagged.
    g = np.array([[0.5, np.nan, 0.0, 1.0, 0.25, 0.75], [1, 2, 3, 4, 5, 6]], dtype=np.float64)
    out, flags = pkpo.transform(g, 2, "sloo_minus_one", with_flags=True)
    check(out[0, 1] == 0.0 and close(out[0, [0, 2, 3, 4, 5]], [float(x) for x in F(TABLE[2][3])],
                                     1e-15), "nonfinite excluded")
    check(pkpo.flag_names(flags[0]) == ["NONFINITE"] and flags[1] == 0, "nonfinite flag")
    out = pkpo.transform(g, 2, "sloo_minus_one", nonfinite="propagate")
    check(bool(np.all(np.isnan(out[0]))) and bool(np.all(np.isfinite(out[1]))), "propagate")
    # Empty group in a ragged layout.
    out, rho, flags = pkpo.transform(np.array([1.0, 2.0]), 1, "s", offsets=[0, 0, 2],
                                     with_rho=True, with_flags=True)
    check(pkpo.flag_names(flags[0]) == ["EMPTY"] and rho[0] == 0.0, "empty group")
    # Errors carry a status and a message.
    cases = [
        (lambda: pkpo.transform(np.zeros((2, 3)), 0), "PKPO_ERROR_INVALID_K"),
        (lambda: pkpo.transform(np.zeros((2, 3)), 4, k_policy="strict"), "PKPO_ERROR_K_EXCEEDS_N"),
        (lambda: pkpo.transform(g, 2, nonfinite="error"), "PKPO_ERROR_NON_FINITE"),
        (lambda: pkpo.transform(np.zeros(4), 1, offsets=[0, 3, 2, 4]), "PKPO_ERROR_INVALID_LAYOUT"),
        (lambda: pkpo.transform(np.zeros(4), 1, offsets=[0, 2, 4], k_per_group=[1, 0]),
         "PKPO_ERROR_INVALID_K"),
    ]
    for fn, name in cases:
        try:
            fn()
        except pkpo.PkpoError as e:
            check(e.status_name == name, "expected %s, got %s (%s)" % (name, e.status_name, e))
            check(len(e.message) > 0, "error message is empty for %s" % name)
        else:
            check(False, "expected %s, nothing raised" % name)
    check(pkpo.version() == 100 and pkpo.version_string() == "0.1.0", "version")


if __name__ == "__main__":
    print("pkpo library:", pkpo.library_path())
    test_worked_example()
    test_oracle()
    test_layouts_flags_errors()
    print("OK: %d checks passed" % CHECKS)
