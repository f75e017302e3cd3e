"""The C API through ctypes: loading libpkpo, its structs and enums, handles, errors.

Nothing here knows about array libraries; callers pass raw addresses (host or device, as the
handle's backend requires). No math is done in Python: every number comes from libpkpo.
"""

from __future__ import annotations

import ctypes
import os
import threading

# ---- enumerations (values from include/pkpo.h; promised stable there) ---------------------------

STATUS_NAMES = {
    0: "PKPO_SUCCESS", 1: "PKPO_ERROR_NULL_POINTER", 2: "PKPO_ERROR_INVALID_ARGUMENT",
    3: "PKPO_ERROR_INVALID_K", 4: "PKPO_ERROR_K_EXCEEDS_N", 5: "PKPO_ERROR_NON_FINITE",
    6: "PKPO_ERROR_INVALID_LAYOUT", 7: "PKPO_ERROR_SIZE_OVERFLOW", 8: "PKPO_ERROR_OUT_OF_MEMORY",
    9: "PKPO_ERROR_UNSUPPORTED", 10: "PKPO_ERROR_NO_DEVICE", 11: "PKPO_ERROR_CUDA",
    12: "PKPO_ERROR_WORKSPACE_TOO_SMALL", 13: "PKPO_ERROR_INTERNAL",
}
BACKEND_CPU, BACKEND_CUDA = 0, 1
FLOAT32, FLOAT64 = 0, 1
ESTIMATORS = {"rho": 0, "s": 1, "sloo": 2, "sloo_minus_one": 3, "l2o": 4}
STATISTICS = {"max": 0, "min": 1}
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


class PkpoError(ValueError):
    """A pkpo call failed. .status is the pkpo_status value, .status_name its C name, .message the
    handle's pkpo_last_error (or pkpo_status_string), .function the C function that failed."""

    def __init__(self, status: int, message: str, function: str):
        self.status = int(status)
        self.status_name = STATUS_NAMES.get(self.status, "unknown status %d" % self.status)
        self.message = message
        self.function = function
        super().__init__("%s failed: %s (%s)" % (function, message, self.status_name))


def enum_value(table: dict, value, what: str) -> int:
    if isinstance(value, str):
        try:
            return table[value.lower()]
        except KeyError:
            raise ValueError("unknown %s %r (one of %s)" % (what, value, sorted(table))) from None
    raise TypeError("%s must be a string (one of %s), got %r" % (what, sorted(table), value))


# ---- C structures -------------------------------------------------------------------------------

i64p = ctypes.POINTER(ctypes.c_int64)
u32p = ctypes.POINTER(ctypes.c_uint32)


class Desc(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("estimator", ctypes.c_int),
        ("dtype", ctypes.c_int),
        ("num_groups", ctypes.c_int64),
        ("group_size", ctypes.c_int64),
        ("num_samples", ctypes.c_int64),
        ("offsets", ctypes.c_void_p),
        ("index", ctypes.c_void_p),
        ("max_group_size", ctypes.c_int64),
        ("k", ctypes.c_int64),
        ("k_per_group", ctypes.c_void_p),
        ("nonfinite", ctypes.c_int),
        ("k_policy", ctypes.c_int),
        ("statistic", ctypes.c_int),
        ("num_k_terms", ctypes.c_int64),
        ("k_terms", ctypes.c_void_p),
        ("k_weights", ctypes.c_void_p),
    ]


def new_desc() -> Desc:
    """PKPO_DESC_INIT."""
    d = Desc()
    ctypes.memset(ctypes.byref(d), 0, ctypes.sizeof(d))
    d.struct_size = ctypes.sizeof(Desc)
    d.estimator = ESTIMATORS["sloo_minus_one"]
    d.k = 1
    return d


class HandleOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("backend", ctypes.c_int),
        ("num_threads", ctypes.c_int),
        ("cuda_device", ctypes.c_int),
    ]


# ---- loading ------------------------------------------------------------------------------------

