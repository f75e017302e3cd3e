"""Array libraries -> the C API, and back.

One generic routine per call (transform_arrays, rho_curve_arrays) works on an adapter that knows
one array library: where its arrays live (host: CPU backend; CUDA: CUDA backend on the array's
device and the library's current stream), how to allocate and how to get an address. Arrays the
library can use as they are (float32/float64, C-contiguous) are passed without copies.
"""

from __future__ import annotations

import contextlib
import sys

import numpy as np

from . import _capi
from ._capi import BACKEND_CPU, BACKEND_CUDA, FLOAT32, FLOAT64


# ---- adapters -----------------------------------------------------------------------------------

class NumpyAdapter:
    """Host arrays: numpy, and anything numpy can view (__dlpack__ on the CPU, the array
    interface, buffers, lists)."""

    backend, device, stream = BACKEND_CPU, -1, 0

    def rewards(self, x):
        """(array in the compute dtype, C-contiguous; dtype code; dtype of the result)."""
        if isinstance(x, np.ma.MaskedArray):
            raise TypeError("rewards is a masked array: fill or compress it first (NaN entries "
                            "are excluded from their group by the default nonfinite='exclude')")
        if isinstance(x, np.ndarray):
            a = x
        elif hasattr(x, "__dlpack__") and not hasattr(x, "__array_interface__"):
            a = np.from_dlpack(x)
        else:
            a = np.asarray(x)
        check_real(a.dtype)
        result = a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)
        compute = np.float32 if a.dtype in (np.float32, np.float16) else np.float64
        a = np.require(a, dtype=compute, requirements=["C", "A"])
        return a, (FLOAT32 if compute is np.float32 else FLOAT64), result

    def is_array(self, x):
        return isinstance(x, np.ndarray)

    def empty(self, shape, like):
        return np.empty(shape, dtype=like.dtype)

    def empty_bytes(self, n):
        return np.empty(n, dtype=np.uint8)

    def i64(self, values):
        return np.ascontiguousarray(np.asarray(values).reshape(-1), dtype=np.int64)

    def empty_i64(self, n):
        return np.empty(n, dtype=np.int64)

    def f64(self, values):
        return np.ascontiguousarray(np.asarray(values).reshape(-1), dtype=np.float64)

    def host(self, a):
        return np.asarray(a)

    def ptr(self, a):
        return 0 if a is None else a.ctypes.data

    def shape(self, a):
        return tuple(a.shape)

    def cast(self, a, dtype):
        return a if a.dtype == dtype else a.astype(dtype)

    def mask_multiply(self, values, mask, dtype):
        m = np.asarray(mask)
        # where, not a plain product: a NaN output (nonfinite="propagate") stays out of padding
        return np.where(m != 0, values.reshape(-1, 1) * m.astype(dtype, copy=False), 0).astype(
            dtype, copy=False)

    def copy_into(self, dst, src):
        np.copyto(dst, src)

    def writable_direct(self, out, r):
        """out can take the library's output directly (else: compute, then copy in)."""
        if not out.flags.writeable:
            raise ValueError("out is read-only")
        return (out.dtype == r.dtype and out.shape == r.shape and out.flags.c_contiguous
                and out.flags.aligned and (out is r or not np.shares_memory(out, r)))

    def context(self):
        return contextlib.nullcontext()


