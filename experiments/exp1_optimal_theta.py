"""Experiment 1: the optimal policy depends on k.

Policy x ~ N(theta, 0.1^2), reward g(x) = x^2 on [0, 1], else 0 (see toy.py). For each k in
{1, 2, 4, 8, 16, 32}:
  * the exact maxg@k(theta) curve (quadrature, toy.py) and its maximiser theta*(k);
  * checks of that quadrature: a second, adaptive quadrature (scipy quad), plain Monte Carlo of the
    max of k draws, and the mean of pkpo's rho over many groups; and of the exact gradient against
    a central difference;
  * stochastic gradient ascent on theta with pkpo's sloo_minus_one transform: each step draws G
    groups of n samples, calls pkpo once on the [G, n] reward batch, and ascends
    mean_g sum_i a_gi * d/dtheta log N(x_gi; theta, sigma^2) with Adam. The final theta of a run is
    the mean of its last quarter of iterates; several seeds per k.

Run:  python3 experiments/exp1_optimal_theta.py   [--seeds 10 --steps 3000]
Writes results/exp1_*.csv and figures/exp1_optimal_theta.png.
"""

import argparse
import time

import numpy as np

import toy
from toy import pkpo

KS = [1, 2, 4, 8, 16, 32]


def train(k, seed, n, groups, steps, lr0, theta0):
    """Adam ascent on theta; returns the trajectory of theta (one entry per step)."""
    rng = np.random.default_rng([1, k, seed])
    theta, m, v = theta0, 0.0, 0.0
    b1, b2, eps = 0.9, 0.999, 1e-12
    traj = np.empty(steps)
    for t in range(1, steps + 1):
        x = theta + toy.SIGMA * rng.standard_normal((groups, n))
        a = pkpo.transform(toy.reward(x), k=k)   # one pkpo call per step
        grad = float(np.mean(np.sum(a * toy.score(x, theta), axis=1)))
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad * grad
        lr = lr0 / np.sqrt(1.0 + t / 100.0)
        theta += lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        traj[t - 1] = theta
    return traj


