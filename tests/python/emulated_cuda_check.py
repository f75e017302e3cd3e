"""Run by test_cuda_emulated.py in a child process with PKPO_LIBRARY = the emulated-device build of
libpkpo (tests/cuda/emu, libpkpo_emu.so): the package's CUDA-backend code path (_frontend with a
CUDA adapter: scratch per call from the caller, grouping workspace, one handle across streams,
release after the call) against the real CUDA backend sources running on the emulated device, compared
with the CPU backend of the same library within docs/math.md's accuracy targets. Arrays live in emulated device memory
(cudaMalloc of the emulator, host-addressable); the adapter is the numpy one with device allocation.

With the argument `objectives`: mixtures over k and the min statistic (their terms and weights in
device memory), case by case; prints one JSON object {case: {"status": "ok" | "unsupported" |
"mismatch" | "error", ...}} for test_cuda_emulated.py to judge."""

import ctypes
import json
import sys
import weakref

import numpy as np

import pkpo
from pkpo import _capi, _frontend

L = _capi.lib()
L.cudaMalloc.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t]
L.cudaFree.argtypes = [ctypes.c_void_p]
L.cudaStreamCreate.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
L.cudaStreamSynchronize.argtypes = [ctypes.c_void_p]


class Counters(ctypes.Structure):  # pkpo_emu::Counters (tests/cuda/emu/cuda_runtime.h)
    _fields_ = [(name, ctypes.c_uint64) for name in
                ("launches", "blocks", "threads", "mallocs", "frees", "device_syncs", "segments")]


counters = getattr(L, "_ZN8pkpo_emu8countersEv")  # pkpo_emu::counters()
counters.restype = Counters
OURS = {"mallocs": 0, "frees": 0}  # this script's own device allocations


def free(p):
    OURS["frees"] += 1
    L.cudaFree(p)


def dev_empty(shape, dtype):
    dtype = np.dtype(dtype)
    n = int(np.prod(shape)) * dtype.itemsize
    p = ctypes.c_void_p()
    assert L.cudaMalloc(ctypes.byref(p), max(n, 1)) == 0
    OURS["mallocs"] += 1
    raw = (ctypes.c_uint8 * max(n, 1)).from_address(p.value)
    a = np.frombuffer(raw, dtype=np.uint8)[:n].view(dtype).reshape(shape)
    weakref.finalize(raw, free, p.value)
    return a


def to_dev(a):
    d = dev_empty(a.shape, a.dtype)
    d[...] = a
    return d


class EmulatedDevice(_frontend.NumpyAdapter):
    backend, device = _capi.BACKEND_CUDA, 0

    def __init__(self, stream):
        self.stream = stream

    def rewards(self, x):
        a, code, result = super().rewards(x)
        return to_dev(a), code, result

    def writable_direct(self, out, r):
        return False

    def empty(self, shape, like):
        return dev_empty(shape, like.dtype)

    def empty_bytes(self, n):
        return dev_empty((n,), np.uint8)

    def empty_i64(self, n):
        return dev_empty((n,), np.int64)

    def i64(self, values):
        return to_dev(super().i64(values))

    def f64(self, values):
        return to_dev(super().f64(values))


