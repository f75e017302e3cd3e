"""The installed package's report of itself (pkpo.build_info) and its `pkpo` command: the same
version, backends and CUDA availability, and the reason when CUDA is not usable, including a GPU
whose architecture the build has no code for (on the emulated device: PKPO_EMU_CC)."""

import os
import subprocess
import sys

import pytest

import pkpo
from pkpo import _capi, _cli, _info

EMU = os.environ.get("PKPO_EMU_LIBRARY", "")
SCRIPT = os.path.join(os.path.dirname(sys.executable), "pkpo")  # the console command pip made


def test_build_info_is_the_librarys():
    info = pkpo.build_info()
    assert info["version"] == pkpo.__version__ == _capi.version_string()
    assert info["library"] == pkpo.library_path()
    assert info["cuda_available"] == pkpo.cuda_available()
    assert info["backends"] in (["cpu"], ["cpu", "cuda"])
    if info["backends"] == ["cpu"]:
        assert info["cuda"] == "not built" and not info["cuda_available"]
    elif info["cuda_available"]:
        assert info["cuda"] == "available"
    else:
        assert info["cuda"].startswith("not usable: ") and len(info["cuda"]) > len("not usable: ")


@pytest.mark.skipif(not os.path.exists(SCRIPT), reason="not installed by pip (no console script)")
def test_pkpo_command_reports_what_the_package_does():
    info = pkpo.build_info()
    p = subprocess.run([SCRIPT, "--version"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [
        "pkpo %s (library %s)" % (info["version"], info["version"]),
        "backends: " + ", ".join(info["backends"]),
        "cuda: " + info["cuda"]]
    # the command is the C tool: its usage errors and exit statuses come through unchanged
    p = subprocess.run([SCRIPT, "transform"], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 2 and "-k K is required" in p.stderr


def test_the_package_carries_the_tool():
    assert os.access(_cli.tool_path(), os.X_OK), _cli.tool_path()


def test_a_failed_cuda_create_says_why():
    """The library's reason (pkpo_last_error(NULL)); the status text where it gave none."""
    class FakeLib:
        reason = b"device 0 (Tesla T4, compute capability 7.5) cannot run this build's kernels"

        def pkpo_last_error(self, handle):
            assert handle is None
            return self.reason

        def pkpo_status_string(self, status):
            return b"status text %d" % status

    lib = FakeLib()
    assert _capi.create_error(lib, 10).startswith("device 0 (Tesla T4, compute capability 7.5)")
    assert _capi.create_error(lib, 11).startswith("device 0")
    lib.reason = b""
    assert _capi.create_error(lib, 9) == "status text 9"


def emulated(cc):
    """build_info() and cuda_available() of the CUDA backend on an emulated device of compute
    capability cc, in a child process (the library is chosen when pkpo loads)."""
    code = ("import pkpo, json; i = pkpo.build_info(); "
            "print(json.dumps([i['cuda'], i['cuda_available'], pkpo.cuda_available(), i['backends']]))")
    env = dict(os.environ, PKPO_LIBRARY=EMU, PKPO_EMU_CC=cc)
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    import json
    return json.loads(p.stdout)


@pytest.mark.skipif(not os.path.exists(EMU), reason="PKPO_EMU_LIBRARY (libpkpo_emu.so) not built")
def test_a_gpu_without_code_for_its_architecture_is_named():
    cuda, available, available2, backends = emulated("75")
    assert not available and not available2 and backends == ["cpu", "cuda"]
    assert cuda.startswith("not usable: device 0 ") and "compute capability 7.5" in cuda, cuda
    assert "cannot run this build's kernels" in cuda and "80-real" in cuda, cuda
    cuda, available, available2, _ = emulated("90")
    assert cuda == "available" and available and available2


def test_the_status_of_each_case(monkeypatch):
    monkeypatch.setattr(_capi, "cuda_available", lambda: False)

    def create(reason, status):
        def fail(backend):
            raise _capi.PkpoError(status, reason, "pkpo_create")
        return fail

    monkeypatch.setattr(_capi, "Handle", create("this build has no CUDA backend", 9))
    assert _info.cuda_status() == ("not built", "")
    assert pkpo.build_info()["backends"] == ["cpu"]
    monkeypatch.setattr(_capi, "Handle", create("no usable CUDA device (no driver)", 10))
    assert _info.cuda_status() == ("not usable", "no usable CUDA device (no driver)")
    assert pkpo.build_info()["cuda"] == "not usable: no usable CUDA device (no driver)"
