"""The package's CUDA code path, run against the CUDA backend on the emulated device
(tests/cuda/emu): see emulated_cuda_check.py. Needs PKPO_EMU_LIBRARY = path of libpkpo_emu.so, which
scripts/test_python.sh sets after scripts/test.sh built it; skipped otherwise."""

import os
import subprocess
import sys

import pytest

EMU = os.environ.get("PKPO_EMU_LIBRARY", "")


@pytest.mark.skipif(not os.path.exists(EMU), reason="PKPO_EMU_LIBRARY (libpkpo_emu.so) not built")
def test_cuda_path_on_the_emulated_device_equals_cpu():
    script = os.path.join(os.path.dirname(__file__), "emulated_cuda_check.py")
    env = dict(os.environ, PKPO_LIBRARY=EMU)
    p = subprocess.run([sys.executable, script], env=env, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "agree with the CPU backend" in p.stdout