def main():
    assert pkpo.cuda_available(), "the emulated library should offer the CUDA backend"
    streams = []
    for _ in range(2):
        s = ctypes.c_void_p()
        assert L.cudaStreamCreate(ctypes.byref(s)) == 0
        streams.append(s.value)
    rng = np.random.default_rng(0)
    checks = 0
    before = counters()
    mine = dict(OURS)
    for call, stream in enumerate([0] + streams * 2):  # legacy stream, then alternating streams
        A = EmulatedDevice(stream)
        sync = lambda: L.cudaStreamSynchronize(stream or None)  # noqa: E731
        dtype = (np.float32, np.float64)[call % 2]
        g = np.round(rng.normal(size=(40, 12)) * 2).astype(dtype) / 2
        g[3, 5] = np.nan
        uids = np.array(["uid-%d" % (i % 40) for i in range(g.size)], dtype=object)
        perm = rng.permutation(g.size)
        flat, ids = g.reshape(-1)[perm], uids[perm]
        kpg = rng.integers(1, 15, size=40)
        for est in ("s", "sloo", "sloo_minus_one", "l2o"):
            for nonfinite in ("exclude", "propagate"):
                cases = [(g, None, 4), (flat, ids, 3), (flat, ids, kpg),
                         (flat, (perm % 40).astype(np.int64), 2)]
                for x, gid, k in cases:
                    want = pkpo.transform(x, gid, k=k, estimator=est, nonfinite=nonfinite)
                    got = _frontend.transform_arrays(A, x, gid, k, est, nonfinite, "clamp", None,
                                                     None)
                    sync()
                    # the kernels' operation order differs from engine.c's: within the accuracy
                    # target of docs/math.md §4 (max|g| bounds every group's scale)
                    tol = (4e-6 if dtype == np.float32 else 1e-12) * np.nanmax(np.abs(g))
                    if not np.allclose(np.asarray(got), want, rtol=0, atol=tol, equal_nan=True):
                        print("MISMATCH", call, est, nonfinite, k if np.ndim(k) == 0 else "per-group")
                        return 1
                    checks += 1
        want_c, want_l = pkpo.rho_curve(flat, ids, ks=[1, 2, 5, 12, 20])
        got_c, got_l = _frontend.rho_curve_arrays(A, flat, ids, [1, 2, 5, 12, 20], "exclude",
                                                  "clamp")
        sync()
        tol = (4e-6 if dtype == np.float32 else 1e-12) * np.nanmax(np.abs(g))
        if not (np.allclose(np.asarray(got_c), want_c, rtol=0, atol=tol)
                and list(got_l) == list(want_l)):
            print("MISMATCH rho_curve", call)
            return 1
        checks += 1
    after = counters()
    lib_mallocs = after.mallocs - before.mallocs - (OURS["mallocs"] - mine["mallocs"])
    lib_frees = after.frees - before.frees - (OURS["frees"] - mine["frees"])
    syncs = after.device_syncs - before.device_syncs
    if lib_mallocs or lib_frees or syncs:
        print("the library allocated %d, freed %d, synchronised the device %d times"
              % (lib_mallocs, lib_frees, syncs))
        return 1
    print("%d emulated-CUDA calls through the package agree with the CPU backend; the library "
          "allocated, freed and synchronised the device 0 times" % checks)
    return 0


def objective_batch(rng, dtype):
    g = np.round(rng.normal(size=(40, 12)) * 2).astype(dtype) / 2
    g[3, 5] = np.nan
    g[7] = 1.0
    uids = np.array(["uid-%d" % (i % 37) for i in range(g.size)], dtype=object)  # ragged
    perm = rng.permutation(g.size)
    return g, g.reshape(-1)[perm], uids[perm]


OBJECTIVE_CASES = {
    # name: (layout, keywords of pkpo.transform, or None for rho_curve)
    "mixture_2d": ("2d", dict(k=[1, 4, 16], k_weights=[1.0, 0.25, 0.0625])),
    "mixture_uids": ("uids", dict(k=[2, 3, 9], k_weights=[0.5, -1.0, 2.0])),
    "min_2d": ("2d", dict(k=4, statistic="min")),
    "min_mixture_uids": ("uids", dict(k=[1, 5], k_weights=[1.0, 0.2], statistic="min")),
    "rho_curve_min": ("uids", None),
}


def run_objective(name):
    layout, kw = OBJECTIVE_CASES[name]
    rng = np.random.default_rng(len(name))
    checks = 0
    for dtype in (np.float32, np.float64):
        g, flat, ids = objective_batch(rng, dtype)
        x, gid = (g, None) if layout == "2d" else (flat, ids)
        tol = (4e-6 if dtype == np.float32 else 1e-12) * np.nanmax(np.abs(g)) * 4
        A = EmulatedDevice(0)
        if kw is None:
            want, _ = pkpo.rho_curve(x, gid, ks=[1, 3, 12], statistic="min")
            got, _ = _frontend.rho_curve_arrays(A, x, gid, [1, 3, 12], "exclude", "clamp", "min")
            L.cudaStreamSynchronize(None)
            if not np.allclose(np.asarray(got), want, rtol=0, atol=tol):
                return {"status": "mismatch", "dtype": str(np.dtype(dtype))}
            checks += 1
            continue
        for est in ("s", "sloo", "sloo_minus_one", "l2o"):
            want = pkpo.transform(x, gid, estimator=est, **kw)
            got = _frontend.transform_arrays(A, x, gid, kw["k"], est, "exclude", "clamp", None,
                                             None, kw.get("k_weights"),
                                             kw.get("statistic", "max"))
            L.cudaStreamSynchronize(None)
            if not np.allclose(np.asarray(got), want, rtol=0, atol=tol, equal_nan=True):
                return {"status": "mismatch", "estimator": est, "dtype": str(np.dtype(dtype))}
            checks += 1
    return {"status": "ok", "checks": checks}


def objectives():
    results = {}
    for name in OBJECTIVE_CASES:
        try:
            results[name] = run_objective(name)
        except pkpo.PkpoError as e:
            results[name] = {"status": "unsupported" if e.status_name == "PKPO_ERROR_UNSUPPORTED"
                             else "error", "code": e.status, "message": e.message,
                             "function": e.function}
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(objectives() if sys.argv[1:] == ["objectives"] else main())