class TorchAdapter:
    """torch tensors, on the CPU (CPU backend) or a CUDA device (CUDA backend, current stream)."""

    def __init__(self, device):
        import torch
        self.torch = torch
        if device.type == "cuda":
            self.backend = BACKEND_CUDA
            self.device = device.index if device.index is not None else torch.cuda.current_device()
            self.stream = torch.cuda.current_stream(self.device).cuda_stream
            self.torch_device = torch.device("cuda", self.device)
        elif device.type == "cpu":
            self.backend, self.device, self.stream = BACKEND_CPU, -1, 0
            self.torch_device = device
        else:
            raise TypeError("pkpo takes CPU and CUDA tensors, not %s tensors" % device.type)

    def rewards(self, x):
        t = self.torch
        x = x.detach()
        if x.is_complex():
            raise TypeError("rewards must be real, got %s" % x.dtype)
        result = x.dtype if x.is_floating_point() else t.float64
        compute = t.float64 if x.dtype == t.float64 else (t.float32 if x.is_floating_point()
                                                          else t.float64)
        a = x.to(compute).contiguous()
        return a, (FLOAT32 if compute == t.float32 else FLOAT64), result

    def is_array(self, x):
        return isinstance(x, self.torch.Tensor)

    def empty(self, shape, like):
        return self.torch.empty(shape, dtype=like.dtype, device=like.device)

    def empty_bytes(self, n):
        return self.torch.empty(n, dtype=self.torch.uint8, device=self.torch_device)

    def i64(self, values):
        t = self.torch
        if isinstance(values, t.Tensor):
            return values.detach().reshape(-1).to(device=self.torch_device,
                                                   dtype=t.int64).contiguous()
        return t.as_tensor(np.asarray(values, dtype=np.int64).reshape(-1),
                           device=self.torch_device)

    def empty_i64(self, n):
        return self.torch.empty(n, dtype=self.torch.int64, device=self.torch_device)

    def f64(self, values):
        t = self.torch
        if isinstance(values, t.Tensor):
            return values.detach().reshape(-1).to(device=self.torch_device,
                                                   dtype=t.float64).contiguous()
        return t.as_tensor(np.asarray(values, dtype=np.float64).reshape(-1),
                           device=self.torch_device)

    def host(self, a):
        return a.cpu().numpy()

    def ptr(self, a):
        return 0 if a is None else a.data_ptr()

    def shape(self, a):
        return tuple(a.shape)

    def cast(self, a, dtype):
        return a if a.dtype == dtype else a.to(dtype)

    def mask_multiply(self, values, mask, dtype):
        m = self.torch.as_tensor(mask, device=values.device)
        prod = values.reshape(-1, 1) * m.to(dtype)
        return self.torch.where(m != 0, prod, self.torch.zeros((), dtype=dtype,
                                                               device=values.device))

    def copy_into(self, dst, src):
        dst.copy_(src)

    def writable_direct(self, out, r):
        return False  # the custom op returns a new tensor; pkpo.transform copies it into out

    def context(self):
        return contextlib.nullcontext()


class CupyAdapter:
    """CuPy arrays: CUDA backend on the array's device and CuPy's current stream."""

    backend = BACKEND_CUDA

    def __init__(self, x):
        import cupy
        self.cp = cupy
        self.device = int(x.device.id)
        self.stream = int(cupy.cuda.get_current_stream().ptr)

    def rewards(self, x):
        cp = self.cp
        check_real(x.dtype)
        result = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
        compute = np.float32 if x.dtype in (np.float32, np.float16) else np.float64
        a = cp.ascontiguousarray(x, dtype=compute)
        return a, (FLOAT32 if compute is np.float32 else FLOAT64), result

    def is_array(self, x):
        return isinstance(x, self.cp.ndarray)

    def empty(self, shape, like):
        return self.cp.empty(shape, dtype=like.dtype)

    def empty_bytes(self, n):
        return self.cp.empty(n, dtype=np.uint8)

    def i64(self, values):
        return self.cp.ascontiguousarray(self.cp.asarray(values).reshape(-1), dtype=np.int64)

    def empty_i64(self, n):
        return self.cp.empty(n, dtype=np.int64)

    def f64(self, values):
        return self.cp.ascontiguousarray(self.cp.asarray(values).reshape(-1), dtype=np.float64)

    def host(self, a):
        return self.cp.asnumpy(a)

    def ptr(self, a):
        return 0 if a is None else int(a.data.ptr)

    def shape(self, a):
        return tuple(a.shape)

    def cast(self, a, dtype):
        return a if a.dtype == dtype else a.astype(dtype)

    def mask_multiply(self, values, mask, dtype):
        m = self.cp.asarray(mask)
        return self.cp.where(m != 0, values.reshape(-1, 1) * m.astype(dtype, copy=False),
                             0).astype(dtype, copy=False)

    def copy_into(self, dst, src):
        self.cp.copyto(dst, src)

    def writable_direct(self, out, r):
        return (out.dtype == r.dtype and out.shape == r.shape and out.flags.c_contiguous
                and (out is r or not self.cp.shares_memory(out, r)))

    def context(self):
        return self.cp.cuda.Device(self.device)  # outputs and scratch on the array's device


def check_real(dtype):
    if np.dtype(dtype).kind == "c":
        raise TypeError("rewards must be real, got %s" % dtype)


def int_kind(dtype) -> str:
    """numpy's kind letter of a numpy or torch dtype ('f' for anything numpy does not know)."""
    try:
        return np.dtype(str(dtype).replace("torch.", "")).kind
    except TypeError:
        return "f"


