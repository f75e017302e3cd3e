#!/usr/bin/env python3
"""Peer (a) of the GPU benchmark: sloo_minus_one composed from PyTorch ops, what a trainer would
write without pkpo, on the GPU, at the sizes of bench_gpu's sweep.

    v, idx = torch.sort(x, dim=-1)                # x: [G, n] float32 on the GPU
    w      = torch.diff(v, dim=-1) * mu[2:]       # mu_{t+1} d_t,  t = 1..n-1  (docs/math.md stable form)
    a      = zeros; a[:, 1:] = torch.cumsum(w, dim=-1)   # exclusive scan in sorted order
    out    = torch.empty_like(x).scatter_(-1, idx, a)    # back to input order

The weights mu (float64 on the host, top-down as docs/math.md §4 prescribes, then float32) are
built once per n outside the timed region, as a trainer would cache them.

Validated before timing against pkpo's CPU backend on the same inputs (the first groups up to 2^20
samples, and the last group), tolerance 1e-4 * scale (float32 cumsum). Timed with CUDA events: 3
warm-ups, then `runs` (>= 20) timed calls, median. GB/s = 8 * N / time, like bench_gpu.
Runs only where torch and a CUDA device exist; otherwise it says so and exits 0 without a CSV.

Usage: torch_peer.py --lib build-bench/libpkpo.so --out DIR/torch_peer.csv [--quick] [--k 4]
                     [--device SLUG]
       torch_peer.py --lib build-bench/libpkpo.so --cpu-check     (correctness only, CPU tensors)
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pkpo_min  # noqa: E402

PEER_TOL = 1e-4
VALIDATE_SAMPLES = 1 << 20


def mu_table(n, k):
    """mu[i] = C(i-1, k-1)/C(n, k), i = 1..n (index i), float64, top-down with underflow stop."""
    mu = np.zeros(n + 1)
    mu[n] = k / n
    for i in range(n, k, -1):
        mu[i - 1] = mu[i] * (i - k) / (i - 1)
        if mu[i - 1] < 1e-300:
            mu[i - 1] = 0.0
            break
    return mu


def sloo_minus_one_torch(torch, x, mu_next):
    v, idx = torch.sort(x, dim=-1)
    w = torch.diff(v, dim=-1) * mu_next
    a = torch.zeros_like(x)
    a[:, 1:] = torch.cumsum(w, dim=-1)
    return torch.empty_like(x).scatter_(-1, idx, a)


def peer_error(h_x, got, cpu, k_arg):
    """docs/math.md error (max over groups) of peer outputs `got` vs pkpo's CPU backend."""
    G, n = h_x.shape
    k = min(k_arg, n)
    ref = np.empty_like(h_x)
    cpu.transform(cpu.desc(h_x, k_arg, "sloo_minus_one"), h_x, ref, None)
    scale = (k / n) * (h_x.max(axis=1).astype(np.float64) - h_x.min(axis=1))
    diff = np.abs(got.astype(np.float64) - ref).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.where(scale > 0, diff / scale, np.where(diff == 0, 0, np.inf)).max())


