"""The package's CUDA code path, run against the CUDA backend on the emulated device
(tests/cuda/emu): see emulated_cuda_check.py. Needs PKPO_EMU_LIBRARY = path of libpkpo_emu.so, which
scripts/test_python.sh sets after scripts/test.sh built it; skipped otherwise."""

import json
import os
import subprocess
import sys

import pytest

EMU = os.environ.get("PKPO_EMU_LIBRARY", "")
SCRIPT = os.path.join(os.path.dirname(__file__), "emulated_cuda_check.py")
needs_emu = pytest.mark.skipif(not os.path.exists(EMU),
                               reason="PKPO_EMU_LIBRARY (libpkpo_emu.so) not built")


def run_script(*args):
    env = dict(os.environ, PKPO_LIBRARY=EMU)
    return subprocess.run([sys.executable, SCRIPT, *args], env=env, capture_output=True,
                          text=True, timeout=600)


@needs_emu
def test_cuda_path_on_the_emulated_device_equals_cpu():
    p = run_script()
    assert p.returncode == 0, p.stdout + p.stderr
    assert "agree with the CPU backend" in p.stdout


@pytest.fixture(scope="module")
def objective_results():
    p = run_script("objectives")
    assert p.returncode == 0, p.stdout + p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


# Mixtures and the min statistic through the package's CUDA path (groups of any size: the block
# path and the large path) equal the CPU backend's.
@needs_emu
@pytest.mark.parametrize("case", ["mixture_2d", "mixture_uids", "min_2d", "min_mixture_uids",
                                  "rho_curve_min"])
def test_objectives_on_the_emulated_device_equal_cpu(objective_results, case):
    r = objective_results[case]
    assert r["status"] == "ok", r
