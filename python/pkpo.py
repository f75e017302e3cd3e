"""pkpo -- ctypes binding of the pkpo C library (CPU backend).

A thin layer over the public API in include/pkpo.h: numpy arrays in, numpy arrays out, failures
raised as PkpoError carrying the library's status and its pkpo_last_error message. No math is done
here; every transformed reward and every rho comes from libpkpo.

The shared library is found, in order, at
  1. $PKPO_LIBRARY (a path to libpkpo.so), or
  2. <repository root>/build-shared/libpkpo.so, built by
       cmake -B build-shared -DBUILD_SHARED_LIBS=ON -DPKPO_CUDA=OFF -DPKPO_BUILD_TESTS=OFF \
             -DPKPO_BUILD_CLI=OFF && cmake --build build-shared -j2

Layouts (SPEC.md, pkpo.h):
  rewards of shape [G, n]          -> uniform layout, G groups of n samples; outputs have shape [G, n]
  rewards of shape [N] + offsets   -> ragged CSR layout (offsets: G+1 int64, 0 .. N)
  rewards of shape [N] alone       -> one group of N samples
  index=...                        -> optional gather permutation (see pkpo_group_by_id)

Example:
  >>> import numpy as np, pkpo
  >>> pkpo.transform(np.array([[0.5, 0, 1, 0.25, 0.75]]), k=2, estimator="sloo_minus_one")
  array([[0.075, 0.   , 0.25 , 0.025, 0.15 ]])

Only the CPU backend is exposed: every array here is host memory, and the CUDA backend's arrays
live in device memory, which numpy cannot hold.
"""

from __future__ import annotations

import ctypes
import os
from typing import Optional, Sequence, Union

import numpy as np

__all__ = [
    "PkpoError", "Handle", "transform", "rho", "rho_curve", "group_by_id", "version",
    "version_string", "library_path", "ESTIMATORS", "FLAG_SINGLETON", "FLAG_K_CLAMPED",
    "FLAG_NONFINITE", "FLAG_FALLBACK", "FLAG_EMPTY", "FLAG_INVALID", "flag_names",
]

# ---- enumerations (values copied from include/pkpo.h; they are stable) -------------------------

STATUS_NAMES = {
    0: "PKPO_SUCCESS", 1: "PKPO_ERROR_NULL_POINTER", 2: "PKPO_ERROR_INVALID_ARGUMENT",
    3: "PKPO_ERROR_INVALID_K", 4: "PKPO_ERROR_K_EXCEEDS_N", 5: "PKPO_ERROR_NON_FINITE",
    6: "PKPO_ERROR_INVALID_LAYOUT", 7: "PKPO_ERROR_SIZE_OVERFLOW", 8: "PKPO_ERROR_OUT_OF_MEMORY",
    9: "PKPO_ERROR_UNSUPPORTED", 10: "PKPO_ERROR_NO_DEVICE", 11: "PKPO_ERROR_CUDA",
    12: "PKPO_ERROR_WORKSPACE_TOO_SMALL", 13: "PKPO_ERROR_INTERNAL",
}

BACKEND_CPU = 0
FLOAT32, FLOAT64 = 0, 1

ESTIMATORS = {"rho": 0, "s": 1, "sloo": 2, "sloo_minus_one": 3, "l2o": 4}
NONFINITE_POLICIES = {"exclude": 0, "propagate": 1, "error": 2}
K_POLICIES = {"clamp": 0, "strict": 1}

FLAG_SINGLETON = 1 << 0
FLAG_K_CLAMPED = 1 << 1
FLAG_NONFINITE = 1 << 2
FLAG_FALLBACK = 1 << 3
FLAG_EMPTY = 1 << 4
FLAG_INVALID = 1 << 5
_FLAG_NAMES = [(FLAG_SINGLETON, "SINGLETON"), (FLAG_K_CLAMPED, "K_CLAMPED"),
               (FLAG_NONFINITE, "NONFINITE"), (FLAG_FALLBACK, "FALLBACK"),
               (FLAG_EMPTY, "EMPTY"), (FLAG_INVALID, "INVALID")]


def flag_names(bits: int) -> list:
    """The PKPO_FLAG_* names set in one group's flag word, e.g. ['K_CLAMPED']."""
    return [name for bit, name in _FLAG_NAMES if int(bits) & bit]


class PkpoError(RuntimeError):
    """A pkpo call failed. .status is the pkpo_status value, .status_name its C name, .message the
    handle's pkpo_last_error (falls back to pkpo_status_string)."""

    def __init__(self, status: int, message: str, function: str):
        self.status = int(status)
        self.status_name = STATUS_NAMES.get(self.status, "unknown status %d" % self.status)
        self.message = message
        self.function = function
        super().__init__("%s failed: %s (%s)" % (function, message, self.status_name))


