#!/usr/bin/env python3
"""cost_model.py -- a static cost model of the CUDA backend's kernels on an H100, from sm_90 SASS.

No GPU needed. For every kernel launch of every size class described in the plan
(bench/cost_model_plan.py, or --plan FILE) it reports:

  * global bytes per element, by construction (the plan states a formula per launch),
  * SASS warp-instructions per element by class (FP32, FP64, conversions, MUFU, shuffles, block
    barriers, shared / global / local memory, integer and other), modelled dynamically from the
    cubin: every instruction of the kernel's hot code counts once per warp, multiplied by the trip
    count of each loop around it (loops are the backward branches of the SASS; their trip counts
    come from the plan's rules for the named regions of src/cuda -- PKPO_REGION_BEGIN/END, see
    src/cuda/model_region.h -- that hold the line-table frames of the loop's back edge), less the
    regions the plan says a launch skips,
  * registers, spills, shared memory and occupancy (ptxas -v and cuobjdump -res-usage),
  * the time bound each pipe implies on an H100 SXM (see ASSUMPTIONS below) and the resulting
    fraction of the copy roofline (bytes = 2 x element size per reward).

Usage (from the repository root):

  python3 bench/cost_model.py --build build-cm --out bench/cost_model.md
  python3 bench/cost_model.py --build build-cm --out bench/cost_model.md \
      --baseline bench/cost_model_before_house.json    # before/after side by side
  python3 bench/cost_model.py --build build-cm --save-json bench/cost_model_after_house.json
  python3 bench/cost_model.py --build build-cm-fmad --fmad true --save-json fmad_true.json
                                    # nvcc's default (contracted multiply-adds), for comparison

It compiles src/cuda/*.cu (the files listed in src/cuda/sources.cmake) with nvcc -cubin for sm_90
(--fmad=false, as CMakeLists.txt builds the library, unless --fmad true) into --build when the cubins are missing or older than the sources (minutes on a loaded machine),
then disassembles them. Tools: nvcc from PATH or $CUDACXX or /usr/local/cuda/bin; nvdisasm and
cuobjdump from --tools DIR, $PKPO_CUDA_TOOLS, PATH, /usr/local/cuda/bin, or the venv
<build>/venv (pip install nvidia-cuda-nvdisasm nvidia-cuda-cuobjdump installs them there).

Python 3 standard library only.
"""

import argparse
import glob
import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# ---- machine assumptions (H100 SXM5 80 GB) ------------------------------------------------------
# Sources: NVIDIA H100 Tensor Core GPU datasheet / architecture whitepaper (132 SMs on SXM5,
# 1.98 GHz max boost for the SMs, 3.35 TB/s HBM3); CUDA C++ Programming Guide, "Arithmetic
# Instructions" throughput table for compute capability 9.0 (per SM per clock: 128 FP32 add/mul/fma,
# 64 FP64 add/mul/fma, 16 MUFU (rcp, rsqrt, ...), 16 conversions from/to 64-bit types, 32 warp
# shuffle results) and "Compute Capabilities" table (65536 registers, 64 warps, 32 blocks and
# 228 KB shared memory per SM, 1 KB of it reserved per block); 4 warp schedulers per SM, each
# issuing at most one warp-instruction per clock (Hopper whitepaper). The copy roofline of
# 3.0 TB/s is the realistic device-to-device copy rate the issue asks to use (about 90% of peak).
# The DRAM latency under load (for the memory-parallelism bound) is an estimate, not a datasheet
# number.
MACHINE = {
    "name": "H100 SXM5 (sm_90)",
    "sms": 132,
    "clock_hz": 1.98e9,
    "schedulers_per_sm": 4,          # warp-instructions issued per clock per SM
    "fp64_warp_per_clk": 64 / 32,    # DADD/DMUL/DFMA/DSETP: 64 lanes per clock per SM
    "fp32_warp_per_clk": 128 / 32,
    "mufu_warp_per_clk": 16 / 32,
    "conv64_warp_per_clk": 16 / 32,
    "shfl_warp_per_clk": 32 / 32,
    "lsu_wavefronts_per_clk": 1.0,   # shared memory: one 128-byte wavefront per clock per SM
    "copy_bw": 3.0e12,               # bytes/s, realistic device-to-device copy roofline
    "hbm_peak": 3.35e12,
    "dram_latency_s": 600e-9,        # estimate of loaded HBM latency (idle is ~0.5 us)
    "regs_per_sm": 65536,
    "max_warps_per_sm": 64,
    "max_blocks_per_sm": 32,
    "smem_per_sm": 228 * 1024,
    "smem_reserved_per_block": 1024,
    "reg_alloc_unit": 256,           # registers per warp are allocated in units of 256
}

# ---- SASS instruction classes ------------------------------------------------------------------
CLASSES = ["fp32", "fp64", "conv", "mufu", "shfl", "bar", "shared", "global", "local", "int_other"]
CLASS_TITLES = {
    "fp32": "FP32", "fp64": "FP64", "conv": "conv", "mufu": "MUFU", "shfl": "shfl", "bar": "bar",
    "shared": "smem", "global": "gmem", "local": "lmem", "int_other": "int/other",
}
FP32_OPS = {"FADD", "FMUL", "FFMA", "FMNMX", "FSETP", "FSET", "FSEL", "FCHK", "FRND", "FSWZADD",
            "HADD2", "HMUL2", "HFMA2", "HSETP2", "HMNMX2", "FADD32I", "FMUL32I", "FFMA32I"}
FP64_OPS = {"DADD", "DMUL", "DFMA", "DSETP", "DMNMX", "DSET"}
CONV_OPS = {"F2F", "F2I", "I2F", "F2FP", "I2FP", "FRND"}
SHARED_OPS = {"LDS", "STS", "LDSM", "ATOMS", "STSM"}
GLOBAL_OPS = {"LDG", "STG", "RED", "REDG", "ATOMG", "ATOM", "LD", "ST", "LDGSTS", "REDUX_G",
              "UBLKCP", "UTMALDG", "UTMASTG"}
LOCAL_OPS = {"LDL", "STL"}


def classify(opcode):
    base = opcode.split(".")[0]
    if base in FP64_OPS:
        return "fp64"
    if base in CONV_OPS:
        # conversions from or to 64-bit types run at 16/clk/SM; 32-bit ones on the FMA pipes
        return "conv" if re.search(r"\.(F64|S64|U64)", opcode) else "fp32"
    if base in FP32_OPS:
        return "fp32"
    if base == "MUFU":
        return "mufu"
    if base == "SHFL":
        return "shfl"
    if base == "BAR":
        return "bar"
    if base in SHARED_OPS:
        return "shared"
    if base in GLOBAL_OPS:
        return "global"
    if base in LOCAL_OPS:
        return "local"
    return "int_other"


def shared_wavefronts(opcode):
    """128-byte shared-memory wavefronts of one conflict-free warp access."""
    if ".128" in opcode:
        return 4
    if ".64" in opcode:
        return 2
    return 1


