"""pkpo_min -- the few ctypes declarations the benchmarks need (pkpo_create, pkpo_transform,
pkpo_destroy, pkpo_workspace_size, pkpo_reserve) on the CPU backend, with caller-owned output arrays.

The project's binding (python/pkpo.py) allocates a fresh output array per call, which adds page
faults to every timed call; the benchmarks time pkpo_transform alone, into preallocated outputs.
Struct layouts mirror include/pkpo.h (pkpo_handle_options, pkpo_desc).
"""

import ctypes
import os

import numpy as np

ESTIMATORS = {"rho": 0, "s": 1, "sloo": 2, "sloo_minus_one": 3, "l2o": 4}
_I64P = ctypes.POINTER(ctypes.c_int64)


class _HandleOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("backend", ctypes.c_int),
                ("num_threads", ctypes.c_int), ("cuda_device", ctypes.c_int)]


class _Desc(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("estimator", ctypes.c_int),
                ("dtype", ctypes.c_int), ("num_groups", ctypes.c_int64),
                ("group_size", ctypes.c_int64), ("num_samples", ctypes.c_int64),
                ("offsets", _I64P), ("index", _I64P), ("max_group_size", ctypes.c_int64),
                ("k", ctypes.c_int64), ("k_per_group", _I64P), ("nonfinite", ctypes.c_int),
                ("k_policy", ctypes.c_int)]


def load(path=None):
    path = path or os.environ.get("PKPO_LIBRARY")
    if not path or not os.path.exists(path):
        raise FileNotFoundError("libpkpo.so not found (pass --lib or set PKPO_LIBRARY): %r" % path)
    lib = ctypes.CDLL(path)
    lib.pkpo_create.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(_HandleOptions)]
    lib.pkpo_create.restype = ctypes.c_int
    lib.pkpo_destroy.argtypes = [ctypes.c_void_p]
    lib.pkpo_destroy.restype = None
    lib.pkpo_transform.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Desc), ctypes.c_void_p,
                                   ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                   ctypes.c_void_p]
    lib.pkpo_transform.restype = ctypes.c_int
    lib.pkpo_reserve.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Desc)]
    lib.pkpo_reserve.restype = ctypes.c_int
    lib.pkpo_last_error.argtypes = [ctypes.c_void_p]
    lib.pkpo_last_error.restype = ctypes.c_char_p
    lib.pkpo_status_string.argtypes = [ctypes.c_int]
    lib.pkpo_status_string.restype = ctypes.c_char_p
    lib.pkpo_version_string.restype = ctypes.c_char_p
    return lib


class CpuHandle:
    """A CPU handle with `num_threads` workers; transform() writes into caller arrays."""

    def __init__(self, lib, num_threads):
        self.lib = lib
        opts = _HandleOptions(ctypes.sizeof(_HandleOptions), 0, int(num_threads), -1)
        self.h = ctypes.c_void_p()
        st = lib.pkpo_create(ctypes.byref(self.h), ctypes.byref(opts))
        if st != 0:
            raise RuntimeError("pkpo_create: " + lib.pkpo_status_string(st).decode())

    def close(self):
        if self.h:
            self.lib.pkpo_destroy(self.h)
            self.h = None

    def desc(self, x, k, estimator):
        """Descriptor for a C-contiguous float32 [G, n] array."""
        assert x.dtype == np.float32 and x.ndim == 2 and x.flags.c_contiguous
        d = _Desc()
        ctypes.memset(ctypes.byref(d), 0, ctypes.sizeof(d))
        d.struct_size = ctypes.sizeof(_Desc)
        d.estimator = ESTIMATORS[estimator]
        d.dtype = 0
        d.num_groups, d.group_size = x.shape
        d.num_samples = x.size
        d.k = int(k)
        return d

    def check(self, st, what):
        if st != 0:
            raise RuntimeError("%s: %s (%s)" % (what, self.lib.pkpo_status_string(st).decode(),
                                                self.lib.pkpo_last_error(self.h).decode()))

    def reserve(self, d):
        self.check(self.lib.pkpo_reserve(self.h, ctypes.byref(d)), "pkpo_reserve")

    def transform(self, d, x, out, rho):
        """out: float32 like x (or None for rho), rho: float32 [G] or None."""
        st = self.lib.pkpo_transform(self.h, ctypes.byref(d), x.ctypes.data,
                                     None if out is None else out.ctypes.data,
                                     None if rho is None else rho.ctypes.data, None, None)
        self.check(st, "pkpo_transform")