# ---- C structures -------------------------------------------------------------------------------

_i64p = ctypes.POINTER(ctypes.c_int64)


class _Desc(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("estimator", ctypes.c_int),
        ("dtype", ctypes.c_int),
        ("num_groups", ctypes.c_int64),
        ("group_size", ctypes.c_int64),
        ("num_samples", ctypes.c_int64),
        ("offsets", _i64p),
        ("index", _i64p),
        ("max_group_size", ctypes.c_int64),
        ("k", ctypes.c_int64),
        ("k_per_group", _i64p),
        ("nonfinite", ctypes.c_int),
        ("k_policy", ctypes.c_int),
    ]


class _HandleOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("backend", ctypes.c_int),
        ("num_threads", ctypes.c_int),
        ("cuda_device", ctypes.c_int),
    ]


# ---- loading ------------------------------------------------------------------------------------

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_lib = None
_lib_path = None


def library_path() -> str:
    """The path the library is (or would be) loaded from."""
    env = os.environ.get("PKPO_LIBRARY")
    if env:
        return env
    return os.path.join(_REPO_ROOT, "build-shared", "libpkpo.so")


def _load():
    global _lib, _lib_path
    if _lib is not None:
        return _lib
    path = library_path()
    if not os.path.exists(path):
        raise OSError(
            "libpkpo not found at %s. Set PKPO_LIBRARY, or build it with:\n"
            "  cmake -B build-shared -DBUILD_SHARED_LIBS=ON -DPKPO_CUDA=OFF "
            "-DPKPO_BUILD_TESTS=OFF -DPKPO_BUILD_CLI=OFF && cmake --build build-shared -j2"
            % path)
    lib = ctypes.CDLL(path)
    vp, cp, sz, st = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int
    u32p = ctypes.POINTER(ctypes.c_uint32)
    descp = ctypes.POINTER(_Desc)
    sigs = {
        "pkpo_version": (ctypes.c_uint, []),
        "pkpo_version_string": (cp, []),
        "pkpo_status_string": (cp, [st]),
        "pkpo_backend_available": (ctypes.c_int, [st]),
        "pkpo_create": (st, [ctypes.POINTER(vp), ctypes.POINTER(_HandleOptions)]),
        "pkpo_destroy": (None, [vp]),
        "pkpo_last_error": (cp, [vp]),
        "pkpo_workspace_size": (st, [vp, descp, ctypes.POINTER(sz)]),
        "pkpo_reserve": (st, [vp, descp]),
        "pkpo_transform": (st, [vp, descp, vp, vp, vp, u32p, vp]),
        "pkpo_rho_curve": (st, [vp, descp, vp, _i64p, ctypes.c_int64, vp, u32p, vp]),
        "pkpo_group_by_id": (st, [vp, _i64p, ctypes.c_int64, _i64p, _i64p, _i64p, _i64p, vp]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    _lib, _lib_path = lib, path
    return lib


def version() -> int:
    """pkpo_version(): MAJOR*10000 + MINOR*100 + PATCH of the loaded library."""
    return int(_load().pkpo_version())


def version_string() -> str:
    return _load().pkpo_version_string().decode()


# ---- handle ---------------------------------------------------------------------------------------

class Handle:
    """A CPU pkpo handle (pkpo_create / pkpo_destroy). Usable as a context manager.

    num_threads: worker threads across groups, 0 = all cores. Results are bitwise identical for
    every thread count (pkpo.h). One handle must be used by one Python thread at a time."""

    def __init__(self, num_threads: int = 0):
        lib = _load()
        opts = _HandleOptions(ctypes.sizeof(_HandleOptions), BACKEND_CPU, int(num_threads), -1)
        h = ctypes.c_void_p()
        status = lib.pkpo_create(ctypes.byref(h), ctypes.byref(opts))
        if status != 0:
            raise PkpoError(status, lib.pkpo_status_string(status).decode(), "pkpo_create")
        self._h = h
        self._lib = lib

    def close(self) -> None:
        if getattr(self, "_h", None) is not None and self._h.value is not None:
            self._lib.pkpo_destroy(self._h)
        self._h = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone already
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def last_error(self) -> str:
        return self._lib.pkpo_last_error(self._h).decode()

    def _check(self, status: int, function: str) -> None:
        if status != 0:
            msg = self.last_error or self._lib.pkpo_status_string(status).decode()
            raise PkpoError(status, msg, function)

    def _handle(self):
        if self._h is None:
            raise ValueError("pkpo handle is closed")
        return self._h

    # -- the calls --

    def transform(self, rewards, k=1, estimator="sloo_minus_one", *, offsets=None, index=None,
                  k_per_group=None, max_group_size=0, nonfinite="exclude", k_policy="clamp",
                  dtype=None, with_rho=False, with_flags=False):
        """See the module-level transform()."""
        est = _enum(ESTIMATORS, estimator, "estimator")
        prep = _prepare(rewards, offsets, index, k, k_per_group, max_group_size, nonfinite,
                        k_policy, dtype, est)
        desc, r, G = prep.desc, prep.rewards, prep.num_groups
        out = None if est == ESTIMATORS["rho"] else np.empty_like(r)
        rho_arr = np.empty(G, dtype=r.dtype) if (with_rho or out is None) else None
        flags = np.empty(G, dtype=np.uint32) if with_flags else None
        status = self._lib.pkpo_transform(
            self._handle(), ctypes.byref(desc), _ptr(r), _ptr(out), _ptr(rho_arr),
            _ptr(flags, ctypes.POINTER(ctypes.c_uint32)), None)
        self._check(status, "pkpo_transform")
        if out is None:
            res = [rho_arr]
        else:
            res = [out.reshape(prep.shape)]
            if with_rho:
                res.append(rho_arr)
        if with_flags:
            res.append(flags)
        return res[0] if len(res) == 1 else tuple(res)

    def rho(self, rewards, k=1, **kw):
        """See the module-level rho()."""
        return self.transform(rewards, k, "rho", **kw)

    def rho_curve(self, rewards, ks, *, offsets=None, index=None, max_group_size=0,
                  nonfinite="exclude", k_policy="clamp", dtype=None, with_flags=False):
        """See the module-level rho_curve()."""
        ks_arr = np.ascontiguousarray(np.atleast_1d(ks), dtype=np.int64)
        if ks_arr.ndim != 1:
            raise ValueError("ks must be one-dimensional")
        prep = _prepare(rewards, offsets, index, 1, None, max_group_size, nonfinite, k_policy,
                        dtype, ESTIMATORS["rho"])
        G = prep.num_groups
        out = np.empty((G, ks_arr.size), dtype=prep.rewards.dtype)
        flags = np.empty(G, dtype=np.uint32) if with_flags else None
        status = self._lib.pkpo_rho_curve(
            self._handle(), ctypes.byref(prep.desc), _ptr(prep.rewards), _ptr(ks_arr, _i64p),
            ks_arr.size, _ptr(out), _ptr(flags, ctypes.POINTER(ctypes.c_uint32)), None)
        self._check(status, "pkpo_rho_curve")
        return (out, flags) if with_flags else out

    def group_by_id(self, ids):
        """See the module-level group_by_id()."""
        ids_arr = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)
        N = ids_arr.size
        offsets = np.empty(N + 1, dtype=np.int64)
        index = np.empty(max(N, 1), dtype=np.int64)
        G = ctypes.c_int64()
        M = ctypes.c_int64()
        status = self._lib.pkpo_group_by_id(
            self._handle(), _ptr(ids_arr, _i64p), N, _ptr(offsets, _i64p), _ptr(index, _i64p),
            ctypes.byref(G), ctypes.byref(M), None)
        self._check(status, "pkpo_group_by_id")
        return offsets[: G.value + 1].copy(), index[:N].copy(), int(M.value)


# ---- argument preparation -------------------------------------------------------------------------

class _Prepared:
    __slots__ = ("desc", "rewards", "num_groups", "shape", "keep")


def _enum(table, value, what):
    if isinstance(value, str):
        try:
            return table[value.lower()]
        except KeyError:
            raise ValueError("unknown %s %r (one of %s)" % (what, value, sorted(table))) from None
    if int(value) not in table.values():
        raise ValueError("unknown %s value %r" % (what, value))
    return int(value)


def _ptr(arr, ctype=ctypes.c_void_p):
    if arr is None:
        return None
    if ctype is ctypes.c_void_p:
        return ctypes.c_void_p(arr.ctypes.data)
    return arr.ctypes.data_as(ctype)


def _prepare(rewards, offsets, index, k, k_per_group, max_group_size, nonfinite, k_policy, dtype,
             est):
    r = np.asarray(rewards)
    if dtype is None:
        np_dtype = np.float32 if r.dtype == np.float32 else np.float64
    else:
        np_dtype = np.dtype(dtype).type
        if np_dtype not in (np.float32, np.float64):
            raise ValueError("dtype must be float32 or float64")
    r = np.ascontiguousarray(r, dtype=np_dtype)
    p = _Prepared()
    p.keep = []
    d = _Desc()
    ctypes.memset(ctypes.byref(d), 0, ctypes.sizeof(d))
    d.struct_size = ctypes.sizeof(_Desc)
    d.estimator = est
    d.dtype = FLOAT32 if np_dtype is np.float32 else FLOAT64
    d.nonfinite = _enum(NONFINITE_POLICIES, nonfinite, "nonfinite policy")
    d.k_policy = _enum(K_POLICIES, k_policy, "k policy")
    d.max_group_size = int(max_group_size)
    if offsets is not None:
        if r.ndim != 1:
            raise ValueError("with offsets, rewards must be one-dimensional (flat), got shape %s"
                             % (r.shape,))
        off = np.ascontiguousarray(offsets, dtype=np.int64).reshape(-1)
        if off.size < 1:
            raise ValueError("offsets needs num_groups+1 >= 1 entries")
        p.keep.append(off)
        d.num_groups = off.size - 1
        d.group_size = 0
        d.num_samples = r.size
        d.offsets = _ptr(off, _i64p)
    elif r.ndim == 2:
        d.num_groups, d.group_size = r.shape
        d.num_samples = r.size
        if r.shape[1] == 0:
            raise ValueError("uniform layout needs n >= 1 samples per group (shape %s)"
                             % (r.shape,))
    elif r.ndim == 1:
        if r.size == 0:
            raise ValueError("a single group needs at least one reward")
        d.num_groups, d.group_size, d.num_samples = 1, r.size, r.size
    else:
        raise ValueError("rewards must be [G, n], or flat with offsets (got shape %s)" % (r.shape,))
    if index is not None:
        idx = np.ascontiguousarray(index, dtype=np.int64).reshape(-1)
        if idx.size != r.size:
            raise ValueError("index needs num_samples = %d entries, got %d" % (r.size, idx.size))
        p.keep.append(idx)
        d.index = _ptr(idx, _i64p)
    if k_per_group is not None:
        kpg = np.ascontiguousarray(np.broadcast_to(np.asarray(k_per_group), (d.num_groups,)),
                                   dtype=np.int64)
        p.keep.append(kpg)
        d.k_per_group = _ptr(kpg, _i64p)
        d.k = 1
    else:
        d.k = int(k)
    p.desc, p.rewards, p.num_groups, p.shape = d, r, int(d.num_groups), r.shape
    return p


# ---- module-level convenience (one lazily created default handle) -------------------------------

_default = None


def _default_handle() -> Handle:
    global _default
    if _default is None:
        _default = Handle()
    return _default


def transform(rewards, k: int = 1, estimator: Union[str, int] = "sloo_minus_one", **kw):
    """Transformed rewards of every group (pkpo_transform).

    rewards    [G, n] array (uniform groups), or flat [N] with offsets=[G+1] (ragged), or flat [N]
               alone (one group). float32 in -> float32 out; anything else is computed as float64
               (override with dtype=np.float32 / np.float64).
    k          one k for every group; or k_per_group=[G] ints (per-group k, e.g. annealing).
    estimator  "s" | "sloo" | "sloo_minus_one" (default, the paper's eq. 33) | "l2o" | "rho".
    Keywords:  offsets, index (gather permutation), k_per_group, max_group_size,
               nonfinite="exclude"|"propagate"|"error", k_policy="clamp"|"strict",
               with_rho=True (also return rho per group), with_flags=True (also return the
               uint32 PKPO_FLAG_* word per group).
    Returns    out (same shape as rewards), or a tuple (out[, rho][, flags]). For
               estimator="rho" the result is rho per group ([G]).
    Raises     PkpoError with the library's status and last-error message."""
    return _default_handle().transform(rewards, k, estimator, **kw)


def rho(rewards, k: int = 1, **kw):
    """Per-group unbiased pass@k / maxg@k estimate rho (SPEC.md eq. 3 / 12), shape [G]."""
    return _default_handle().rho(rewards, k, **kw)


def rho_curve(rewards, ks: Sequence[int], **kw):
    """rho of every group at each k in ks (pkpo_rho_curve), shape [G, len(ks)]."""
    return _default_handle().rho_curve(rewards, ks, **kw)


def group_by_id(ids):
    """Group arbitrary per-sample ids (pkpo_group_by_id): returns (offsets [G+1], index [N],
    max_group_size), to pass as transform(flat_rewards, offsets=..., index=...)."""
    return _default_handle().group_by_id(ids)
