"""Array libraries other than numpy and torch: JAX (CPU), any __dlpack__ producer, the array
interface, CuPy (skipped without a GPU); arrays on devices pkpo cannot use are refused clearly."""

import numpy as np
import pytest

import pkpo

G = np.array([[0.5, 0.0, 1.0, 0.25, 0.75], [1.0, 0.0, 0.0, 1.0, 0.5]])


class DLPackOnly:
    """A producer that offers nothing but the DLPack protocol."""

    def __init__(self, a, device=(1, 0)):
        self._a, self._device = a, device

    def __dlpack__(self, **kwargs):
        return self._a.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._device


class ArrayInterfaceOnly:
    def __init__(self, a):
        self.__array_interface__ = a.__array_interface__
        self._keep = a


def test_dlpack_and_array_interface_producers():
    want = pkpo.transform(G, k=2)
    assert np.array_equal(pkpo.transform(DLPackOnly(G), k=2), want)
    assert np.array_equal(pkpo.transform(ArrayInterfaceOnly(G), k=2), want)


def test_device_arrays_pkpo_cannot_use_are_refused():
    with pytest.raises(TypeError, match="DLPack device type 4"):
        pkpo.transform(DLPackOnly(G, device=(4, 0)), k=2)  # e.g. OpenCL


def test_jax_cpu_arrays_come_back_as_jax():
    jnp = pytest.importorskip("jax.numpy")
    x = jnp.asarray(G.astype(np.float32))
    y = pkpo.transform(x, k=2, estimator="l2o")
    assert type(y) is type(x) and y.dtype == np.float32
    assert np.array_equal(np.asarray(y), pkpo.transform(G.astype(np.float32), k=2, estimator="l2o"))
    curve, groups = pkpo.rho_curve(x, ks=[1, 5])
    assert type(curve) is type(x) and np.allclose(np.asarray(curve), [[0.5, 1.0], [0.5, 1.0]])


def test_cupy_arrays_run_on_the_gpu():
    cp = pytest.importorskip("cupy")
    if not pkpo.cuda_available():
        pytest.skip("needs a CUDA build of pkpo and a GPU")
    x = cp.asarray(G, dtype=cp.float32)
    y = pkpo.transform(x, k=2)
    assert isinstance(y, cp.ndarray) and y.dtype == cp.float32
    assert np.allclose(cp.asnumpy(y), pkpo.transform(G.astype(np.float32), k=2), atol=1e-6)
    ids = ["a", "b", "a", "b", "a", "c", "c", "c", "b", "a"]
    assert np.allclose(cp.asnumpy(pkpo.transform(x.reshape(-1), ids, k=2)),
                       pkpo.transform(G.reshape(-1).astype(np.float32), ids, k=2), atol=1e-6)


def test_cupy_mixture_and_min_run_on_the_gpu():
    cp = pytest.importorskip("cupy")
    if not pkpo.cuda_available():
        pytest.skip("needs a CUDA build of pkpo and a GPU")
    x = cp.asarray(G)
    ks, w = pkpo.mixture.harmonic(3)
    for dev_w, statistic in ((w, "max"), (cp.asarray(w), "min")):  # a list, a device array
        y = pkpo.transform(x, k=ks, k_weights=dev_w, statistic=statistic)
        want = pkpo.transform(G, k=ks, k_weights=w, statistic=statistic)
        assert isinstance(y, cp.ndarray)
        assert np.allclose(cp.asnumpy(y), want, atol=1e-12, rtol=0)
    y = pkpo.rho_curve(x, ks=[1, 5], statistic="min")[0]
    assert np.allclose(cp.asnumpy(y), pkpo.rho_curve(G, ks=[1, 5], statistic="min")[0])