def scalar_k(k):
    """k as a Python int when it is one value (int, numpy integer, 0-d integer array or tensor);
    None when it is one value per group."""
    if isinstance(k, bool) or k is None:
        raise TypeError("k must be an integer >= 1, or one integer per group (got %r)" % (k,))
    if isinstance(k, (int, np.integer)):
        v = int(k)
    elif getattr(k, "ndim", None) == 0:
        if int_kind(k.dtype) not in "iu":
            raise TypeError("k must be an integer, got a %s value" % k.dtype)
        v = int(k.item())
    elif isinstance(k, (float, np.floating)):
        raise TypeError("k must be an integer, got %r" % (k,))
    else:
        return None
    if v >= 2 ** 63:
        raise ValueError("k = %d does not fit in int64" % v)
    return v


def check_int_array(values, what):
    dtype = values.dtype if hasattr(values, "dtype") else np.asarray(values).dtype
    if int_kind(dtype) not in "iu":
        raise TypeError("%s must hold integers, got %s values" % (what, dtype))


def mixture_arrays(A, k, k_weights):
    """The mixture's terms (int64) and weights (float64) as arrays of A's memory space: the C
    library reads them where it reads the rewards (device memory for the CUDA backend). Arrays
    already of that dtype, contiguous and on that device pass through, so a CUDA graph captured
    with them replays with whatever they hold then. Values (k >= 1, finite weights) are the C
    library's to check: its PkpoError names the bad term."""
    if isinstance(k, bool) or isinstance(k, (float, np.floating)):
        raise TypeError("with k_weights, k lists the mixture's ks (integers), got %r" % (k,))
    if isinstance(k_weights, bool):
        raise TypeError("k_weights must be real numbers, got %r" % (k_weights,))
    if not hasattr(k, "dtype") and np.size(k) == 0:  # [] has no integer dtype to check
        raise ValueError("the mixture has no terms: pass at least one k and one weight")
    check_int_array(k, "k (the mixture's terms)")
    wdtype = k_weights.dtype if hasattr(k_weights, "dtype") else np.asarray(k_weights).dtype
    if int_kind(wdtype) not in "iuf":
        raise TypeError("k_weights must be real numbers, got %s values" % wdtype)
    terms, weights = A.i64(k), A.f64(k_weights)
    nt, nw = A.shape(terms)[0], A.shape(weights)[0]
    if nt != nw:
        raise ValueError("k lists %d term(s) but k_weights has %d: one weight per k" % (nt, nw))
    if nt == 0:
        raise ValueError("the mixture has no terms: pass at least one k and one weight")
    return terms, weights


def adapter_for(x):
    mod = type(x).__module__.split(".", 1)[0]
    if mod == "torch":
        return TorchAdapter(x.device)
    if mod == "cupy":
        return CupyAdapter(x)
    if hasattr(x, "__dlpack_device__"):
        dev_type = int(x.__dlpack_device__()[0])
        if dev_type not in (1, 3):  # kDLCPU, kDLCUDAHost
            raise TypeError("pkpo takes host arrays, torch tensors and CuPy arrays; a %s on "
                            "DLPack device type %d is not supported" % (type(x).__name__,
                                                                       dev_type))
    return NumpyAdapter()


def wrap_result(x, result):
    """Host results go back as the input's array type where it is not numpy (e.g. JAX)."""
    mod = type(x).__module__.split(".", 1)[0]
    if mod in ("jax", "jaxlib"):
        import jax.numpy as jnp
        return jnp.asarray(result)
    return result


# ---- the calls ----------------------------------------------------------------------------------