_lib = None
_lib_lock = threading.Lock()


def library_path() -> str:
    """Where libpkpo is loaded from: $PKPO_LIBRARY, else the copy installed inside this package."""
    env = os.environ.get("PKPO_LIBRARY")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    for name in ("libpkpo.so", "libpkpo.dylib", "pkpo.dll"):
        path = os.path.join(here, name)
        if os.path.exists(path):
            return path
    return os.path.join(here, "libpkpo.so")


def lib():
    global _lib
    if _lib is not None:
        return _lib
    with _lib_lock:
        if _lib is not None:
            return _lib
        path = library_path()
        if not os.path.exists(path):
            raise ImportError(
                "libpkpo not found at %s: install the package with `pip install .` from the "
                "repository root, or point PKPO_LIBRARY at a libpkpo shared library" % path)
        L = ctypes.CDLL(path)
        vp, cp, sz, st = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int
        descp = ctypes.POINTER(Desc)
        sigs = {
            "pkpo_version": (ctypes.c_uint, []),
            "pkpo_version_string": (cp, []),
            "pkpo_status_string": (cp, [st]),
            "pkpo_backend_available": (ctypes.c_int, [st]),
            "pkpo_create": (st, [ctypes.POINTER(vp), ctypes.POINTER(HandleOptions)]),
            "pkpo_destroy": (None, [vp]),
            "pkpo_last_error": (cp, [vp]),
            "pkpo_workspace_size": (st, [vp, descp, ctypes.POINTER(sz)]),
            "pkpo_set_workspace": (st, [vp, vp, sz]),
            "pkpo_transform": (st, [vp, descp, vp, vp, vp, vp, vp]),
            "pkpo_rho_curve": (st, [vp, descp, vp, vp, ctypes.c_int64, vp, vp, vp]),
            "pkpo_group_by_id": (st, [vp, vp, ctypes.c_int64, vp, vp, i64p, i64p, vp]),
            "pkpo_group_by_id_workspace_size": (st, [vp, ctypes.c_int64, ctypes.POINTER(sz)]),
        }
        for name, (restype, argtypes) in sigs.items():
            fn = getattr(L, name)
            fn.restype = restype
            fn.argtypes = argtypes
        _lib = L
        return L


def version() -> int:
    """pkpo_version(): MAJOR*10000 + MINOR*100 + PATCH of the loaded library."""
    return int(lib().pkpo_version())


def version_string() -> str:
    return lib().pkpo_version_string().decode()


def cuda_available() -> bool:
    """True when the loaded library has the CUDA backend and a usable GPU."""
    return bool(lib().pkpo_backend_available(BACKEND_CUDA))


# ---- handles ------------------------------------------------------------------------------------

