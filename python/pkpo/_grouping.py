"""Per-sample group ids (ints, uid strings, any hashables) -> int64 codes on the host.

The library's pkpo_group_by_id numbers groups by first appearance and keeps each group's samples in
input order; it needs int64 ids. Integer arrays pass through; strings and other hashables are
mapped to int64 codes here with C-level loops over the samples (dict.fromkeys, map), never a
Python-level loop per sample: 32k uid strings take a few milliseconds.
"""

from __future__ import annotations

import itertools

import numpy as np


def codes_and_labels(ids):
    """Returns (codes, labels): codes is a C-contiguous int64 array with one entry per sample
    (equal ids <=> equal codes); labels(first_positions) maps the first sample position of each
    group back to the caller's ids (a list for non-integer ids, an int64 array otherwise)."""
    if not isinstance(ids, np.ndarray) and (hasattr(ids, "__array__") or
                                            hasattr(ids, "__array_interface__")):
        ids = np.asarray(ids)
    arr = ids.reshape(-1) if isinstance(ids, np.ndarray) else None
    if arr is not None and arr.dtype.kind in "iub":
        if arr.dtype.kind == "u" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
            _, codes = np.unique(arr, return_inverse=True)
            codes = np.ascontiguousarray(codes, dtype=np.int64)
        else:
            codes = np.ascontiguousarray(arr, dtype=np.int64)
        return codes, (lambda first: arr[first].astype(np.int64))
    if arr is not None and arr.dtype.kind in "fc":
        raise TypeError("group_ids must be integers or hashable labels (e.g. uid strings), "
                        "not %s values" % arr.dtype)
    labels = arr.tolist() if arr is not None else list(ids)
    try:
        # Distinct ids in first-appearance order, numbered 0..G-1, then one code per sample:
        # dict.fromkeys, zip and map run in C, so there is no Python-level loop per sample.
        number = dict(zip(dict.fromkeys(labels), itertools.count()))
    except TypeError as e:
        raise TypeError("group_ids must be hashable (e.g. uid strings or ints): %s" % e) from None
    codes = np.fromiter(map(number.__getitem__, labels), dtype=np.int64, count=len(labels))
    return codes, (lambda first: [labels[i] for i in first.tolist()])