# ---- tools and build ---------------------------------------------------------------------------
INSTALL_HINT = ("nvdisasm/cuobjdump not found. Install them with\n"
                "  python3 -m venv {build}/venv && {build}/venv/bin/pip install "
                "nvidia-cuda-nvdisasm nvidia-cuda-cuobjdump\n"
                "or pass --tools DIR (or set PKPO_CUDA_TOOLS) to a folder holding both.")


def find_tool(name, tools_dir, build):
    cands = []
    if tools_dir:
        cands.append(os.path.join(tools_dir, name))
    if os.environ.get("PKPO_CUDA_TOOLS"):
        cands.append(os.path.join(os.environ["PKPO_CUDA_TOOLS"], name))
    w = shutil.which(name)
    if w:
        cands.append(w)
    cands.append(os.path.join("/usr/local/cuda/bin", name))
    cands += sorted(glob.glob(os.path.join(build, "venv", "lib", "python3*", "site-packages",
                                           "nvidia", "cu*", "bin", name)), reverse=True)
    for c in cands:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def find_nvcc():
    for c in [os.environ.get("CUDACXX"), shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"]:
        if c and os.path.isfile(c):
            return c
    sys.exit("cost_model.py: nvcc not found (set CUDACXX)")


def cuda_sources(src_root):
    txt = open(os.path.join(src_root, "src", "cuda", "sources.cmake")).read()
    names = re.findall(r"\$\{CMAKE_CURRENT_LIST_DIR\}/([A-Za-z0-9_]+\.cu)\b", txt)
    return [os.path.join(src_root, "src", "cuda", n) for n in names]


def newest_mtime(src_root):
    files = glob.glob(os.path.join(src_root, "src", "cuda", "*")) + \
        glob.glob(os.path.join(src_root, "src", "common", "*.h")) + \
        glob.glob(os.path.join(src_root, "include", "*.h"))
    return max(os.path.getmtime(f) for f in files)


def compile_cubins(src_root, build, arch, fmad, force, log):
    nvcc = find_nvcc()
    out = []
    src_time = newest_mtime(src_root)
    # Cubins compiled with other flags are stale: the flags are kept beside them.
    stamp = os.path.join(build, "nvcc_flags.txt")
    flags = "-fmad=" + fmad
    if not os.path.exists(stamp) or open(stamp).read().strip() != flags:
        force = True
    for cu in cuda_sources(src_root):
        stem = os.path.splitext(os.path.basename(cu))[0]
        cubin = os.path.join(build, stem + "." + arch + ".cubin")
        ptxas = os.path.join(build, stem + "." + arch + ".ptxas.txt")
        if force or not os.path.exists(cubin) or not os.path.exists(ptxas) or \
                os.path.getmtime(cubin) < src_time:
            cmd = [nvcc, "-cubin", "-arch=" + arch, "-std=c++17", "-O3", "-DNDEBUG",
                   "--expt-relaxed-constexpr", "-lineinfo", "--fmad=" + fmad, "-Xptxas", "-v",
                   "-I" + os.path.join(src_root, "include"),
                   "-I" + os.path.join(src_root, "src", "cuda"),
                   "-I" + os.path.join(src_root, "src", "host"),
                   "-I" + os.path.join(src_root, "src", "common"), "-DPKPO_HAVE_CUDA=1",
                   cu, "-o", cubin]
            log("compiling %s (nvcc -cubin -arch=%s; minutes on a loaded machine)" % (cu, arch))
            t0 = time.time()
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            open(ptxas, "w").write(r.stdout)
            if r.returncode != 0:
                sys.exit("nvcc failed for %s:\n%s" % (cu, r.stdout[-4000:]))
            log("  done in %.0f s" % (time.time() - t0))
        out.append((stem, cubin, ptxas))
    open(stamp, "w").write(flags + "\n")
    return out


# ---- SASS parsing --------------------------------------------------------------------------------
class Instr:
    __slots__ = ("addr", "text", "opcode", "pred", "frames", "target")

    def __init__(self, addr, text, frames):
        self.addr = addr
        self.text = text
        self.frames = frames
        t = text
        self.pred = None
        m = re.match(r"(@!?U?P[T0-9]+)\s+(.*)", t)
        if m:
            self.pred, t = m.group(1), m.group(2)
        self.opcode = t.split()[0] if t.split() else ""
        m = re.search(r"`\(([^)]+)\)", t)
        self.target = m.group(1) if m else None


class Function:
    def __init__(self, name):
        self.name = name
        self.instrs = []
        self.labels = {}   # label -> instruction index


FILE_RE = re.compile(r'\s*//## File "([^"]+)", line (\d+)')


def parse_sass(path):
    funcs = {}
    cur = None
    pending = []
    frames = ()
    for line in open(path, errors="replace"):
        if line.startswith("//---------------------") and ".text." in line:
            name = line.split(".text.", 1)[1].split()[0]
            cur = Function(name)
            funcs[name] = cur
            frames = ()
            pending = []
            continue
        if cur is None:
            continue
        m = FILE_RE.match(line)
        if m:
            pending.append((m.group(1), int(m.group(2))))
            continue
        m = re.match(r"^([.$A-Za-z_][^\s:]*):\s*$", line)
        if m:
            cur.labels[m.group(1)] = len(cur.instrs)
            continue
        m = re.match(r"\s*/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;", line)
        if m:
            if pending:
                # innermost first: the first //## line of a chain is the innermost frame; each
                # following line repeats the chain from its caller outwards
                frames = tuple(pending)
                pending = []
            cur.instrs.append(Instr(int(m.group(1), 16), m.group(2), frames))
    return funcs


class SourceCache:
    def __init__(self):
        self.files = {}

    def lines(self, path):
        if path not in self.files:
            try:
                self.files[path] = open(path, errors="replace").read().splitlines()
            except OSError:
                self.files[path] = []
        return self.files[path]

    def text(self, path, line):
        ls = self.lines(path)
        return ls[line - 1] if 0 < line <= len(ls) else ""


SRC = SourceCache()


class Analysis:
    """Loops, hot/cold regions and subroutines of one function."""

    def __init__(self, fn):
        self.fn = fn
        ins = fn.instrs
        n = len(ins)
        # subroutines: code from a $-label to the next $-label or the end
        sub_starts = sorted((idx, lab) for lab, idx in fn.labels.items() if lab.startswith("$"))
        main_end = sub_starts[0][0] if sub_starts else n
        self.subs = {}
        for i, (idx, lab) in enumerate(sub_starts):
            end = sub_starts[i + 1][0] if i + 1 < len(sub_starts) else n
            self.subs[lab] = (idx, end)
        # out-of-line code of the main body: after its last unconditional EXIT
        last_exit = None
        for i in range(main_end):
            if ins[i].opcode.startswith("EXIT") and ins[i].pred is None:
                last_exit = i
        self.main = (0, (last_exit + 1) if last_exit is not None else main_end)
        self.outline = (self.main[1], main_end)
        # loops: backward branches inside a region, body [target, latch], no unconditional
        # EXIT/RET inside, longer than one instruction (trailing `BRA self` padding is not a loop)
        self.loops = []
        regions = [self.main] + list(self.subs.values())
        for (a, b) in regions:
            by_target = {}
            for i in range(a, b):
                x = ins[i]
                if not x.opcode.startswith("BRA") or x.target is None or x.opcode.startswith("BRA.DIV"):
                    continue
                t = fn.labels.get(x.target)
                if t is None or t > i or t < a or i - t < 1:
                    continue
                if any(ins[j].opcode.split(".")[0] in ("EXIT", "RET") and ins[j].pred is None
                       for j in range(t, i + 1)):
                    continue
                by_target[t] = max(by_target.get(t, t), i)
            for t, latch in sorted(by_target.items()):
                self.loops.append((t, latch))

    def loop_source(self, loop):
        """Source frames (innermost first) of the loop's back edge, with their text."""
        x = self.fn.instrs[loop[1]]
        return [(os.path.basename(f), l, SRC.text(f, l).strip()) for (f, l) in x.frames]


class ModelError(SystemExit):
    """A rule of the plan that attributes nothing, or code that no rule attributes."""

    def __init__(self, msg):
        SystemExit.__init__(self, "cost_model.py: " + msg)


# ---- regions: PKPO_REGION_BEGIN(name) ... PKPO_REGION_END(name) in src/cuda (model_region.h) ----
MARKER_RE = re.compile(r"\bPKPO_REGION_(BEGIN|END)\s*\(\s*(\w+)\s*\)")


def code_only(text):
    """The text with comments, string and character literals blanked (newlines kept), so that a
    marker named in a comment or a string is not a marker."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(" " * (min(j + 1, n) - i))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def find_regions(src_root):
    """name -> [(file basename, first line, last line)] of every marked range in src/cuda and
    src/common (the rules that the CPU engine and the kernels share). Fails on
    an unpaired or nested marker of one name."""
    regions = {}
    paths = sorted(glob.glob(os.path.join(src_root, "src", "cuda", "*")) +
                   glob.glob(os.path.join(src_root, "src", "common", "*")))
    for path in paths:
        if not path.endswith((".cuh", ".cu", ".h")):
            continue
        base = os.path.basename(path)
        open_at = {}
        for no, line in enumerate(code_only(open(path, errors="replace").read()).split("\n"), 1):
            if line.lstrip().startswith("#"):
                continue  # the macros' own definitions
            for m in MARKER_RE.finditer(line):
                kind, name = m.group(1), m.group(2)
                if kind == "BEGIN":
                    if name in open_at:
                        raise ModelError("%s:%d: region %s begins again before its end (line %d)"
                                         % (base, no, name, open_at[name]))
                    open_at[name] = no
                else:
                    if name not in open_at:
                        raise ModelError("%s:%d: region %s ends without a beginning" % (base, no, name))
                    regions.setdefault(name, []).append((base, open_at.pop(name), no))
        for name, no in open_at.items():
            raise ModelError("%s:%d: region %s has no end" % (base, no, name))
    return regions


def region_ranges(regions, names, what):
    """[(name, file, lo, hi)] of the named regions; fails on a name that marks nothing."""
    out = []
    for name in names:
        if name not in regions:
            raise ModelError("%s names region %s, which no PKPO_REGION_BEGIN in src/cuda marks"
                             % (what, name))
        out += [(name, f, lo, hi) for (f, lo, hi) in regions[name]]
    return out


def skip_regions(instr, skip):
    """Names of the skipped regions that any frame of the instruction falls in."""
    hit = set()
    for (f, l) in instr.frames:
        base = os.path.basename(f)
        for (name, sf, lo, hi) in skip:
            if base == sf and lo <= l <= hi:
                hit.add(name)
    return hit


def match_trip(analysis, loop, rules, ctx, kernel):
    """Trip count of a loop: the rule of the smallest region (of those the rules name) that holds a
    frame of the loop's back edge, innermost frame first; else a rule for the whole kernel. Fails
    when no rule attributes the loop. Returns (trips, rule name, the matching range)."""
    frames = [(os.path.basename(f), l) for (f, l) in analysis.fn.instrs[loop[1]].frames]
    for (f, l) in frames:
        best = []
        for rule in rules:
            if rule.get("kernel") and not re.search(rule["kernel"], kernel):
                continue
            for (name, rf, lo, hi) in rule.get("ranges", []):
                if rf == f and lo <= l <= hi:
                    best.append((hi - lo, rule, (rf, lo, hi)))
        if best:
            best.sort(key=lambda b: b[0])
            if len(best) > 1 and best[1][0] == best[0][0] and best[1][1] is not best[0][1]:
                raise ModelError("loop of %s at %s:%d: rules '%s' and '%s' name the same range"
                                 % (kernel, f, l, best[0][1]["name"], best[1][1]["name"]))
            span, rule, rng = best[0]
            break
    else:
        whole = [r for r in rules if "ranges" not in r and re.search(r["kernel"], kernel)]
        if not whole:
            src = " <- ".join("%s:%d `%s`" % s for s in analysis.loop_source(loop))
            raise ModelError("no trip-count rule attributes the loop of %s whose back edge is at %s "
                             "(mark it with PKPO_REGION_BEGIN/END and give the region a rule in "
                             "the plan)" % (kernel, src[:400]))
        rule, rng = whole[0], None
    rule["used"] = True
    name = rule["name"] + (" (elementwise)" if rule.get("elementwise") else "")
    return float(rule["trips"](ctx)), name, rng


def peeled(analysis, loop, skip=()):
    """True if ptxas peeled (rotated) the first trip out of the loop: the instructions before the
    loop, after the end of any earlier loop and inside the enclosing loop, that are attributed to
    the same outermost source statement as the loop's back edge and to the innermost source lines
    of the loop body number at least 3/4 of the loop body. The SASS loop then runs one trip fewer than the source loop."""
    ins = analysis.fn.instrs
    latch = ins[loop[1]]
    if len(latch.frames) < 2:
        return False
    outer = latch.frames[-1]
    inner = {ins[i].frames[0] for i in range(loop[0], loop[1] + 1) if ins[i].frames}
    lo = 0
    for (a, b) in analysis.loops:
        if (a, b) == loop:
            continue
        if b < loop[0]:
            lo = max(lo, b + 1)           # an earlier loop
        elif a < loop[0] and b >= loop[1]:
            lo = max(lo, a)               # an enclosing loop
    # code the modelled call does not run is no peeled trip (e.g. a skipped branch before the loop
    # that inlines the same helpers)
    run = sum(1 for i in range(lo, loop[0])
              if ins[i].frames and ins[i].frames[-1] == outer and ins[i].frames[0] in inner
              and not skip_regions(ins[i], skip))
    body = loop[1] - loop[0] + 1
    # small loops (< 32 instructions) are left alone: their guard and setup code share the loop's
    # source lines, and a trip of them more or less is within the model's precision
    return body >= 32 and run >= 0.75 * body


def dynamic_counts(analysis, rules, ctx, skip, cold_subs, kernel, scale=(), dead_loops=()):
    """Dynamic warp-instructions of one warp, by class; the loops seen; the skipped regions that
    held at least one instruction; the scaled regions that held at least one. scale: [(name, file,
    lo, hi, factor)]: an instruction with a frame in such a region counts factor times (the share of
    the block's warps that run it, e.g. code that only the block's first warp runs)."""
    fn = analysis.fn
    ins = fn.instrs
    weights = [0.0] * len(ins)
    a, b = analysis.main
    for i in range(a, b):
        weights[i] = 1.0
    loops_seen = []
    matched = []
    ranges = {}
    for lp in analysis.loops:
        trips, rule, rng = match_trip(analysis, lp, rules, ctx, kernel)
        for (lq, rq) in ranges.items():
            nested = (lq[0] <= lp[0] and lp[1] <= lq[1]) or (lp[0] <= lq[0] and lq[1] <= lp[1])
            if nested and rng is not None and rq == rng:
                where = lambda l: "%s:%d" % analysis.loop_source(l)[0][:2]
                raise ModelError("%s: the nested loops at %s and %s both fall in region %s:%d-%d: "
                                 "mark the inner one with a region of its own"
                                 % ((kernel, where(lp), where(lq)) + rng))
        ranges[lp] = rng
        matched.append((lp, trips, rule))
    # Element loops (rules with "elementwise": elements per thread) are often unrolled by ptxas
    # (a main loop handling U elements per trip plus a remainder loop) and versioned (one copy per
    # outcome of a loop-invariant test, e.g. with and without an index permutation). Loops of one
    # source loop form a family: U = global stores (else loads) in the body over the fewest of any
    # loop of the family (the accesses of one source iteration); the largest-U loops
    # run floor(E / U) trips, the others E mod U trips; of several versions with the same U only
    # the longest body counts (one version runs per thread).
    families = {}
    for (lp, trips, rule) in matched:
        if rule is not None and rule.endswith("(elementwise)"):
            x = ins[lp[1]]
            families.setdefault((rule, x.frames[:1]), []).append(lp)
    fam_trips = {}
    for (rule, _), lps in families.items():
        def unroll(lp):
            body = ins[lp[0]:lp[1] + 1]
            st = sum(1 for y in body if classify(y.opcode) == "global" and y.opcode.startswith(("STG", "ST.", "RED", "ATOM")))
            ld = sum(1 for y in body if classify(y.opcode) == "global")
            return max(1, st or ld)
        raw = {lp: unroll(lp) for lp in lps}
        umin = min(raw.values())  # the accesses of one source iteration (the remainder loop's)
        us = {lp: max(1, round(raw[lp] / umin)) for lp in lps}
        umax = max(us.values())
        E = next(t for (l, t, r) in matched if l == lps[0])
        best = {}
        for lp in lps:
            key = us[lp] == umax
            if key not in best or (lp[1] - lp[0]) > (best[key][1] - best[key][0]):
                best[key] = lp
        for lp in lps:
            if best.get(us[lp] == umax) != lp:
                fam_trips[lp] = 0.0
            elif us[lp] == umax and umax > 1:
                fam_trips[lp] = float(math.floor(E / umax))
            elif umax > 1:
                fam_trips[lp] = float(E - umax * math.floor(E / umax))
            else:
                fam_trips[lp] = E
    for (lp, trips, rule) in matched:
        trips = fam_trips.get(lp, trips)
        if rule is not None and lp not in fam_trips and trips >= 1 and peeled(analysis, lp, skip):
            # ptxas peeled the first trip: it runs straight-line before the loop
            trips -= 1
            rule += " (first trip peeled)"
        if not skip_regions(ins[lp[1]], skip):
            loops_seen.append((lp, trips, rule))
        for i in range(lp[0], lp[1] + 1):
            weights[i] *= trips
    scaled = set()
    if scale:
        for i in range(len(ins)):
            hit = {}
            for (f, l) in ins[i].frames:
                base = os.path.basename(f)
                for (name, sf, lo, hi, factor) in scale:
                    if base == sf and lo <= l <= hi:
                        hit[name] = factor
            for name, factor in hit.items():
                weights[i] *= factor
                if i < b:
                    scaled.add(name)
    # A loop whose back edge lies in a region of dead_loops (a loop the modelled call never enters)
    # is skipped whole, also the instructions that the line table attributes elsewhere (values
    # ptxas rematerialised or hoisted into the loop carry the line of their first definition).
    # Not every skipped region: a loop's back edge may carry the line of its body's last
    # statement, which can be a skipped branch of a loop that runs.
    dead = set()
    for lp in analysis.loops:
        hit = skip_regions(ins[lp[1]], dead_loops)
        if hit:
            dead |= hit
            for i in range(lp[0], lp[1] + 1):
                weights[i] = 0.0
    # subroutines: hot ones count once per call, weighted by the call site
    calls = {}
    for i in range(a, b):
        x = ins[i]
        if x.opcode.startswith("CALL") and x.target in analysis.subs and not skip_regions(x, skip):
            calls[x.target] = calls.get(x.target, 0.0) + weights[i]
    for lab, (s, e) in analysis.subs.items():
        cold = any(re.search(c, lab) for c in cold_subs)
        w = 0.0 if cold else calls.get(lab, 0.0)
        for i in range(s, e):
            weights[i] = w if weights[i] == 0.0 else weights[i] * w
    counts = {c: 0.0 for c in CLASSES}
    wavefronts = 0.0
    skipped = set()
    for i, x in enumerate(ins):
        hit = skip_regions(x, skip)
        skipped |= hit
        w = weights[i]
        if w == 0.0 or hit:
            continue
        c = classify(x.opcode)
        counts[c] += w
        if c == "shared":
            wavefronts += w * shared_wavefronts(x.opcode)
    return counts, wavefronts, loops_seen, skipped, scaled, dead


def static_counts(analysis):
    fn = analysis.fn
    out = {"main": 0, "outline": analysis.outline[1] - analysis.outline[0], "subs": {}}
    out["main"] = analysis.main[1] - analysis.main[0]
    for lab, (s, e) in analysis.subs.items():
        out["subs"][lab] = e - s
    cls = {c: 0 for c in CLASSES}
    for i in range(*analysis.main):
        cls[classify(fn.instrs[i].opcode)] += 1
    out["classes"] = cls
    return out


# ---- resources and occupancy --------------------------------------------------------------------
def parse_resources(cuobjdump, cubin):
    r = subprocess.run([cuobjdump, "-res-usage", cubin], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, check=True).stdout
    res = {}
    name = None
    for line in r.splitlines():
        m = re.match(r"\s*Function (\S+):", line)
        if m:
            name = m.group(1)
            continue
        if name and "REG:" in line:
            d = dict(re.findall(r"([A-Z]+(?:\[\d+\])?):(\d+)", line))
            res[name] = {"regs": int(d.get("REG", 0)), "stack": int(d.get("STACK", 0)),
                         "smem": int(d.get("SHARED", 0)), "local": int(d.get("LOCAL", 0))}
            name = None
    return res


def parse_ptxas(path):
    out = {}
    name = None
    for line in open(path, errors="replace"):
        m = re.search(r"Function properties for (\S+)", line)
        if m:
            name = m.group(1)
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m and name:
            out.setdefault(name, {}).update({"stack_frame": int(m.group(1)),
                                             "spill_st": int(m.group(2)),
                                             "spill_ld": int(m.group(3))})
            continue
        m = re.search(r"Used (\d+) registers", line)
        if m and name:
            out.setdefault(name, {})["regs"] = int(m.group(1))
    return out


def occupancy(regs, smem, threads):
    M = MACHINE
    warps = (threads + 31) // 32
    regs_r = max(8, (regs + 7) // 8 * 8)
    per_warp = (regs_r * 32 + M["reg_alloc_unit"] - 1) // M["reg_alloc_unit"] * M["reg_alloc_unit"]
    by_regs = M["regs_per_sm"] // (per_warp * warps) if regs else M["max_blocks_per_sm"]
    by_warps = M["max_warps_per_sm"] // warps
    by_smem = M["smem_per_sm"] // (smem + M["smem_reserved_per_block"])
    blocks = min(by_regs, by_warps, by_smem, M["max_blocks_per_sm"])
    limiter = min((by_regs, "regs"), (by_warps, "warps"), (by_smem, "smem"),
                  (M["max_blocks_per_sm"], "blocks"))[1]
    return {"blocks_per_sm": blocks, "warps_per_sm": blocks * warps,
            "occupancy": blocks * warps / M["max_warps_per_sm"], "limiter": limiter}


# ---- the model ------------------------------------------------------------------------------------
def demangle(names):
    try:
        r = subprocess.run(["c++filt"], input="\n".join(names), stdout=subprocess.PIPE, text=True)
        return dict(zip(names, r.stdout.splitlines()))
    except OSError:
        return {n: n for n in names}


def short_name(dem):
    m = re.search(r"cub::\w+::(?:\w+::)*?(Device\w+Kernel|EmptyKernel)", dem)
    if m:
        kt = re.search(r"policy_hub<([\w ]+),", dem)
        t = {"unsigned int": "u32", "unsigned long": "u64", "long": "i64"}.get(
            kt.group(1).strip(), kt.group(1).strip()) if kt else ""
        alt = ", alt digits" if re.search(r"Policy1000, true,", dem) else ""
        return "cub::%s%s" % (m.group(1), "<%s%s>" % (t, alt) if t else "")
    s = dem.replace("pkpo_cuda::", "").replace("unsigned int", "u32").replace("unsigned long", "u64")
    s = re.sub(r"cub::CUB_\d+_SM_\d+::detail::\w+::", "cub::", s)
    s = re.sub(r"^void ", "", s)
    m = re.match(r"([\w:]+)(<[^(]*?>)?\(", s)
    if m:
        tmpl = m.group(2) or ""
        if "cub::" in m.group(1):
            tmpl = "<u64>" if "policy_hub<unsigned long," in dem or "policy_hub<long," in dem else \
                   ("<u32>" if "policy_hub<unsigned int," in dem else "")
        return m.group(1) + tmpl
    return s[:80]


def evaluate(plan, kernels, machine, log):
    """Runs the plan: for every size class, every launch -> counts and bounds."""
    M = machine
    rows = []
    used = set()
    regions = find_regions(plan.SRC_ROOT)
    rules = []
    for rule in plan.LOOP_RULES:
        r = dict(rule)
        if "region" in r:
            names = r["region"] if isinstance(r["region"], (list, tuple)) else [r["region"]]
            r["ranges"] = region_ranges(regions, names, "loop rule '%s'" % r["name"])
        elif "kernel" not in r:
            raise ModelError("loop rule '%s' names neither a region nor a kernel" % r["name"])
        rules.append(r)
    skips_applied, skips_hit = {}, set()
    for sc in plan.size_classes():
        launches = []
        for L in sc["launches"]:
            ctx = dict(sc["ctx"])
            ctx.update(L.get("ctx", {}))
            count = float(L.get("count", lambda c: 1)(ctx))
            if count <= 0:
                continue
            if L.get("kernel") is None:  # a memset or copy: bytes only
                entry = {"kernel": L["name"], "launch_note": L.get("note", ""), "blocks": 0.0,
                         "threads": 0, "occ": None, "res": None, "count": count,
                         "bytes": count * float(L["bytes"](ctx)), "bytes_formula": L["bytes_formula"],
                         "modelled": False}
                launches.append(entry)
                continue
            pat = re.compile(L["kernel"])
            hits = [k for k in kernels.values() if pat.search(k["demangled"])]
            modelled = L.get("instructions", True)
            if len(hits) != 1 and (modelled or not hits):
                raise SystemExit("plan: launch pattern /%s/ of size class %s matches %d kernels: %s"
                                 % (L["kernel"], sc["name"], len(hits),
                                    [h["short"] for h in hits]))
            k = hits[0]
            for h in hits:
                used.add(h["mangled"])
            res = dict(k["res"])
            # dynamic shared memory of the launch (cuobjdump reports the static part only)
            res["smem"] += int(L.get("dynamic_smem", lambda c: 0)(ctx))
            occ = occupancy(res["regs"], res["smem"], L["threads"])
            blocks = float(L["blocks"](ctx))
            warps_per_block = (L["threads"] + 31) // 32
            entry = {"kernel": k["short"], "launch_note": L.get("note", ""), "count": count,
                     "blocks": blocks, "threads": L["threads"], "occ": occ, "res": res,
                     "bytes": count * float(L["bytes"](ctx)), "bytes_formula": L["bytes_formula"],
                     "modelled": modelled}
            if entry["modelled"]:
                names = L.get("skip", [])
                skip = region_ranges(regions, names, "a launch of size class '%s'" % sc["name"])
                scale = []
                for name, factor in sorted(L.get("scale", {}).items()):
                    f = float(factor(ctx))
                    scale += [(n, rf, lo, hi, f) for (n, rf, lo, hi) in
                              region_ranges(regions, [name], "a launch of size class '%s'" % sc["name"])]
                dead_names = L.get("dead_loops", [])
                dead_loops = region_ranges(regions, dead_names, "a launch of size class '%s'" % sc["name"])
                counts, wf, loops, hit, scaled, dead = dynamic_counts(
                    k["analysis"], rules, ctx, skip, plan.COLD_SUBROUTINES, k["demangled"], scale, dead_loops)
                for name in dead_names:
                    if name not in dead:
                        raise ModelError("region %s, whose loops a launch of size class '%s' never enters, "
                                         "holds no loop of %s" % (name, sc["name"], k["short"]))
                for name in L.get("scale", {}):
                    if name not in scaled:
                        raise ModelError("region %s, scaled in a launch of size class '%s', holds no "
                                         "instruction of %s" % (name, sc["name"], k["short"]))
                family = k["short"].split("<")[0]  # a kernel template: its instantiations together
                for name in names:
                    skips_applied.setdefault((name, family), set()).add(k["short"])
                skips_hit |= {(name, family) for name in hit}
                nw = blocks * warps_per_block * count
                entry["warp_instr"] = {c: v * nw for c, v in counts.items()}
                entry["wavefronts"] = wf * nw
                entry["loops"] = [(k["analysis"].loop_source(lp)[:1], trips, rule)
                                  for (lp, trips, rule) in loops]
            launches.append(entry)
        rows.append(bound_size_class(sc, launches, M))
    for (name, family), kernels_of in sorted(skips_applied.items()):
        if (name, family) not in skips_hit:
            raise ModelError("region %s, skipped in launches of %s, holds no instruction of them: "
                             "the plan's rule attributes nothing" % (name, ", ".join(sorted(kernels_of))))
    for r in rules:
        if not r.get("used"):
            raise ModelError("loop rule '%s' matches no loop of any modelled launch" % r["name"])
    unused = [k["short"] for k in kernels.values() if k["mangled"] not in used]
    return rows, sorted(set(unused))


def bound_size_class(sc, launches, M):
    N = float(sc["N"])
    clk = M["clock_hz"]
    sms = M["sms"]
    total_t = 0.0
    tot = {"bytes": 0.0, "warp_instr": {c: 0.0 for c in CLASSES}, "launches": 0,
           "unmodelled_bytes": 0.0}
    for e in launches:
        occ = e["occ"]
        if occ is None:  # memset: bytes at the copy roofline
            e["t"] = {"mem": e["bytes"] / M["copy_bw"]}
            e["t_bound"] = e["t"]["mem"]
            e["limiter"] = "mem"
            total_t += e["t_bound"]
            tot["bytes"] += e["bytes"]
            tot["launches"] += e["count"]
            continue
        blocks = e["blocks"]
        wpb = (e["threads"] + 31) // 32
        # fraction of the machine a launch can use: SMs with work, and schedulers with a warp
        sm_fill = min(1.0, blocks / sms)
        warps_per_active_sm = min(occ["warps_per_sm"], blocks * wpb / max(1.0, min(blocks, sms)))
        sched_fill = min(1.0, warps_per_active_sm / M["schedulers_per_sm"])
        t = {}
        t["mem"] = e["bytes"] / (M["copy_bw"] * sm_fill)
        if e["modelled"]:
            wi = e["warp_instr"]
            total_wi = sum(wi.values())
            cap = sms * sm_fill * clk
            t["issue"] = total_wi / (cap * M["schedulers_per_sm"] * sched_fill)
            t["fp64"] = wi["fp64"] / (cap * M["fp64_warp_per_clk"])
            t["mufu+conv"] = (wi["mufu"] + wi["conv"]) / (cap * M["mufu_warp_per_clk"])
            t["shfl"] = wi["shfl"] / (cap * M["shfl_warp_per_clk"])
            t["smem"] = e["wavefronts"] / (cap * M["lsu_wavefronts_per_clk"])
            # memory parallelism (Little's law): bytes a resident block has in flight at once is at
            # most what it reads per block (read_bytes_per_block, from the plan's bytes / blocks)
            inflight = occ["blocks_per_sm"] * min(e["bytes"] / e["count"] / max(blocks, 1.0) / 2.0,
                                                  64 * 1024)
            need = M["copy_bw"] / sms * M["dram_latency_s"]
            e["mlp_fraction"] = min(1.0, inflight / need)
            t["mlp"] = t["mem"] / e["mlp_fraction"] if e["bytes"] > 0 else 0.0
            for c in CLASSES:
                tot["warp_instr"][c] += wi[c]
        else:
            tot["unmodelled_bytes"] += e["bytes"]
        e["t"] = t
        e["t_bound"] = max(t.values())
        e["limiter"] = max(t, key=t.get)
        total_t += e["t_bound"]
        tot["bytes"] += e["bytes"]
        tot["launches"] += e["count"]
    copy_t = sc["copy_bytes"] / M["copy_bw"]
    return {"name": sc["name"], "path": sc["path"], "dtype": sc["dtype"], "n": sc["n"],
            "G": sc["G"], "N": N, "launches": launches, "total": tot, "t": total_t,
            "copy_t": copy_t, "copy_bytes": sc["copy_bytes"], "fraction": copy_t / total_t if total_t > 0 else 0.0,
            "extra_launches": sc.get("extra_launches", 0), "note": sc.get("note", "")}


# ---- report ---------------------------------------------------------------------------------------
def fmt(x, d=1):
    if x is None:
        return "-"
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return "%.0f" % x
    if abs(x) >= 10:
        return "%.*f" % (max(0, d - 1), x) if d > 1 else "%.0f" % x
    return "%.*f" % (d, x) if abs(x) >= 0.1 else "%.2g" % x


def pct(x):
    return "%.1f%%" % (100 * x) if x < 0.1 else "%.0f%%" % (100 * x)


def row_key(r):
    """Matches a size class with its baseline row whatever the kernels are called (a before run's
    "warp 8x4" or "group 64x4" is the same call as a "team 8x4"): the kind of call (transform, rho
    curve, group_by_id), dtype, n and the objective (one k, a mixture's terms as the name states
    them, a curve's number of ks). Variants of one call (e.g. the large path without its row bank)
    match the same baseline row."""
    name = r["name"]
    kind = "curve" if "curve" in name else ("group_by_id" if "group_by_id" in name else "transform")
    mix = re.search(r"harmonic\(\d+\)|\d+ ks", name)
    return (kind, r["dtype"], r["n"], mix.group(0) if mix else "k")


def summary_table(rows, baseline=None):
    out = []
    hdr = ("| size class | dtype | n | G | launches | bytes/elem (copy) | warp-instr/elem | "
           "FP64/elem | bar/group | limiter | time / byte time | predicted % of copy roofline |")
    if baseline:
        hdr += " before | after / before |"
    out.append(hdr)
    out.append("|" + "---|" * (hdr.count("|") - 1))
    base = {row_key(r): r for r in (baseline or [])}
    for r in rows:
        N = r["N"]
        wi = r["total"]["warp_instr"]
        twi = sum(wi.values())
        lim = max(r["launches"], key=lambda e: e["t_bound"])
        bars = wi["bar"] / r["G"]
        cell = ("| %s | %s | %d | %d | %d | %s (%.3g) | %s | %s | %s | %s: %s | %.1f | **%s** |" % (
            r["name"], r["dtype"], r["n"], r["G"], r["total"]["launches"] + r["extra_launches"],
            fmt(r["total"]["bytes"] / N), r["copy_bytes"] / N,
            fmt(twi / N), fmt(wi["fp64"] / N), fmt(bars), lim["kernel"], lim["limiter"],
            r["t"] / (r["total"]["bytes"] / MACHINE["copy_bw"]), pct(r["fraction"])))
        if baseline:
            b = base.get(row_key(r))
            cell += " %s | %s |" % ((pct(b["fraction"]), "%.2f" % (r["fraction"] / b["fraction"])) if b
                                    else ("-", "-"))
        out.append(cell)
    return "\n".join(out)


def launch_tables(rows):
    out = []
    for r in rows:
        N = r["N"]
        out.append("\n#### %s, %s: n = %d, G = %d, N = %d\n" % (r["name"], r["dtype"], r["n"],
                                                               r["G"], N))
        if r["note"]:
            out.append(r["note"] + "\n")
        out.append("| kernel (launch) | blocks x threads | regs / smem B / occ | B/elem | formula | "
                   + " | ".join(CLASS_TITLES[c] for c in CLASSES) +
                   " | total warp-instr/elem | bound: issue / fp64 / mem / MLP (us) | limiter |")
        out.append("|" + "---|" * (8 + len(CLASSES)))
        for e in r["launches"]:
            occ = e["occ"]
            if occ is None:
                out.append("| %s | - | - | %s | %s | %s | - | - / - / %s / - | mem |" % (
                    e["kernel"] + (" x%d" % e["count"] if e["count"] > 1 else ""), fmt(e["bytes"] / N, 2), e["bytes_formula"],
                    " | ".join("-" for _ in CLASSES), fmt(e["t"]["mem"] * 1e6, 2)))
                continue
            res = "%d / %d / %d%%" % (e["res"]["regs"], e["res"]["smem"], round(100 * occ["occupancy"]))
            if e["res"].get("spill_st") or e["res"].get("spill_ld"):
                res += " (spills %d/%d B)" % (e["res"]["spill_st"], e["res"]["spill_ld"])
            name = e["kernel"] + (" " + e["launch_note"] if e["launch_note"] else "")
            if e["modelled"]:
                wi = e["warp_instr"]
                cls = " | ".join(fmt(wi[c] / N, 2) for c in CLASSES)
                tot = fmt(sum(wi.values()) / N, 2)
                t = e["t"]
                b = "%s / %s / %s / %s" % tuple(fmt(t[x] * 1e6, 2) for x in ("issue", "fp64", "mem", "mlp"))
            else:
                cls = " | ".join("n/m" for _ in CLASSES)
                tot = "not modelled"
                b = "- / - / %s / -" % fmt(e["t"]["mem"] * 1e6, 2)
            out.append("| %s | %d x %d | %s | %s | %s | %s | %s | %s | %s |" % (
                name, e["blocks"], e["threads"], res, fmt(e["bytes"] / N, 2), e["bytes_formula"],
                cls, tot, b, e["limiter"]))
        out.append("\nPredicted time %.1f us (sum of the launches' bounds) against a copy of %.1f us: "
                   "**%s** of the copy roofline." % (r["t"] * 1e6, r["copy_t"] * 1e6, pct(r["fraction"])))
        seen = set()
        lines = []
        for e in r["launches"]:
            if not e.get("loops") or e["kernel"] + e["launch_note"] in seen:
                continue
            seen.add(e["kernel"] + e["launch_note"])
            parts = []
            for (src, trips, rule) in e["loops"]:
                where = "%s:%d" % (src[0][0], src[0][1]) if src else "?"
                parts.append("%s x%s (%s)" % (where, fmt(trips, 2), rule))
            lines.append("`%s`%s: %s" % (e["kernel"], " " + e["launch_note"] if e["launch_note"] else "",
                                         "; ".join(parts)))
        if lines:
            out.append("\nSASS loops (back edge, trips per warp, rule):\n\n" + "\n".join("- " + l for l in lines))
    return "\n".join(out)


def kernel_table(kernels):
    out = ["| kernel | regs | spills st/ld B | stack B | smem B | static SASS (hot / out-of-line / subroutines) | "
           + " | ".join(CLASS_TITLES[c] for c in CLASSES) + " | loops (back edge source) |",
           "|" + "---|" * (7 + len(CLASSES))]
    for k in sorted(kernels.values(), key=lambda k: k["short"]):
        st = k["static"]
        res = k["res"]
        loops = "; ".join("%s:%d" % (s[0][0], s[0][1]) for s in
                          (k["analysis"].loop_source(lp) for lp in k["analysis"].loops) if s)
        out.append("| %s | %d | %s/%s | %d | %d | %d / %d / %d | %s | %s |" % (
            k["short"], res["regs"], res.get("spill_st", "?"), res.get("spill_ld", "?"),
            res["stack"], res["smem"], st["main"], st["outline"], sum(st["subs"].values()),
            " | ".join(str(st["classes"][c]) for c in CLASSES), loops or "-"))
    return "\n".join(out)


MARKER = "<!-- everything below is generated by bench/cost_model.py; edit the text above only -->"


def write_report(path, rows, kernels, unused, baseline, meta, plan):
    pre = ""
    if os.path.exists(path):
        txt = open(path).read()
        # keep the hand-written text above the marker (the whole file if it has no marker yet)
        pre = txt.split(MARKER)[0] if MARKER in txt else txt.rstrip() + "\n\n"
    if not pre:
        pre = "# Static cost model of the CUDA kernels\n\n"
    M = MACHINE
    g = [MARKER, "",
         "## Generated %s" % meta["date"], "",
         "Command: `%s`  " % meta["command"],
         "Sources: `%s` at commit `%s`%s; cubins: nvcc %s, `-arch=sm_90 -O3 -lineinfo --fmad=%s`; "
         "disassembly: %s." % (meta["src"], meta["commit"], " (with uncommitted changes)" if meta["dirty"] else "",
                               meta["nvcc"], meta["fmad"], meta["nvdisasm"]), "",
         "Machine model: %s, %d SMs at %.2f GHz, %d warp-instructions issued per clock per SM, "
         "FP64 %d lanes/clk/SM, MUFU and 64-bit conversions 16 lanes/clk/SM, shuffles 32 lanes/clk/SM, "
         "one shared-memory wavefront per clock per SM, copy roofline %.1f TB/s (HBM3 peak %.2f TB/s), "
         "loaded DRAM latency %.0f ns (estimate)." % (
             M["name"], M["sms"], M["clock_hz"] / 1e9, M["schedulers_per_sm"],
             int(M["fp64_warp_per_clk"] * 32), M["copy_bw"] / 1e12, M["hbm_peak"] / 1e12,
             M["dram_latency_s"] * 1e9), "",
         "### Summary: predicted fraction of the copy roofline (%s)" % plan.CASE, "",
         summary_table(rows, baseline), "",
         "Columns: bytes/elem = global bytes moved per reward by construction (all launches) and, in "
         "brackets, the copy roofline's bytes; warp-instr/elem = modelled dynamic SASS "
         "warp-instructions per reward, all launches whose instructions are modelled; bar/group = "
         "block barriers (BAR.*) executed per group, summed over the warps of the block; limiter = "
         "the launch with the largest bound and its limiting resource; time / byte time = predicted "
         "time over the time of the size class's own bytes at the copy roofline (1.0: purely "
         "bandwidth-bound on what it moves)" + (
             "; before = the baseline run's prediction for the same call (kind, dtype, n, objective), "
             "after / before = the ratio of the two fractions (below 1: slower than before)"
             if baseline else "") + ".", "",
         "### Per launch", "",
         "Instruction columns are dynamic warp-instructions per reward (all warps of the launch "
         "divided by N). `n/m`: a CUB device-wide kernel whose instructions are not modelled; its "
         "bound is its bytes at the copy roofline. Bounds are in microseconds for the whole batch.",
         launch_tables(rows), "",
         "### Kernels in the cubins (static)", "",
         "Static counts of the hot code (main body up to its last unconditional EXIT) by class; "
         "out-of-line code (warp-divergence fallbacks of `__shfl_sync`, reached by `BRA.DIV`) and "
         "subroutines (the float64 division slow path `__cuda_sm20_div_rn_f64_full`) are listed "
         "apart and count as cold in the dynamic model.", "",
         kernel_table(kernels), ""]
    if unused:
        g += ["Kernels in the cubins that no size class of the plan launches: " +
              ", ".join("`%s`" % u for u in unused) + ".", ""]
    open(path, "w").write(pre + "\n".join(g))


def load_plan(path):
    spec = importlib.util.spec_from_file_location("cost_model_plan", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def git(args, cwd):
    try:
        return subprocess.run(["git"] + args, cwd=cwd, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True).stdout.strip()
    except OSError:
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build-cm", help="folder for cubins and disassembly")
    ap.add_argument("--src", default=ROOT, help="repository root whose src/cuda is modelled")
    ap.add_argument("--plan", default=os.path.join(HERE, "cost_model_plan.py"),
                    help="the kernel-set description (launches per size class, loop trip rules)")
    ap.add_argument("--tools", default=None, help="folder with nvdisasm and cuobjdump")
    ap.add_argument("--arch", default="sm_90")
    ap.add_argument("--fmad", choices=["false", "true"], default="false",
                    help="nvcc's --fmad: false as the library is built (CMakeLists.txt: no contracted "
                         "multiply-adds), true to model nvcc's default")
    ap.add_argument("--rebuild", action="store_true", help="recompile even if the cubins are fresh")
    ap.add_argument("--out", default=None, help="markdown report to write (text above the marker kept)")
    ap.add_argument("--save-json", default=None, help="write the size-class results as JSON")
    ap.add_argument("--baseline", default=None, help="JSON of an earlier run: adds a 'before' column")
    ap.add_argument("--list-loops", action="store_true", help="print every loop and its trip rule")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    os.makedirs(build, exist_ok=True)
    log = lambda s: print(s, file=sys.stderr)

    nvdisasm = find_tool("nvdisasm", a.tools, build)
    cuobjdump = find_tool("cuobjdump", a.tools, build)
    if not nvdisasm or not cuobjdump:
        sys.exit(INSTALL_HINT.format(build=a.build))
    cubins = compile_cubins(a.src, build, a.arch, a.fmad, a.rebuild, log)
    plan = load_plan(a.plan)
    plan.SRC_ROOT = a.src

    kernels = {}
    for stem, cubin, ptxas in cubins:
        sass = cubin[:-len(".cubin")] + ".sass.txt"
        if not os.path.exists(sass) or os.path.getmtime(sass) < os.path.getmtime(cubin):
            log("disassembling %s" % cubin)
            with open(sass, "w") as f:
                subprocess.run([nvdisasm, "-c", "-gi", cubin], stdout=f, check=True)
        funcs = parse_sass(sass)
        res = parse_resources(cuobjdump, cubin)
        px = parse_ptxas(ptxas)
        dem = demangle(list(funcs))
        for name, fn in funcs.items():
            if name not in res:
                continue  # not an entry function
            r = dict(res[name])
            r.update({k: v for k, v in px.get(name, {}).items() if k != "regs"})
            an = Analysis(fn)
            kernels[name] = {"mangled": name, "demangled": dem.get(name, name),
                             "short": short_name(dem.get(name, name)), "res": r, "analysis": an,
                             "static": static_counts(an), "unit": stem}
    if a.list_loops:
        for k in sorted(kernels.values(), key=lambda k: k["short"]):
            for lp in k["analysis"].loops:
                print("%-40s %5d instrs  %s" % (k["short"], lp[1] - lp[0] + 1,
                                                 " <- ".join("%s:%d `%s`" % s for s in
                                                             k["analysis"].loop_source(lp))[:300]))
    rows, unused = evaluate(plan, kernels, MACHINE, log)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "command": "python3 bench/cost_model.py " + " ".join(sys.argv[1:]),
            "src": os.path.relpath(a.src, os.getcwd()) if a.src != ROOT else "src/cuda",
            "commit": git(["rev-parse", "--short", "HEAD"], a.src),
            "dirty": bool(git(["status", "--porcelain", "--", "src/cuda", "include"], a.src)),
            "fmad": a.fmad,
            "nvcc": re.sub(r".*release ([0-9.]+).*", r"\1",
                           subprocess.run([find_nvcc(), "--version"], stdout=subprocess.PIPE,
                                          text=True).stdout.replace("\n", " ")),
            "nvdisasm": os.path.basename(nvdisasm) + " " + re.sub(
                r".*release ([0-9.]+).*", r"\1",
                subprocess.run([nvdisasm, "--version"], stdout=subprocess.PIPE,
                               text=True).stdout.replace("\n", " "))}
    baseline = json.load(open(a.baseline))["rows"] if a.baseline else None
    for r in rows:
        print("%-34s %-7s n=%-8d %s of copy roofline (%.0f warp-instr/elem, %.1f B/elem)" % (
            r["name"], r["dtype"], r["n"], pct(r["fraction"]),
            sum(r["total"]["warp_instr"].values()) / r["N"], r["total"]["bytes"] / r["N"]))
    if a.save_json:
        slim = [{"name": r["name"], "dtype": r["dtype"], "n": r["n"], "G": r["G"],
                 "fraction": r["fraction"], "bytes_per_elem": r["total"]["bytes"] / r["N"],
                 "warp_instr_per_elem": sum(r["total"]["warp_instr"].values()) / r["N"],
                 "t_us": r["t"] * 1e6} for r in rows]
        json.dump({"meta": meta, "rows": slim}, open(a.save_json, "w"), indent=1)
    if a.out:
        write_report(a.out, rows, kernels, unused, baseline, meta, plan)
        log("wrote %s" % a.out)


if __name__ == "__main__":
    main()
