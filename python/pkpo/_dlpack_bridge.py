"""CUDA arrays of libraries that pkpo has no adapter for (JAX on a GPU), through DLPack.

The CUDA backend needs what such a library does not hand to C code from Python: device memory for
the results and scratch, and a stream to queue the work on. CuPy and torch have both, and both
import CUDA arrays through DLPack without a copy, so a foreign CUDA array is viewed as a CuPy array
(else a torch tensor), the call takes that library's tested path (current stream, its allocator),
and the results go back to the caller's library through DLPack. DLPack orders the hand-overs: the
view is requested on the viewing library's current stream (the producer makes its pending writes
visible there), and JAX's from_dlpack asks the results' library to do the same on JAX's stream; no
host synchronisation is added.
"""

from __future__ import annotations

import importlib
import sys

KDL_CUDA = 2  # DLPack's kDLCUDA

VIEWERS = ("cupy", "torch")  # in this order, except that one already imported goes first


def dlpack_device_type(x):
    """x's DLPack device type (kDLCPU = 1, kDLCUDA = 2, ...), or None for a non-producer."""
    f = getattr(x, "__dlpack_device__", None)
    return None if f is None else int(f()[0])


def is_foreign_cuda(x) -> bool:
    """x is a CUDA array of a library without a pkpo adapter (torch and CuPy have theirs)."""
    return (type(x).__module__.split(".", 1)[0] not in ("torch", "cupy")
            and dlpack_device_type(x) == KDL_CUDA)


def viewer():
    """(from_dlpack, array type) of the library that views foreign CUDA arrays: CuPy or torch."""
    names = sorted(VIEWERS, key=lambda n: n not in sys.modules)
    for name in names:
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        return mod.from_dlpack, (mod.ndarray if name == "cupy" else mod.Tensor)
    raise TypeError(
        "pkpo runs arrays on a CUDA device (DLPack device type 2) of libraries other than torch "
        "and CuPy through CuPy or torch, which allocate the results and name the stream; neither "
        "is installed here: pip install cupy-cuda12x (or torch), or pass host arrays")


def back(x, value, array_type):
    """A result of the viewing library as an array of x's library (JAX), else as it is."""
    if isinstance(value, array_type) and type(x).__module__.split(".", 1)[0] in ("jax", "jaxlib"):
        import jax.dlpack
        return jax.dlpack.from_dlpack(value)
    return value


def call(fn, rewards, group_ids, **kwargs):
    """fn (pkpo.transform or pkpo.rho_curve) on foreign CUDA rewards: every foreign CUDA argument
    viewed through DLPack, the results returned in the rewards' library."""
    from_dlpack, array_type = viewer()
    if kwargs.get("out") is not None:
        raise TypeError("out= is not supported with %s arrays on a GPU (JAX arrays are immutable): "
                        "use the returned array" % type(rewards).__module__.split(".", 1)[0])

    def view(v):
        return from_dlpack(v) if is_foreign_cuda(v) else v

    res = fn(view(rewards), view(group_ids), **{k: view(v) for k, v in kwargs.items()})
    if isinstance(res, tuple):
        return tuple(back(rewards, r, array_type) for r in res)
    return back(rewards, res, array_type)
