#!/usr/bin/env python3
"""Turns one results folder of bench/run.sh into results.md (tables, targets met or missed with the
measured ratios) and throughput-vs-n plots (throughput_cpu.png, throughput_gpu.png).

Reads whatever is present: meta.txt, cpu_sweep.csv, cpu_mixture.csv, numpy_reference.csv,
gpu_copy.csv, gpu_sweep.csv, gpu_latency.csv, torch_peer.csv. Never invents a number: a section whose CSV is
missing says so.

Usage: report.py bench/results/<date>-<device>
"""

import csv
import math
import os
import sys
from collections import defaultdict

ESTS = ["rho", "s", "sloo", "sloo_minus_one", "l2o"]


def read_csv(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return list(csv.DictReader(f))


def fnum(v):
    try:
        x = float(v)
        return x if math.isfinite(x) else None
    except (TypeError, ValueError):
        return None


def fmt(x, digits=3):
    if x is None:
        return "—"
    if abs(x) >= 100:
        return "%.0f" % x
    if abs(x) >= 10:
        return "%.1f" % x
    return ("%%.%dg" % digits) % x


def read_meta(path):
    meta = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if ":" in line:
                    k, v = line.split(":", 1)
                    meta[k.strip()] = v.strip()
    return meta


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def verdict(ok):
    return "**met**" if ok else "**missed**"


def cpu_section(d, md, targets, plots):
    rows = read_csv(os.path.join(d, "cpu_sweep.csv"))
    if rows is None:
        md.append("_No cpu_sweep.csv in this run._\n")
        return
    ns = sorted({int(r["n"]) for r in rows})
    threads = sorted({int(r["threads"]) for r in rows})
    val = {}
    fails = []
    for r in rows:
        key = (r["estimator"], int(r["n"]), int(r["threads"]))
        if r["valid"] != "ok":
            fails.append("%s n=%s threads=%s" % key)
        val[key] = fnum(r["ns_per_elem"])
    r0 = rows[0]
    md.append("## CPU sweep: pkpo_transform, float32, ns per element (median)\n")
    md.append("k = %s, N = G*n ~ %s elements per call, uniform rewards in [0, 1). Columns: "
              "estimator / threads. Lower is better.\n" % (r0["k"], r0["N"]))
    header = ["n"] + ["%s %dt" % (e, t) for e in ESTS for t in threads
                      if any((e, n, t) in val for n in ns)]
    body = []
    for n in ns:
        body.append([n] + [fmt(val.get((e, n, t))) for e in ESTS for t in threads
                           if any((e, m, t) in val for m in ns)])
    md.append(table(header, body) + "\n")
    if fails:
        md.append("**Validation failures (not timed):** " + ", ".join(fails) + "\n")
    cpu_ms = {(r["estimator"], int(r["n"]), int(r["threads"])): (fnum(r["median_ms"]),
                                                                  fnum(r.get("cpu_ms")))
              for r in rows if r["valid"] == "ok"}
    if any(v[1] for v in cpu_ms.values()):
        md.append("### Contention check, sloo_minus_one: wall time vs process CPU time per call (ms)"
                  "\n")
        md.append("On an idle machine CPU time ~ wall time at 1 thread and ~ 2 x wall at 2 threads. "
                  "Wall well above CPU time (1 thread) or above CPU time / 2 (2 threads) is time "
                  "lost to other processes.\n")
        hdr = ["n"] + ["%s %dt" % (w, t) for t in threads for w in ("wall", "cpu")]
        body = [[n] + [fmt(cpu_ms.get(("sloo_minus_one", n, t), (None, None))[i])
                       for t in threads for i in (0, 1)] for n in ns]
        md.append(table(hdr, body) + "\n")
    plots["cpu"] = (ns, threads, val)


def mixture_section(d, md, targets):
    rows = read_csv(os.path.join(d, "cpu_mixture.csv"))
    if rows is None:
        md.append("_No cpu_mixture.csv in this run._\n")
        return
    md.append("## CPU: a mixture over k against one k (bench_cpu --mixtures)\n")
    md.append("harmonic(16) (k = 1..16, weights 1/k) vs one k, float32, 1 thread, process CPU time "
              "per reward (median of interleaved calls, ns). *uniform*: rows built once per call; "
              "*alternating*: groups of n and n - 1 in turn, rows rebuilt as the size changes.\n")
    cell = {(r["estimator"], r["layout"], int(r["n"]), r["objective"]): r for r in rows}
    body, worst = [], {}
    for (est, layout, n, obj), r in sorted(cell.items()):
        if obj == "k":
            continue
        one = cell.get((est, layout, n, "k"))
        ratio = fnum(r.get("cpu_ratio_vs_one_k"))
        body.append([est, layout, n, fmt(fnum(one["cpu_ns_per_elem"]) if one else None),
                     fmt(fnum(r["cpu_ns_per_elem"])), fmt(ratio, 4) if ratio else r["valid"]])
        if layout == "uniform" and ratio:
            worst[est] = max(worst.get(est, 0), ratio)
    md.append(table(["estimator", "layout", "n", "one k", "harmonic16", "ratio"], body) + "\n")
    for est, w in sorted(worst.items()):
        targets.append(["CPU mixture of 16 terms <= 1.10x one k per reward (%s, uniform)" % est,
                        verdict(w <= 1.10), "worst %.3fx" % w])


def numpy_section(d, md, targets, plots):
    rows = read_csv(os.path.join(d, "numpy_reference.csv"))
    if rows is None:
        md.append("_No numpy_reference.csv in this run._\n")
        return
    by = defaultdict(dict)
    fails = []
    for r in rows:
        if r["valid"] != "ok":
            fails.append("%s %s n=%s" % (r["impl"], r["estimator"], r["n"]))
            continue
        key = (r["estimator"], int(r["n"]))
        name = r["impl"] if r["impl"] != "pkpo_cpu" else "pkpo_%st" % r["threads"]
        by[key][name] = fnum(r["ns_per_elem"])
    threads = sorted({int(r["threads"]) for r in rows if r["impl"] == "pkpo_cpu"})
    md.append("## pkpo CPU vs the paper's reference algorithm in numpy (same inputs)\n")
    md.append("ns per element (median). `numpy batched` = the Listing 1 structure on the whole "
              "[G, n] array (argsort along the last axis); `numpy loop` = Listing 1 as written, one "
              "group per call in a Python loop (timed on the first min(G, 2^16/n) groups). "
              "Speed-up = numpy time / pkpo time at 1 thread (numpy uses one core).\n")
    header = ["estimator", "n", "numpy batched", "numpy loop"] + \
        ["pkpo %dt" % t for t in threads] + ["x vs batched (1t)", "x vs loop (1t)"]
    body = []
    ratios = defaultdict(list)
    for (est, n) in sorted(by, key=lambda k: (ESTS.index(k[0]), k[1])):
        v = by[(est, n)]
        # numpy runs on one core, so the ratio is taken against pkpo at 1 thread (the 2-thread
        # column is shown, but on a shared machine it is the noisier one).
        best = v.get("pkpo_1t")
        rb = v.get("numpy_ref") / best if best and v.get("numpy_ref") else None
        rl = v.get("numpy_loop") / best if best and v.get("numpy_loop") else None
        ratios[(est, "batched")].append((n, rb))
        ratios[(est, "loop")].append((n, rl))
        body.append([est, n, fmt(v.get("numpy_ref")), fmt(v.get("numpy_loop"))] +
                    [fmt(v.get("pkpo_%dt" % t)) for t in threads] +
                    [fmt(rb), fmt(rl)])
    md.append(table(header, body) + "\n")
    if fails:
        md.append("**Validation failures (not timed):** " + ", ".join(fails) + "\n")
    for form in ("batched", "loop"):
        pts = [(n, r) for (n, r) in ratios[("sloo_minus_one", form)] if r is not None]
        if not pts:
            continue
        worst = min(pts, key=lambda p: p[1])
        best = max(pts, key=lambda p: p[1])
        ok = all(r >= 100 for _, r in pts)
        targets.append(("CPU >= 100x the numpy reference (%s), sloo_minus_one, every n, 1 thread"
                        % form,
                        verdict(ok), "x%s at n=%d (worst) .. x%s at n=%d (best)"
                        % (fmt(worst[1]), worst[0], fmt(best[1]), best[0])))
    plots["numpy"] = by


def gpu_sections(d, md, targets, plots):
    copy = read_csv(os.path.join(d, "gpu_copy.csv"))
    sweep = read_csv(os.path.join(d, "gpu_sweep.csv"))
    lat = read_csv(os.path.join(d, "gpu_latency.csv"))
    torch_rows = read_csv(os.path.join(d, "torch_peer.csv"))
    if copy is None and sweep is None:
        md.append("## GPU\n\n**No GPU in this run: every GPU number (bandwidth, peers, latency) is "
                  "outstanding.** Run `bench/run.sh` on a machine with an NVIDIA GPU.\n")
        for t in ("GPU >= 80% of copy bandwidth, n <= 64", "GPU >= 60% of copy bandwidth, n <= 256",
                  "GPU >= 30% of copy bandwidth, n = 4096", ">= 10x the torch-composed version, "
                  "every n", "<= 5 us per call at G = 1024, n = 16"):
            targets.append((t, "not measured", "no GPU in this run"))
        return
    copy_gbps = fnum(copy[0]["GBps"]) if copy else None
    md.append("## GPU: copy roof\n\ncudaMemcpyAsync device-to-device, %s bytes, median of %s: "
              "**%s GB/s** (2 x bytes / time).\n" % (copy[0]["bytes"], copy[0]["runs"],
                                                     fmt(copy_gbps)) if copy else "")
    gbps = {}
    ms = {}
    fails = []
    for r in sweep or []:
        key = (r["impl"], r["estimator"], int(r["n"]))
        if r["valid"] != "ok":
            fails.append("%s %s n=%s" % key)
            continue
        gbps[key] = fnum(r["GBps"])
        ms[key] = fnum(r["median_ms"])
    for r in torch_rows or []:
        key = ("torch", r["estimator"], int(r["n"]))
        if r["valid"] != "ok":
            fails.append("torch %s n=%s" % (r["estimator"], r["n"]))
            continue
        gbps[key] = fnum(r["GBps"])
        ms[key] = fnum(r["median_ms"])
    ns = sorted({k[2] for k in gbps})
    md.append("## GPU sweep: pkpo_transform, float32, GB/s (fraction of copy)\n")
    md.append("N = G*n >= 2^26 per call (cold L2 by size); GB/s = 8*N / median time (rho: "
              "(4*N + 4*G) / time).\n")
    ests = [e for e in ESTS if any(("pkpo", e, n) in gbps for n in ns)]
    body = []
    for n in ns:
        cells = [n]
        for e in ests:
            g = gbps.get(("pkpo", e, n))
            cells.append("%s (%s%%)" % (fmt(g), fmt(100 * g / copy_gbps)) if g and copy_gbps
                         else fmt(g))
        body.append(cells)
    md.append(table(["n"] + ests, body) + "\n")
    md.append("### Peers, sloo_minus_one (median ms per call; speed-up = peer time / pkpo time)\n")
    body = []
    for n in ns:
        p, c, t = (ms.get(("pkpo", "sloo_minus_one", n)), ms.get(("cub", "sloo_minus_one", n)),
                   ms.get(("torch", "sloo_minus_one", n)))
        body.append([n, fmt(p), fmt(c), fmt(t), fmt(c / p if c and p else None),
                     fmt(t / p if t and p else None)])
    md.append(table(["n", "pkpo ms", "CUB sort+scan ms", "torch ms", "x vs CUB", "x vs torch"],
                    body) + "\n")
    if fails:
        md.append("**Validation failures (not timed):** " + ", ".join(fails) + "\n")
    # Bandwidth targets over every estimator.
    for label, sel, need in (("n <= 64", lambda n: n <= 64, 0.8),
                             ("n <= 256", lambda n: n <= 256, 0.6),
                             ("n = 4096", lambda n: n == 4096, 0.3)):
        pts = [(e, n, gbps[("pkpo", e, n)] / copy_gbps) for e in ests for n in ns
               if sel(n) and gbps.get(("pkpo", e, n)) and copy_gbps]
        if not pts:
            targets.append(("GPU >= %d%% of copy bandwidth, %s" % (need * 100, label),
                            "not measured", ""))
            continue
        worst = min(pts, key=lambda p: p[2])
        targets.append(("GPU >= %d%% of copy bandwidth, %s (all estimators)" % (need * 100, label),
                        verdict(worst[2] >= need), "worst %s%% (%s, n=%d)"
                        % (fmt(100 * worst[2]), worst[0], worst[1])))
    tp = [(n, ms[("torch", "sloo_minus_one", n)] / ms[("pkpo", "sloo_minus_one", n)]) for n in ns
          if ms.get(("torch", "sloo_minus_one", n)) and ms.get(("pkpo", "sloo_minus_one", n))]
    if tp:
        worst = min(tp, key=lambda p: p[1])
        targets.append((">= 10x the torch-composed version, every n", verdict(worst[1] >= 10),
                        "worst x%s at n=%d" % (fmt(worst[1]), worst[0])))
    else:
        targets.append((">= 10x the torch-composed version, every n", "not measured",
                        "torch peer did not run"))
    if lat:
        md.append("## GPU latency at RL scale, sloo_minus_one (median us per call)\n")
        md.append("`sync` = host wall clock of one call + cudaStreamSynchronize; `pipelined` = "
                  "events around back-to-back calls / calls; `graph` = one captured call replayed "
                  "with cudaGraphLaunch.\n")
        cell = {}
        for r in lat:
            cell[(int(r["G"]), int(r["n"]), r["mode"])] = fnum(r["median_us"]) \
                if r["valid"] == "ok" else None
        modes = ["plain_sync", "plain_pipelined", "graph_sync", "graph_pipelined"]
        body = [[G, n] + [fmt(cell.get((G, n, m))) for m in modes]
                for (G, n) in sorted({(k[0], k[1]) for k in cell})]
        md.append(table(["G", "n"] + modes, body) + "\n")
        v = cell.get((1024, 16, "plain_pipelined"))
        g = cell.get((1024, 16, "graph_pipelined"))
        s = cell.get((1024, 16, "plain_sync"))
        targets.append(("<= 5 us per call at G = 1024, n = 16 (plain launches, back to back)",
                        verdict(v is not None and v <= 5.0) if v is not None else "not measured",
                        "%s us plain, %s us graph, %s us one call + sync"
                        % (fmt(v), fmt(g), fmt(s))))
    plots["gpu"] = (ns, gbps, copy_gbps)


def make_plots(d, plots):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ["_matplotlib is not installed: no plots._"]
    made = []
    if "cpu" in plots:
        ns, threads, val = plots["cpu"]
        fig, ax = plt.subplots(figsize=(8, 5))
        for e in ESTS:
            for t in threads:
                pts = [(n, 1e3 / val[(e, n, t)]) for n in ns if val.get((e, n, t))]
                if pts:
                    ax.plot(*zip(*pts), marker="o", linestyle="-" if t == 1 else "--",
                            label="pkpo %s, %d thread%s" % (e, t, "" if t == 1 else "s"))
        by = plots.get("numpy", {})
        for e, style in (("sloo_minus_one", "k:"), ("rho", "k-.")):
            pts = [(n, 1e3 / by[(e, n)]["numpy_ref"]) for (ee, n) in sorted(by)
                   if ee == e and by[(e, n)].get("numpy_ref")]
            if pts:
                ax.plot(*zip(*pts), style, marker="x", label="numpy reference (batched), %s" % e)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("group size n")
        ax.set_ylabel("throughput (M elements / s)")
        ax.set_title("pkpo CPU backend, float32")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6, ncol=2)
        fig.tight_layout()
        fig.savefig(os.path.join(d, "throughput_cpu.png"), dpi=120)
        plt.close(fig)
        made.append("![CPU throughput vs n](throughput_cpu.png)")
    if "gpu" in plots:
        ns, gbps, copy_gbps = plots["gpu"]
        fig, ax = plt.subplots(figsize=(8, 5))
        for impl in ("pkpo", "cub", "torch"):
            for e in ESTS:
                pts = [(n, gbps[(impl, e, n)]) for n in ns if gbps.get((impl, e, n))]
                if pts:
                    ax.plot(*zip(*pts), marker="o", linestyle="-" if impl == "pkpo" else ":",
                            label="%s %s" % (impl, e))
        if copy_gbps:
            ax.axhline(copy_gbps, color="k", linestyle="--", label="D2D copy")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("group size n")
        ax.set_ylabel("GB/s (8 N / time)")
        ax.set_title("pkpo CUDA backend, float32, N >= 2^26")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(d, "throughput_gpu.png"), dpi=120)
        plt.close(fig)
        made.append("![GPU throughput vs n](throughput_gpu.png)")
    return made


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    d = sys.argv[1]
    meta = read_meta(os.path.join(d, "meta.txt"))
    md = ["# pkpo benchmarks: %s\n" % os.path.basename(os.path.normpath(d))]
    if meta:
        md.append("\n".join("- %s: %s" % (k, v) for k, v in meta.items()) + "\n")
    targets = []
    plots = {}
    cpu_section(d, md, targets, plots)
    mixture_section(d, md, targets)
    numpy_section(d, md, targets, plots)
    gpu_sections(d, md, targets, plots)
    md.extend(make_plots(d, plots))
    md.append("\n## Targets (reported, not asserted)\n")
    md.append(table(["target", "verdict", "measured"], targets) + "\n")
    with open(os.path.join(d, "results.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print(os.path.join(d, "results.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
