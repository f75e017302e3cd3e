"""The 1-D toy problem shared by experiments 1 and 2, and the plumbing every experiment uses.

Policy  x ~ N(theta, SIGMA^2), SIGMA = 0.1.
Reward  g(x) = x^2 for 0 <= x <= 1, else 0: the best rewards sit right next to a cliff at x = 1.

Exact maxg@k by quadrature. G = g(X) lies in [0, 1], so E[max of k draws of G] = int_0^1 (1 - F_G(y)^k) dy,
where for 0 <= y < 1
    F_G(y) = P(g(X) <= y) = P(X < 0) + P(0 <= X <= sqrt(y)) + P(X > 1) = Phi((sqrt(y) - theta)/SIGMA) + P(X > 1)
(g is not monotone: the atom at 0 collects both X < 0 and X > 1). Substituting y = u^2 removes the
sqrt singularity at y = 0:
    maxg@k(theta) = int_0^1 (1 - F(u)^k) 2u du,   F(u) = Phi((u - theta)/SIGMA) + Phi((theta - 1)/SIGMA).
The integrand is analytic in u; we integrate it with composite Gauss-Legendre (PANELS x NODES
points), which agrees with scipy.integrate.quad to ~1e-15 (checked in experiment 1).
The gradient is differentiated under the integral sign (exact derivative of the integrand):
    d/dtheta maxg@k = -int_0^1 k F(u)^(k-1) dF/dtheta 2u du,
    dF/dtheta = (-phi((u - theta)/SIGMA) + phi((theta - 1)/SIGMA)) / SIGMA,
and experiment 1 checks it against a central difference of the quadrature.
"""

import os
import sys

import numpy as np
from scipy import integrate, optimize, special

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
FIGURES = os.path.join(HERE, "figures")
import pkpo  # noqa: E402  (the Python package: pip install . from the repository root)

SIGMA = 0.1
PANELS, NODES = 64, 16
_gl_x, _gl_w = np.polynomial.legendre.leggauss(NODES)
_edges = np.linspace(0.0, 1.0, PANELS + 1)
_U = ((_edges[:-1, None] + _edges[1:, None]) / 2 + (_edges[1:, None] - _edges[:-1, None]) / 2 *
      _gl_x[None, :]).ravel()
_W = ((_edges[1:, None] - _edges[:-1, None]) / 2 * _gl_w[None, :]).ravel()


def reward(x):
    """g(x) = x^2 on [0, 1], else 0."""
    x = np.asarray(x, dtype=np.float64)
    return np.where((x >= 0.0) & (x <= 1.0), x * x, 0.0)


def _F(u, theta):
    return special.ndtr((u - theta) / SIGMA) + special.ndtr((theta - 1.0) / SIGMA)


def maxg_at_k(theta, k):
    """Exact E[max of k rewards] at theta (Gauss-Legendre quadrature)."""
    F = _F(_U, theta)
    return float(np.sum(_W * (1.0 - F ** k) * 2.0 * _U))


def grad_maxg_at_k(theta, k):
    """Exact d/dtheta maxg@k (derivative under the integral, same quadrature)."""
    F = _F(_U, theta)
    dF = (-np.exp(-0.5 * ((_U - theta) / SIGMA) ** 2) +
          np.exp(-0.5 * ((theta - 1.0) / SIGMA) ** 2)) / (SIGMA * np.sqrt(2.0 * np.pi))
    return float(-np.sum(_W * k * F ** (k - 1) * dF * 2.0 * _U))


def maxg_at_k_quad(theta, k):
    """Same integral by adaptive scipy.integrate.quad (an independent check of the fixed rule)."""
    val, _ = integrate.quad(lambda u: (1.0 - _F(u, theta) ** k) * 2.0 * u, 0.0, 1.0,
                            epsabs=1e-14, epsrel=1e-13, limit=200, points=[min(max(theta, 0), 1)])
    return val


def theta_star(k, lo=0.0, hi=1.5):
    """Maximiser of maxg@k over theta in [lo, hi]: a grid scan, then a root of the exact gradient
    (brentq) in the bracket around the best grid point."""
    grid = np.linspace(lo, hi, 1501)
    vals = np.array([maxg_at_k(t, k) for t in grid])
    i = int(np.argmax(vals))
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    t = optimize.brentq(lambda th: grad_maxg_at_k(th, k), a, b, xtol=1e-12)
    return t, maxg_at_k(t, k)


def score(x, theta):
    """d/dtheta log N(x; theta, SIGMA^2)."""
    return (x - theta) / SIGMA ** 2


def ensure_dirs():
    os.makedirs(RESULTS, exist_ok=True)
    os.makedirs(FIGURES, exist_ok=True)


def write_csv(name, header, rows):
    ensure_dirs()
    path = os.path.join(RESULTS, name)
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(_fmt(v) for v in r) + "\n")
    return path


def _fmt(v):
    if isinstance(v, (float, np.floating)):
        return "%.6g" % v
    return str(v)