def quadrature_checks(stars, rng):
    rows = []
    for k in KS:
        for theta in (0.5, stars[k], 1.1):
            fixed = toy.maxg_at_k(theta, k)
            adaptive = toy.maxg_at_k_quad(theta, k)
            # Plain Monte Carlo of the max of k draws.
            M = 200_000
            mx = toy.reward(theta + toy.SIGMA * rng.standard_normal((M, k))).max(axis=1)
            mc, mc_se = mx.mean(), mx.std(ddof=1) / np.sqrt(M)
            # pkpo's unbiased estimate rho from groups of n = 64 > k samples.
            Gr = 20_000
            r = pkpo.rho_curve(toy.reward(theta + toy.SIGMA * rng.standard_normal((Gr, 64))), ks=[k])[0][:, 0]
            rho_mc, rho_se = r.mean(), r.std(ddof=1) / np.sqrt(Gr)
            h = 1e-5
            cd = (toy.maxg_at_k(theta + h, k) - toy.maxg_at_k(theta - h, k)) / (2 * h)
            rows.append([k, theta, fixed, adaptive, fixed - adaptive, mc, mc_se,
                         (mc - fixed) / mc_se, rho_mc, rho_se, (rho_mc - fixed) / rho_se,
                         toy.grad_maxg_at_k(theta, k), cd])
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--n", type=int, default=64, help="samples per group")
    ap.add_argument("--groups", type=int, default=8, help="groups per step")
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--theta0", type=float, default=0.5)
    args = ap.parse_args()
    t_start = time.time()

    stars = {}
    for k in KS:
        stars[k], _ = toy.theta_star(k)

    # Curves.
    grid = np.round(np.arange(0.30, 1.2001, 0.005), 4)
    curves = {k: np.array([toy.maxg_at_k(t, k) for t in grid]) for k in KS}
    toy.write_csv("exp1_curves.csv", ["theta"] + ["maxg_at_%d" % k for k in KS],
                  [[t] + [curves[k][i] for k in KS] for i, t in enumerate(grid)])

    # Checks of the quadrature and of the exact gradient.
    checks = quadrature_checks(stars, np.random.default_rng(11))
    toy.write_csv("exp1_quadrature_check.csv",
                  ["k", "theta", "quad_gauss_legendre", "quad_scipy", "diff", "mc_max", "mc_se",
                   "mc_z", "pkpo_rho_mean", "pkpo_rho_se", "rho_z", "grad_exact",
                   "grad_central_diff"], checks)
    worst_quad = max(abs(r[4]) for r in checks)
    worst_z = max(max(abs(r[7]), abs(r[10])) for r in checks)
    worst_grad = max(abs(r[11] - r[12]) for r in checks)
    print("quadrature checks: max |GL - quad| = %.2e, max |z| of MC and pkpo-rho means = %.2f, "
          "max |exact - central-difference gradient| = %.2e" % (worst_quad, worst_z, worst_grad))

    # Training.
    rows, trajs = [], {}
    keep = args.steps // 4
    for k in KS:
        finals = []
        for seed in range(args.seeds):
            traj = train(k, seed, args.n, args.groups, args.steps, args.lr, args.theta0)
            finals.append(traj[-keep:].mean())
            if seed == 0:
                trajs[k] = traj
        finals = np.array(finals)
        mean, sd = finals.mean(), finals.std(ddof=1) if finals.size > 1 else 0.0
        opt = toy.maxg_at_k(stars[k], k)
        got = toy.maxg_at_k(mean, k)
        rows.append([k, stars[k], opt, mean, sd, args.seeds, mean - stars[k], got, opt - got])
        print("k=%2d  theta*=%.5f  trained theta=%.5f +- %.5f (sd over %d seeds)  "
              "maxg@k: optimum %.5f, at trained %.5f" % (k, stars[k], mean, sd, args.seeds, opt, got))
    toy.write_csv("exp1_theta_star.csv",
                  ["k", "theta_star", "maxg_at_theta_star", "theta_trained_mean",
                   "theta_trained_sd", "seeds", "trained_minus_star", "maxg_at_trained", "regret"],
                  rows)
    every = max(1, args.steps // 150)
    toy.write_csv("exp1_trajectories.csv", ["step"] + ["theta_k%d" % k for k in KS],
                  [[s + 1] + [trajs[k][s] for k in KS] for s in range(every - 1, args.steps, every)])
    plot(grid, curves, stars, rows, trajs, args)
    print("exp1 done in %.1f s" % (time.time() - t_start))


def plot(grid, curves, stars, rows, trajs, args):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    toy.ensure_dirs()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    cmap = plt.get_cmap("viridis")
    for j, k in enumerate(KS):
        c = cmap(j / (len(KS) - 1))
        y = curves[k] / curves[k].max()
        ax1.plot(grid, y, color=c, label="k=%d" % k)
        ax1.axvline(stars[k], color=c, lw=0.6, ls=":")
        trained = rows[j][3]
        ax1.plot([trained], [toy.maxg_at_k(trained, k) / curves[k].max()], "x", color=c, ms=8)
        ax2.plot(np.arange(1, args.steps + 1), trajs[k], color=c, lw=0.8, label="k=%d" % k)
        ax2.axhline(stars[k], color=c, lw=0.6, ls=":")
    ax1.axvline(1.0, color="k", lw=1)
    ax1.set_xlabel(r"$\theta$")
    ax1.set_ylabel(r"maxg@k($\theta$) / max$_\theta$")
    ax1.set_ylim(0.0, 1.02)
    ax1.set_title("exact maxg@k (lines), $\\theta^*(k)$ (dotted), trained (x)")
    ax1.legend(fontsize=8, loc="lower left")
    ax2.set_xlabel("step (%d groups x %d samples)" % (args.groups, args.n))
    ax2.set_ylabel(r"$\theta$")
    ax2.set_ylim(0.45, 1.05)
    ax2.set_xscale("log")
    ax2.set_title("Adam on sloo_minus_one gradients (seed 0); dotted: $\\theta^*(k)$")
    ax2.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(toy.os.path.join(toy.FIGURES, "exp1_optimal_theta.png"), dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