def cpu_check(torch, a):
    lib = pkpo_min.load(a.lib)
    cpu = pkpo_min.CpuHandle(lib, 0)
    rng = np.random.default_rng(7)
    bad = 0
    for n in [int(v) for v in a.n.split(",")]:
        G = max(1, (1 << 20) // n)
        h_x = rng.random((G, n), dtype=np.float32)
        k = min(a.k, n)
        mu_next = torch.from_numpy(mu_table(n, k)[2:].astype(np.float32))
        got = sloo_minus_one_torch(torch, torch.from_numpy(h_x), mu_next).numpy()
        err = peer_error(h_x, got, cpu, a.k)
        ok = err <= PEER_TOL
        bad += not ok
        print("torch_peer --cpu-check: n=%-8d G=%-7d err %.3g * scale %s"
              % (n, G, err, "ok" if ok else "FAIL"), file=sys.stderr)
    cpu.close()
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lib", default=os.environ.get("PKPO_LIBRARY"))
    ap.add_argument("--out")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--device", default="gpu")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--min-N", type=int, default=None)
    ap.add_argument("--n", default="4,8,16,32,64,128,256,1024,4096,65536,1048576")
    ap.add_argument("--cpu-check", action="store_true",
                    help="no GPU needed: validate the composed transform on CPU tensors against "
                         "pkpo's CPU backend at every n (N ~ 2^20), time nothing, write no CSV")
    a = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("torch_peer: torch is not installed -- skipped", file=sys.stderr)
        return 0
    if a.cpu_check:
        return cpu_check(torch, a)
    if not a.out:
        ap.error("--out is required")
    if not torch.cuda.is_available():
        print("torch_peer: torch sees no CUDA device -- skipped", file=sys.stderr)
        return 0
    if a.k < 2:
        ap.error("--k must be >= 2")
    runs = a.runs or (20 if a.quick else 50)
    if runs < 20:
        ap.error("--runs must be >= 20")
    min_n = a.min_N or (1 << 24 if a.quick else 1 << 26)
    lib = pkpo_min.load(a.lib)
    cpu = pkpo_min.CpuHandle(lib, 0)
    dev = torch.device("cuda")
    print("torch_peer: torch %s on %s, k=%d, runs=%d" % (torch.__version__,
                                                        torch.cuda.get_device_name(0), a.k, runs),
          file=sys.stderr)
    failures = 0
    rng = np.random.default_rng(5)
    with open(a.out, "w") as f:
        f.write("device,impl,estimator,dtype,n,k,G,N,runs,median_ms,min_ms,GBps,valid,max_err\n")
        for n in [int(v) for v in a.n.split(",")]:
            G = -(-min_n // n)
            N = G * n
            k = min(a.k, n)
            h_x = rng.random((G, n), dtype=np.float32)
            x = torch.from_numpy(h_x).to(dev)
            mu_next = torch.from_numpy(mu_table(n, k)[2:].astype(np.float32)).to(dev)
            out = sloo_minus_one_torch(torch, x, mu_next)
            torch.cuda.synchronize()
            # Validation against pkpo's CPU backend.
            Gv = max(1, min(G, VALIDATE_SAMPLES // n))
            rows = list(range(Gv)) + ([G - 1] if G - 1 >= Gv else [])
            xs = np.ascontiguousarray(h_x[rows])
            err = peer_error(xs, out[rows].cpu().numpy(), cpu, a.k)
            if not err <= PEER_TOL:
                failures += 1
                print("  torch n=%d VALIDATION FAILED: %.3g * scale vs pkpo CPU -- not timed"
                      % (n, err), file=sys.stderr)
                f.write("%s,torch,sloo_minus_one,float32,%d,%d,%d,%d,0,,,,FAIL,%.3g\n"
                        % (a.device, n, k, G, N, err))
                continue
            for _ in range(3):
                sloo_minus_one_torch(torch, x, mu_next)
            torch.cuda.synchronize()
            ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                  for _ in range(runs)]
            for e0, e1 in ev:
                e0.record()
                sloo_minus_one_torch(torch, x, mu_next)
                e1.record()
            torch.cuda.synchronize()
            ms = np.array([e0.elapsed_time(e1) for e0, e1 in ev])
            med = float(np.median(ms))
            gbps = 8.0 * N / (med * 1e-3) * 1e-9
            f.write("%s,torch,sloo_minus_one,float32,%d,%d,%d,%d,%d,%.6f,%.6f,%.3f,ok,%.3g\n"
                    % (a.device, n, k, G, N, runs, med, float(ms.min()), gbps, err))
            f.flush()
            print("  torch sloo_minus_one n=%-8d G=%-9d %9.4f ms %8.1f GB/s" % (n, G, med, gbps),
                  file=sys.stderr)
            del x, out, mu_next
            torch.cuda.empty_cache()
    cpu.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