class _Batch:
    """A batch laid out for pkpo_desc: the desc, the arrays it points to, group bookkeeping."""

    def __init__(self, A, r, code, group_ids, k, estimator, nonfinite, k_policy, h,
                 k_weights=None, statistic="max"):
        d = _capi.new_desc()
        d.estimator = estimator
        d.dtype = code
        d.nonfinite = _capi.enum_value(_capi.NONFINITE_POLICIES, nonfinite, "nonfinite policy")
        d.k_policy = _capi.enum_value(_capi.K_POLICIES, k_policy, "k_policy")
        d.statistic = _capi.enum_value(_capi.STATISTICS, statistic, "statistic")
        # The mixture's arrays are checked before any grouping work (which may synchronise).
        terms_weights = mixture_arrays(A, k, k_weights) if k_weights is not None else None
        self.keep = []
        self.labels = None
        self.first = None
        shape = A.shape(r)
        if group_ids is None:
            if len(shape) != 2:
                raise ValueError(
                    "rewards of shape %s: pass a 2-D [num_groups, group_size] array, or 1-D "
                    "rewards with group_ids (one id per sample, e.g. verl's uid index); 1-D "
                    "rewards alone are never taken as one group" % (shape,))
            d.num_groups, d.group_size = shape
            d.num_samples = shape[0] * shape[1]
            if shape[1] == 0 and shape[0] > 0:
                raise ValueError("rewards of shape %s: groups need at least one sample" % (shape,))
        else:
            if len(shape) != 1:
                raise ValueError("with group_ids, rewards must be 1-D [num_samples], got shape %s"
                                 % (shape,))
            N = shape[0]
            if isinstance(group_ids, (str, bytes)):
                raise TypeError("group_ids is a single %s: pass one id per sample"
                                % type(group_ids).__name__)
            if A.is_array(group_ids):
                if str(getattr(group_ids, "dtype", "")).replace("torch.", "") not in (
                        "int64", "int32", "int16", "int8", "uint8", "bool"):
                    ids_host, self.labels = _host_codes(A.host(group_ids))
                    ids = A.i64(ids_host)
                else:
                    ids = A.i64(group_ids)
                    self.labels = _device_labels(A, group_ids)
            else:
                ids_host, self.labels = _host_codes(group_ids)
                ids = A.i64(ids_host)
            if A.shape(ids)[0] != N:
                raise ValueError("group_ids has %d entries, rewards %d" % (A.shape(ids)[0], N))
            offsets = A.empty_i64(N + 1)
            index = A.empty_i64(max(N, 1))
            if A.backend == BACKEND_CUDA:  # grouping scratch from the framework's allocator too
                self.use_scratch(A, h, h.group_by_id_workspace_size(N))
            try:
                G, M = h.group_by_id(A.ptr(ids), N, A.ptr(offsets), A.ptr(index), A.stream)
            finally:
                self.release(h)
            self.keep += [ids, offsets, index]
            self.offsets, self.index = offsets, index
            d.num_groups, d.num_samples, d.max_group_size = G, N, M
            d.offsets, d.index = A.ptr(offsets), A.ptr(index)
            if N > 0 and G * M == N:
                # Every group has M samples (they add up to N and none has more): the uniform
                # layout with the index, which the CUDA backend runs as one launch of one kernel.
                d.group_size, d.offsets = M, None
        self.num_groups = int(d.num_groups)
        if terms_weights is not None:
            terms, weights = terms_weights
            self.keep += [terms, weights]
            d.num_k_terms = A.shape(terms)[0]
            d.k_terms, d.k_weights = A.ptr(terms), A.ptr(weights)
        elif k is not _NO_K:
            kk = scalar_k(k)
            if kk is not None:
                d.k = kk
            else:
                check_int_array(k, "per-group k")
                kpg = A.i64(k)
                if A.shape(kpg)[0] != self.num_groups:
                    raise ValueError("k has %d entries but there are %d groups (per-group k is in "
                                     "the order of first appearance of each group id)"
                                     % (A.shape(kpg)[0], self.num_groups))
                self.keep.append(kpg)
                d.k, d.k_per_group = 1, A.ptr(kpg)
        self.desc = d
        if A.backend == BACKEND_CUDA:
            # Scratch from the framework's allocator, on the call's stream (so its reuse is
            # ordered after this call's kernels) and capture-aware. The handle owns no workspace,
            # so pointing it at caller scratch (and back to none in release()) never
            # synchronises; with its own scratch per call, one handle serves every stream.
            self.use_scratch(A, h, h.workspace_size(d))

    def use_scratch(self, A, h, nbytes):
        ws = A.empty_bytes(max(nbytes, 256))
        self.keep.append(ws)
        h.set_workspace(A.ptr(ws), nbytes)

    def release(self, h):
        """The handle forgets this call's scratch (its queued work still uses it: the framework's
        allocator orders any reuse after that work)."""
        if h.backend == BACKEND_CUDA:
            h.set_workspace(0, 0)

    def group_labels(self, A):
        """The caller's group ids in group order (first appearance)."""
        if self.labels is None:
            return np.arange(self.num_groups, dtype=np.int64)
        offsets = A.host(self.offsets)[: self.num_groups]
        first = A.host(self.index)[offsets] if self.num_groups else np.zeros(0, np.int64)
        return self.labels(first)


def _host_codes(group_ids):
    from ._grouping import codes_and_labels
    return codes_and_labels(group_ids)