class Handle:
    """One pkpo handle (pkpo_create / pkpo_destroy). Not for concurrent use by several threads;
    the module keeps one per thread, backend and device (handle())."""

    def __init__(self, backend: int = BACKEND_CPU, device: int = -1, num_threads: int = 0):
        L = lib()
        opts = HandleOptions(ctypes.sizeof(HandleOptions), backend, int(num_threads), int(device))
        h = ctypes.c_void_p()
        status = L.pkpo_create(ctypes.byref(h), ctypes.byref(opts))
        if status != 0:
            raise PkpoError(status, create_error(L, status), "pkpo_create")
        self._h, self._lib, self.backend = h, L, backend

    def close(self) -> None:
        if getattr(self, "_h", None) is not None and self._h.value is not None:
            self._lib.pkpo_destroy(self._h)
        self._h = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone already
            pass

    def check(self, status: int, function: str) -> None:
        if status != 0:
            msg = self._lib.pkpo_last_error(self._h).decode()
            if not msg:
                msg = self._lib.pkpo_status_string(status).decode()
            raise PkpoError(status, msg, function)

    # Thin wrappers: addresses in, status checked.
    def workspace_size(self, desc: Desc) -> int:
        n = ctypes.c_size_t()
        self.check(self._lib.pkpo_workspace_size(self._h, ctypes.byref(desc), ctypes.byref(n)),
                   "pkpo_workspace_size")
        return int(n.value)

    def group_by_id_workspace_size(self, num_samples: int) -> int:
        n = ctypes.c_size_t()
        self.check(self._lib.pkpo_group_by_id_workspace_size(self._h, int(num_samples),
                                                             ctypes.byref(n)),
                   "pkpo_group_by_id_workspace_size")
        return int(n.value)

    def set_workspace(self, ptr: int, nbytes: int) -> None:
        self.check(self._lib.pkpo_set_workspace(self._h, ptr or None, int(nbytes)),
                   "pkpo_set_workspace")

    def transform(self, desc: Desc, rewards: int, out: int, rho: int, flags: int,
                  stream: int = 0) -> None:
        self.check(self._lib.pkpo_transform(self._h, ctypes.byref(desc), rewards or None,
                                            out or None, rho or None, flags or None,
                                            stream or None), "pkpo_transform")

    def rho_curve(self, desc: Desc, rewards: int, ks_host: int, num_ks: int, rho: int,
                  flags: int, stream: int = 0) -> None:
        self.check(self._lib.pkpo_rho_curve(self._h, ctypes.byref(desc), rewards or None,
                                            ks_host, int(num_ks), rho or None, flags or None,
                                            stream or None), "pkpo_rho_curve")

    def group_by_id(self, ids: int, num_samples: int, offsets: int, index: int,
                    stream: int = 0):
        G, M = ctypes.c_int64(), ctypes.c_int64()
        self.check(self._lib.pkpo_group_by_id(self._h, ids or None, int(num_samples),
                                              offsets or None, index or None, ctypes.byref(G),
                                              ctypes.byref(M), stream or None),
                   "pkpo_group_by_id")
        return int(G.value), int(M.value)


def create_error(L, status: int) -> str:
    """Why pkpo_create failed: the library's reason (pkpo_last_error(NULL), set by every failing
    create: e.g. which device has no code for its architecture in this build), else the status
    text."""
    why = L.pkpo_last_error(None).decode()
    return why or L.pkpo_status_string(status).decode()


_tls = threading.local()


def handle(backend: int = BACKEND_CPU, device: int = -1) -> Handle:
    """The calling thread's handle for (backend, device). The package gives a CUDA handle its
    scratch per call (from the framework's allocator, on the call's stream) and sets it back to
    none afterwards, so one handle serves every stream; handles are never created during a call
    on a stream that is being captured once the thread has made one call on that device."""
    cache = getattr(_tls, "handles", None)
    if cache is None:
        cache = _tls.handles = {}
    key = (backend, device)
    h = cache.get(key)
    if h is None:
        h = cache[key] = Handle(backend, device, cpu_threads() if backend == BACKEND_CPU else 0)
    return h


def cpu_threads() -> int:
    """Worker threads of the package's CPU handles: $PKPO_NUM_THREADS, default 1 (0 = the C
    library's choice: OMP_NUM_THREADS, at most one thread per 64k rewards).

    One thread by default because the package runs inside processes busy with torch: measured
    2026-11-25 on the 2-core dev VM (bench/python_in_trainer.py), a [16384, 8] float32 call timed
    right after torch matmuls took 0.9 ms on one thread and 7-10 ms on two, whose second thread
    waits for a core that torch's OpenMP threads still spin on; one thread does 131k rewards in
    0.55 ms, so a trainer's batch gains little from more."""
    try:
        n = int(os.environ.get("PKPO_NUM_THREADS", "1"))
    except ValueError:
        raise ValueError("PKPO_NUM_THREADS must be an integer >= 0, got %r"
                         % os.environ["PKPO_NUM_THREADS"]) from None
    if n < 0:
        raise ValueError("PKPO_NUM_THREADS must be >= 0, got %d" % n)
    return n
