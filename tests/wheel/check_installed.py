"""Run by scripts/check_wheel.sh with the python of a fresh environment into which only the pkpo
wheel and numpy were installed, on a PATH with no compiler: the package imports from that
environment, computes, and its `pkpo` command works and agrees with it.

    python check_installed.py EXAMPLES_DIR
"""

import csv
import io
import os
import subprocess
import sys

import numpy as np

import pkpo

examples = sys.argv[1]
prefix = sys.prefix
failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


check(pkpo.library_path().startswith(prefix) and pkpo.__file__.startswith(prefix),
      "package and libpkpo from the environment (%s)" % pkpo.library_path())

# The README's example, whose values docs/math.md works out by hand.
rewards = np.array([0.5, 0.0, 1.0, 0.25, 0.75, 1.0, 0.0, 0.0])
uids = ["a", "b", "a", "b", "a", "c", "b", "c"]
adv = pkpo.transform(rewards, uids, k=2)
check(np.allclose(adv, [0, 0, 0.25, 1 / 6, 1 / 12, 1, 0, 0], rtol=0, atol=1e-15),
      "transform: %s" % np.round(adv, 4).tolist())
curve, groups = pkpo.rho_curve(rewards, uids, ks=[1, 2])
check(list(groups) == ["a", "b", "c"]
      and np.allclose(curve, [[0.75, 11 / 12], [1 / 12, 1 / 6], [0.5, 1.0]], rtol=0, atol=1e-15),
      "rho_curve: %s" % np.round(curve, 4).tolist())

# `pkpo --version` and the package report the same library, backends and CUDA availability.
info = pkpo.build_info()
p = subprocess.run(["pkpo", "--version"], capture_output=True, text=True)
want = ["pkpo %s (library %s)" % (info["version"], info["version"]),
        "backends: " + ", ".join(info["backends"]), "cuda: " + info["cuda"]]
check(p.returncode == 0 and p.stdout.splitlines() == want,
      "pkpo --version agrees with pkpo.build_info():\n      " + "\n      ".join(
          p.stdout.splitlines() + p.stderr.splitlines()))
check(info["cuda_available"] == pkpo.cuda_available() == (info["cuda"] == "available"),
      "cuda_available: %s (%s)" % (info["cuda_available"], info["cuda"]))

# `pkpo transform` on the example batch: every row back, its values those of the package.
path = os.path.join(examples, "continuous.csv")
p = subprocess.run(["pkpo", "transform", "-k", "4", path], capture_output=True, text=True)
rows = list(csv.DictReader(io.StringIO(p.stdout))) if p.returncode == 0 else []
with open(path, newline="") as f:
    given = list(csv.DictReader(f))
ok = p.returncode == 0 and len(rows) == len(given) > 0
if ok:
    mine = pkpo.transform(np.array([float(r["reward"]) for r in given]),
                          [r["group"] for r in given], k=4)
    theirs = np.array([float(r["transformed"]) for r in rows])
    ok = [r["group"] for r in rows] == [r["group"] for r in given] and np.array_equal(mine, theirs)
check(ok, "pkpo transform -k 4 %s: %d rows, equal to pkpo.transform%s"
      % (os.path.basename(path), len(rows), "" if p.returncode == 0 else ": " + p.stderr))

sys.exit(1 if failures else 0)