def _device_labels(A, ids):
    return lambda first: ids.reshape(-1)[A.i64(first)] if len(first) else ids.reshape(-1)[:0]


_NO_K = object()  # rho_curve: no transform k


def mask_shape(A, response_mask, n_samples):
    mshape = tuple(A.shape(response_mask) if A.is_array(response_mask)
                   else np.shape(response_mask))
    if len(mshape) != 2 or mshape[0] != n_samples:
        raise ValueError("response_mask must be [num_samples, T] = [%d, T], got %s"
                         % (n_samples, mshape))
    return mshape


def check_out(out, shape):
    """out must have the result's shape and a floating dtype; checked before anything runs."""
    if tuple(out.shape) != tuple(shape):
        raise ValueError("out has shape %s, the result %s" % (tuple(out.shape), tuple(shape)))
    if int_kind(out.dtype) != "f":
        raise TypeError("out must have a floating dtype, got %s" % out.dtype)


def transform_arrays(A, x, group_ids, k, estimator, nonfinite, k_policy, response_mask, out,
                     k_weights=None, statistic="max"):
    est = _capi.enum_value(_capi.ESTIMATORS, estimator, "estimator")
    if est == _capi.ESTIMATORS["rho"]:
        raise ValueError("estimator 'rho' has no per-sample output: use pkpo.rho_curve")
    with A.context():
        r, code, result_dtype = A.rewards(x)
        shape = A.shape(r)
        if response_mask is not None:
            shape = mask_shape(A, response_mask, int(np.prod(shape)))
        if out is not None:
            check_out(out, shape)
        direct = out is not None and response_mask is None and A.writable_direct(out, r)
        h = _capi.handle(A.backend, A.device)
        b = _Batch(A, r, code, group_ids, k, est, nonfinite, k_policy, h, k_weights, statistic)
        values = out if direct else A.empty(A.shape(r), r)
        try:
            h.transform(b.desc, A.ptr(r), A.ptr(values), 0, 0, A.stream)
        finally:
            b.release(h)
        if direct:
            return out
        res = A.cast(values, result_dtype)
        if response_mask is not None:
            res = A.mask_multiply(res, response_mask, result_dtype)
        if out is not None:
            A.copy_into(out, res)
            return out
        return res


def rho_curve_core(A, x, group_ids, ks, nonfinite, k_policy, statistic="max"):
    """(curve [G, len(ks)], the _Batch): the part shared by numpy/CuPy and the torch op."""
    ks_host = ks_array(ks)
    r, code, _ = A.rewards(x)
    h = _capi.handle(A.backend, A.device)
    b = _Batch(A, r, code, group_ids, _NO_K, _capi.ESTIMATORS["rho"], nonfinite, k_policy, h,
               statistic=statistic)
    curve = A.empty((b.num_groups, ks_host.size), r)
    try:
        if b.num_groups > 0:
            h.rho_curve(b.desc, A.ptr(r), ks_host.ctypes.data, ks_host.size, A.ptr(curve), 0,
                        A.stream)
    finally:
        b.release(h)
    return curve, b


def rho_curve_arrays(A, x, group_ids, ks, nonfinite, k_policy, statistic="max"):
    with A.context():
        curve, b = rho_curve_core(A, x, group_ids, ks, nonfinite, k_policy, statistic)
        return curve, b.group_labels(A)


def ks_array(ks):
    """ks as a host int64 array of at least one entry, integers only."""
    if isinstance(ks, (bool, float, np.floating)):
        raise TypeError("ks must be integers, got %r" % (ks,))
    arr = np.atleast_1d(np.asarray(ks.cpu() if hasattr(ks, "cpu") else ks)).reshape(-1)
    if arr.size == 0:
        raise ValueError("ks is empty: pass at least one k")
    check_int_array(arr, "ks")
    return np.ascontiguousarray(arr, dtype=np.int64)


def torch_loaded() -> bool:
    return "torch" in sys.modules


def is_torch_tensor(x) -> bool:
    t = sys.modules.get("torch")
    return t is not None and isinstance(x, t.Tensor)


_torch_ops_module = None


def torch_ops():
    """The module that registers pkpo's torch custom ops (imported once, on first use)."""
    global _torch_ops_module
    if _torch_ops_module is None:
        import torch
        if not hasattr(torch.library, "custom_op"):
            raise ImportError("pkpo's torch support needs torch >= 2.4 (torch.library.custom_op); "
                              "this is torch %s" % torch.__version__)
        from . import _torch_ops
        _torch_ops_module = _torch_ops
    return _torch_ops_module
