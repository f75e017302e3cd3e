"""Experiment 2: variance (and bias) of the pass@k gradient estimators.

Toy problem of toy.py (x ~ N(theta, 0.1^2), g(x) = x^2 on [0, 1]). At fixed theta, for each (n, k)
with k <= n, draw R independent groups of n samples; each group gives one gradient estimate
    ghat = sum_i a_i * (x_i - theta) / sigma^2
with a = pkpo's transform of the group's rewards, for estimator in {s, sloo, sloo_minus_one, l2o}.
The four estimators see the same samples (common random numbers). We report the empirical variance
of ghat over the R groups, and test unbiasedness against the exact gradient of maxg@k (quadrature,
differentiated under the integral, toy.py): z = (mean ghat - exact) / (sd / sqrt(R)).

Boundary cases included on purpose: at k = n, sloo equals s (the baseline is 0) and l2o falls back
to sloo_minus_one (docs/math.md); at k = 1, sloo_minus_one uses the l2o value.

Run:  python3 experiments/exp2_gradient_variance.py   [--reps 200000]
Writes results/exp2_variance.csv and figures/exp2_variance.png.
"""

import argparse
import time

import numpy as np

import toy
from toy import pkpo

ESTIMATORS = ["s", "sloo", "sloo_minus_one", "l2o"]
THETAS = [0.5, 0.9]
NS = [4, 8, 16, 32]
KS = [1, 2, 4, 8, 16, 32]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--reps", type=int, default=200_000, help="groups per (theta, n, k)")
    args = ap.parse_args()
    t_start = time.time()
    R = args.reps
    rows = []
    for theta in THETAS:
        for n in NS:
            for k in [k for k in KS if k <= n]:
                rng = np.random.default_rng([2, int(theta * 1000), n, k])
                x = theta + toy.SIGMA * rng.standard_normal((R, n))
                g = toy.reward(x)
                sc = toy.score(x, theta)
                truth = toy.grad_maxg_at_k(theta, k)
                line = []
                for est in ESTIMATORS:
                    a = pkpo.transform(g, k=k, estimator=est)
                    ghat = np.sum(a * sc, axis=1)
                    mean, var = ghat.mean(), ghat.var(ddof=1)
                    se = np.sqrt(var / R)
                    z = (mean - truth) / se
                    # Standard error of the sample variance: sqrt((m4 - var^2) / R).
                    var_se = np.sqrt(max(np.mean((ghat - mean) ** 4) - var * var, 0.0) / R)
                    fb = R if (est == "l2o" and k == n) else 0  # l2o at k = n is sloo_minus_one
                    rows.append([theta, n, k, est, R, truth, mean, se, z, var, var_se, fb])
                    line.append("%s %.3g (z=%+.2f)" % (est, var, z))
                print("theta=%.1f n=%2d k=%2d  grad=%+.4f  var: %s" % (theta, n, k, truth,
                                                                       ", ".join(line)))
    toy.write_csv("exp2_variance.csv",
                  ["theta", "n", "k", "estimator", "reps", "grad_exact", "grad_mean", "grad_se",
                   "z", "variance", "variance_se", "groups_flagged_fallback"], rows)
    zs = np.array([r[8] for r in rows])
    print("unbiasedness: %d tests, max |z| = %.2f, %d with |z| > 3 (expected under H0: %.2f)"
          % (zs.size, np.abs(zs).max(), int(np.sum(np.abs(zs) > 3)), zs.size * 0.0027))
    summarize(rows)
    plot(rows)
    print("exp2 done in %.1f s" % (time.time() - t_start))


def summarize(rows):
    """Counts how often the paper's ordering s > sloo > sloo_minus_one holds, and where l2o lands."""
    table = {}
    for theta, n, k, est, *_rest in rows:
        table.setdefault((theta, n, k), {})[est] = (_rest[-3], _rest[-2])
    order_ok, total, l2o_rank = 0, 0, {}
    for key, v in table.items():
        theta, n, k = key
        if k == n or k == 1:
            continue   # k = n: sloo == s, l2o == sloo_minus_one; k = 1: sloo_minus_one == l2o
        total += 1
        var = {e: v[e][0] for e in ESTIMATORS}
        if var["s"] > var["sloo"] > var["sloo_minus_one"]:
            order_ok += 1
        else:
            d = var["sloo_minus_one"] - var["sloo"]
            se = np.hypot(v["sloo"][1], v["sloo_minus_one"][1])
            print("  ordering fails at theta=%.1f n=%d k=%d: s %.4g, sloo %.4g, sloo_minus_one "
                  "%.4g (difference %.1f SE)" % (theta, n, k, var["s"], var["sloo"],
                                                 var["sloo_minus_one"], d / se))
        ranking = sorted(ESTIMATORS, key=lambda e: var[e])
        l2o_rank[ranking.index("l2o") + 1] = l2o_rank.get(ranking.index("l2o") + 1, 0) + 1
    print("configs with 1 < k < n: %d; s > sloo > sloo_minus_one holds in %d; l2o's rank "
          "(1 = lowest variance): %s" % (total, order_ok, dict(sorted(l2o_rank.items()))))


def plot(rows):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    toy.ensure_dirs()
    fig, axes = plt.subplots(len(THETAS), len(NS), figsize=(13, 6.2), sharey="row")
    styles = {"s": ("C3", "o"), "sloo": ("C1", "s"), "sloo_minus_one": ("C0", "^"),
              "l2o": ("C2", "v")}
    for i, theta in enumerate(THETAS):
        for j, n in enumerate(NS):
            ax = axes[i, j]
            for est in ESTIMATORS:
                pts = [(r[2], r[9]) for r in rows if r[0] == theta and r[1] == n and r[3] == est]
                ks, vs = zip(*pts)
                c, m = styles[est]
                ax.plot(ks, vs, color=c, marker=m, ms=4, lw=1, label=est)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(r"$\theta$=%.1f, n=%d" % (theta, n), fontsize=9)
            ax.grid(alpha=0.3, which="both")
            if i == len(THETAS) - 1:
                ax.set_xlabel("k")
            if j == 0:
                ax.set_ylabel("Var of per-group gradient")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(toy.os.path.join(toy.FIGURES, "exp2_variance.png"), dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
