"""CUDA arrays of libraries without a pkpo adapter (JAX on a GPU) go through DLPack to a CuPy or
torch view (python/pkpo/_dlpack_bridge.py). Without a GPU, a fake producer on DLPack device type 2
and a fake viewer (numpy standing in for CuPy) check the routing: which arguments are viewed, what
comes back in the caller's library (JAX CPU arrays stand in for the round trip), and the refusals."""

import sys

import numpy as np
import pytest

import pkpo
from pkpo import _dlpack_bridge

G = np.array([[0.5, 0.0, 1.0, 0.25, 0.75], [1.0, 0.0, 0.0, 1.0, 0.5]])
IDS = np.array([3, 7, 3, 7, 3, 9, 9, 9, 7, 3])


class FakeCuda:
    """Claims to live on CUDA device 0; its 'device memory' is a host array."""

    def __init__(self, a):
        self.a = np.asarray(a)

    def __dlpack_device__(self):
        return (2, 0)

    def __dlpack__(self, **kwargs):
        raise AssertionError("pkpo must not read a CUDA array as a host array")


class FakeJaxCuda(FakeCuda):
    pass


FakeJaxCuda.__module__ = "jaxlib.fake"  # results go back as JAX arrays


@pytest.fixture
def viewer(monkeypatch):
    """numpy as the viewing library: views a FakeCuda as its host array."""
    viewed = []

    def from_dlpack(x):
        viewed.append(x)
        return x.a

    monkeypatch.setattr(_dlpack_bridge, "viewer", lambda: (from_dlpack, np.ndarray))
    return viewed


def test_foreign_cuda_arrays_are_told_apart():
    assert _dlpack_bridge.is_foreign_cuda(FakeCuda(G))
    assert not _dlpack_bridge.is_foreign_cuda(G)  # numpy: kDLCPU
    assert not _dlpack_bridge.is_foreign_cuda([1.0, 2.0])
    # torch and CuPy have their own adapters (the current stream, their allocator)
    Torchish = type("Tensor", (FakeCuda,), {"__module__": "torch"})
    Cupyish = type("ndarray", (FakeCuda,), {"__module__": "cupy._core.core"})
    assert not _dlpack_bridge.is_foreign_cuda(Torchish(G))
    assert not _dlpack_bridge.is_foreign_cuda(Cupyish(G))


def test_every_foreign_argument_is_viewed(viewer):
    rewards, ids = G.reshape(-1), IDS
    k = np.array([2, 3, 1])
    mask = np.ones((10, 3))
    mask[:, 2] = 0
    want = pkpo.transform(rewards, ids, k=k, estimator="l2o", response_mask=mask)
    got = pkpo.transform(FakeCuda(rewards), FakeCuda(ids), k=FakeCuda(k), estimator="l2o",
                         response_mask=FakeCuda(mask))
    assert len(viewer) == 4 and np.array_equal(got, want)
    curve, groups = pkpo.rho_curve(FakeCuda(rewards), FakeCuda(ids), ks=[1, 4])
    want_curve, want_groups = pkpo.rho_curve(rewards, ids, ks=[1, 4])
    assert np.array_equal(curve, want_curve) and np.array_equal(groups, want_groups)


def test_results_go_back_as_jax_arrays(viewer):
    jnp = pytest.importorskip("jax.numpy")
    x = FakeJaxCuda(G.astype(np.float32))
    y = pkpo.transform(x, k=2)
    assert isinstance(y, type(jnp.zeros(1))) and y.dtype == np.float32
    assert np.array_equal(np.asarray(y), pkpo.transform(G.astype(np.float32), k=2))
    curve, groups = pkpo.rho_curve(FakeJaxCuda(G.reshape(-1)), FakeJaxCuda(IDS), ks=[1, 5])
    assert isinstance(curve, type(jnp.zeros(1))) and isinstance(groups, type(jnp.zeros(1)))
    assert np.array_equal(np.asarray(groups), [3, 7, 9])


def test_out_is_refused_for_immutable_arrays(viewer):
    with pytest.raises(TypeError, match="out= is not supported"):
        pkpo.transform(FakeJaxCuda(G), k=2, out=FakeJaxCuda(np.empty_like(G)))


def test_without_cupy_or_torch_the_refusal_says_what_to_install(monkeypatch):
    for name in _dlpack_bridge.VIEWERS:
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError
    with pytest.raises(TypeError, match="pip install cupy"):
        pkpo.transform(FakeCuda(G), k=2)


def test_an_imported_viewer_goes_first(monkeypatch):
    tried = []

    def fake_import(name):
        tried.append(name)
        raise ImportError(name)

    monkeypatch.setattr(_dlpack_bridge.importlib, "import_module", fake_import)
    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    monkeypatch.setitem(sys.modules, "torch", sys.modules.get("torch") or object())
    with pytest.raises(TypeError):
        _dlpack_bridge.viewer()
    assert tried == ["torch", "cupy"]
