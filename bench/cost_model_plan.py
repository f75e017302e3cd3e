"""cost_model_plan.py -- the kernel set that bench/cost_model.py models: which kernels each size class
launches (grid, block, bytes by construction), the trip counts of their loops, and the code a launch
does not execute. Describes src/cuda as it is: the team kernel (team_kernels.cuh, every group of
n <= 4096: one group per sub-warp team for n <= 128, one per block team above), and the large path
(4096-key runs sorted in shared memory, four-way merge passes of eight 4096-key chunks per block; a
uniform batch of at least 16 groups builds its rows once, large_bank_kernel; the tile pass, whose
carries the scatter forms itself for uniform groups of at most 512 tiles). A change of the kernels'
launches or loops updates this file; cost_model.py itself stays as it is.

Each size class and loop rule belongs to a path: team (the block path, groups of n <= 4096), large
(n > 4096) or group_by_id. PKPO_COST_MODEL_PATHS (comma-separated: team, large, group_by_id)
restricts the size classes and the loop rules to those paths, e.g. PKPO_COST_MODEL_PATHS=large
models the large path alone (a kernel change on one path rebuilds and checks that path's plan only).

Code is named by regions, PKPO_REGION_BEGIN(name) / PKPO_REGION_END(name) in src/cuda
(model_region.h), never by source text: the plan says which regions a launch skips and which
regions' loops run how often, and cost_model.py fails when a name marks nothing, a skipped region
holds no instruction of its launches, a loop has no rule, or a rule no loop. Launch shapes are read
from the launchers (src/cuda/*.cu) and from CUB's tuning headers of the toolkit used to build (CUDA
13.0: cub/device/dispatch/tuning/tuning_radix_sort.cuh, sm_90 policies).

Conventions: N rewards, G groups of n (uniform layout, no index permutation, no flags, no k per
group), E = bytes per reward (4 float32, 8 float64), keys are E bytes. The modelled call is
pkpo_transform with sloo_minus_one and k = 4 writing per-sample outputs only (rho = NULL), the
configuration bench/bench_gpu.cu times; rho curves and group_by_id have their own classes.
Bytes are compulsory global-memory bytes by construction: every array element a kernel reads or
writes counted once per launch; re-reads that hit in L1/L2 (neighbouring keys, binary-search probes,
per-group parameters) are not counted, and are noted where they matter.
"""
import math

CASE = ("pkpo_transform, sloo_minus_one, k = 4, uniform layout, outputs only (rho, flags NULL), "
        "N = 2^26 rewards unless noted")

# Subroutines whose code counts as cold (never executed in the modelled inputs): the float64
# division slow path (denormal / special-value operands).
COLD_SUBROUTINES = [r"div_rn_f64_full"]


def log2c(x):
    return math.ceil(math.log2(x)) if x > 1 else 0


def merge_passes(n):
    """large_common.cuh large_merge_passes: four-way merge passes over 4096-key runs."""
    runs, p = math.ceil(n / 4096), 0
    while 4 ** p < runs:
        p += 1
    return p


def merge_rounds(w, P=16):
    """quad_split_halfwarp: (rounds, candidate-search probes summed over the rounds) for an outer
    bracket of w: each round divides it by P + 1 until it is at most P, then one exact round; a
    round's inner searches take log2 of the bracket + 1 probes."""
    rounds, probes = 0, 0
    while w > P:
        rounds += 1
        probes += log2c(w) + 1
        w = w // (P + 1)
    return rounds + 1, probes + log2c(max(w, 1)) + 1


def mean_over_passes(c, f):
    """Mean of f(pass) over a group's merge passes (a launch's trip count when it runs every pass)."""
    p = merge_passes(c["n"])
    return sum(f(i) for i in range(p)) / p if p else 0


# Loop trip counts. A rule names the regions (PKPO_REGION_BEGIN/END in src/cuda) that hold its
# loop, or a kernel (a regex on its demangled name) all of whose loops it counts. A loop takes the
# rule of the smallest named region holding a frame of its back-edge branch (innermost frame
# first: the loop's own line, then each call site it is inlined at); cost_model.py fails on a loop
# that no rule attributes and on a rule that attributes no loop. trips(ctx) is the number of times
# the body runs per warp. "elementwise": trips is the number of elements per thread
# (unrolled/versioned copies of the loop are resolved by cost_model.py).
LOOP_RULES = [
    {"name": "large scatter's rank search: ceil(log2 n) levels (all of a thread's keys per level)",
     "region": "rank_search", "path": "large", "trips": lambda c: log2c(c["n"])},
    {"name": "tile_owner binary search over G+1 tile bases: ceil(log2 G)",
     "region": "tile_owner_search", "path": "large", "trips": lambda c: log2c(c["G"])},
    {"name": "merge kernel's outer rounds (16 candidates of a split per half warp): "
             "merge_rounds(len) for lists of len = 4096 * 4^pass (the mean bracket), mean over the passes",
     "region": "quad_split_rounds", "path": "large",
     "trips": lambda c: mean_over_passes(c, lambda p: merge_rounds(4096 * 4 ** p)[0])},
    {"name": "merge kernel's candidate splits (the (A, B) and (C, D) searches of a candidate side by "
             "side, inside the brackets: log2 of the bracket + 1 per round), mean per round over the passes",
     "region": "quad_split_candidates", "path": "large",
     "trips": lambda c: mean_over_passes(c, lambda p: merge_rounds(4096 * 4 ** p)[1] / merge_rounds(4096 * 4 ** p)[0])},
    {"name": "merge kernel's final splits (inside the last brackets: 1 probe)",
     "region": "quad_split_final", "path": "large", "trips": lambda c: 1},
    {"name": "merge kernel's chunks without work skipped: none in a uniform batch (0 trips)",
     "region": "idle_chunks", "path": "large", "trips": lambda c: 0},
    {"name": "merge kernel's chunks per block: 8",
     "region": "merge_chunks", "path": "large", "trips": lambda c: 8},
    {"name": "merge kernel's splits in shared memory: ceil(log2(4097)) = 13 probes",
     "region": "smem_merge_split", "path": "large", "trips": lambda c: 13},
    {"name": "run sort (block_merge_sort): log2(4096 / 16) = 8 merge passes in shared memory",
     "region": "run_sort_passes", "path": "large", "trips": lambda c: 8},
    {"name": "run sort merge-path probes: ceil(log2(w + 1)) for w = 16 .. 2048, mean 8.5 per pass",
     "region": "run_sort_split", "path": "large", "trips": lambda c: 8.5},
    {"name": "closed-form F beyond a tile: ceil(min(k, m-x) / 256) factors per thread (k <= 256: 1)",
     "region": "beyond_factors", "path": "large", "trips": lambda c: 1},
    {"name": "the objective's terms of a row (rows.cuh team_rows, team kernel and large tiles: 1 for "
             "one k, J for a mixture)",
     "region": "row_terms", "path": ("team", "large"), "trips": lambda c: c.get("terms", 1)},
    {"name": "the objective's terms of a row's constants (rows.cuh objective_consts, team kernel and "
             "large path: 1 for one k, J for a mixture)",
     "region": "objective_terms", "path": ("team", "large"), "trips": lambda c: c.get("terms", 1)},
    {"name": "a mixture's terms checked per group (rows.cuh objective_kmax, team kernel and large "
             "path: 0 for one k, J for a mixture)",
     "region": "objective_checks", "path": ("team", "large"), "trips": lambda c: c.get("mixture_terms", 0)},
    {"name": "merge pass count of a group: ceil(log4 runs of 4096)",
     "region": "merge_pass_count", "path": "large", "trips": lambda c: merge_passes(c["n"])},
    {"name": "groups per block (large_carry_kernel: one)",
     "region": "groups_of_block", "path": "large", "trips": lambda c: 1},
    {"name": "large-path tile elements: 2048 per tile / 256 threads",
     "region": "not_large_fill", "path": "large", "trips": lambda c: 8, "elementwise": True},
    {"name": "carry chunks: ceil(tiles / 256)",
     "region": "tile_chunks", "path": "large", "trips": lambda c: max(1, math.ceil(c["tiles"] / 256))},
    {"name": "team kernel: group slots per warp (sub-warp teams: G / (32/W teams x warps of the grid); "
             "block teams: G / blocks)",
     "region": "team_group_slots", "path": "team", "trips": lambda c: c["team_iters"]},
    {"name": "team kernel, a uniform batch: chunks of at most 32 slots per warp (kLeftChunk)",
     "region": "slot_chunks", "path": "team", "trips": lambda c: math.ceil(c["team_iters"] / 32)},
    {"name": "team kernel, a uniform batch: a chunk's slots (the slots per warp over the chunks)",
     "region": "chunk_slots", "path": "team", "trips": lambda c: c["team_iters"] / math.ceil(c["team_iters"] / 32)},
    {"name": "team kernel, a uniform batch: a chunk's slots again for the groups left to their own rows "
             "(none in the modelled calls)",
     "region": "left_groups", "path": "team", "trips": lambda c: 0},
    {"name": "team kernel: a curve column's elementwise weight steps outside a batch (none for the "
             "modelled ks 1..16 and 1..64: their first column takes a scan, the others go in batches)",
     "region": "curve_steps", "path": "team", "trips": lambda c: 0},
    {"name": "team kernel: a curve chunk's single columns, each followed by its batches (one for "
             "the modelled ks 1..16 and 1..64)",
     "region": "curve_columns", "path": "team", "trips": lambda c: 1},
    {"name": "team kernel: a curve's batches of 4 columns one step apart (Team::kBatch for the "
             "modelled 4x4 and 64x4 teams): ceil((ks - 1) / 4)",
     "region": "curve_batches", "path": "team", "trips": lambda c: math.ceil((c.get("ncol", 1) - 1) / 4)},
    {"name": "one-thread-per-item grid-stride loop",
     "kernel": r"gbi_\w+_kernel", "path": "group_by_id", "trips": lambda c: c["per_thread"], "elementwise": True},
]

# Regions (PKPO_REGION_BEGIN/END in src/cuda) a launch does not execute; cost_model.py fails on a
# region that holds no instruction of any launch that skips it.
# The formulas a modelled transform never applies (rules.h pkpo__term_rule; the regions mark their
# cases in pkpo__term_weights and pkpo__term_consts_of): sloo_minus_one is formula smo for
# 1 < k < m and l2o's at k = 1 (the first term of a harmonic mixture). The formula is the same for
# every rank of a row, so a warp takes one case; without this every case would count, as if each
# rank evaluated all of them.
# rows.cuh team_rows takes sloo_minus_one's weights apart from the others' (other_formulas).
def skip_formulas(estimator, k1=False):
    if estimator == "l2o":
        return ["formula_s", "formula_sloo", "formula_smo"]
    return ["formula_s", "formula_sloo"] + ([] if k1 else ["formula_l2o", "other_formulas"])
# The ragged branch of tile_owner (binary search over tile_base): the modelled layout is uniform,
# where the owner of a block is g = b / tiles.
SKIP_RAGGED = ["ragged_tile_map"]
# large_sort_tile_kernel: the run sort (merge-sort classes) or the unsorted store (G = 1, whole
# sort); the loads through an index permutation (the modelled call has none); the fill of a group
# that is not large.
SKIP_RUN_SORT = ["run_sort"]
SKIP_UNSORTED_STORE = ["unsorted_store"]
SKIP_SORT_COLD = ["index_permutation", "not_large_fill"]
# large_tile_kernel's rows: a transform's from the row bank (a uniform batch of >= 16 groups: the
# kernel's BANK variant, which holds no other) or its own (team_rows), a curve column's by
# team_term_f.
# The closed-form F beyond a tile is one warp's shuffles for up to 32 factors (min(k, m - x)); every
# modelled k is at most 16 (the large curve's ks are 1..8), so the block-wide product never runs.
SKIP_ROWS = {"bank": [], "own": ["curve_rows", "beyond_block_product"], "curve": ["own_rows", "beyond_block_product"]}
# rows.cuh team_rows of a transform with rho = NULL: no F (rho's double-double product scan), and
# without the sloo formula no tail sums.
SKIP_ROWS_OUT = ["rho_rows", "sloo_tail"]
# large_tile_kernel of sloo_minus_one with rho = NULL: no rho sum, no backward scan; of a curve: no
# outputs.
SKIP_TILE_SMO = ["rho_sum", "backward_scan"] + SKIP_ROWS_OUT
SKIP_TILE_CURVE = ["tile_local_outputs"]
# large_tile_kernel: a thread whose ranks run past m or whose keys do not start 16-byte aligned
# loads them one by one; the modelled groups are whole tiles of an aligned batch.
SKIP_TILE_EDGE = ["tile_edge_loads"]
# The kernels after the row bank read the objective's largest k and the rows' constants from its
# head: objective_kmax's and objective_consts' loops over the terms do not run there.
SKIP_BANK_OBJECTIVE = ["objective_checks", "objective_terms", "objective_term"]
# large_tile_kernel has no objective_consts loop of a transform's (its own rows sum the constants in
# team_rows' loop over the terms; the curve's sits in the skipped curve rows)
SKIP_BANK_TILE = ["objective_checks", "objective_term"]
# large_merge_kernel for groups of two runs: every chunk's quad holds lists A and B only, so the
# merge of X with Y (Y empty) does not run.
SKIP_MERGE_XY = ["merge_x_with_y"]
# large_scatter_kernel's folded carries for sloo_minus_one with rho = NULL: no backward carries, no
# rho sum; without the fold (groups of more than 512 tiles) none of it.
SKIP_FOLD_SMO = ["backward_carries", "rho_sum"]
SKIP_SCATTER_FOLD = ["fold_carries"]
# large_carry_kernel: no group that is not general; a transform with rho = NULL sums no rho, a
# curve forms no output carries.
SKIP_CARRY_SMO = ["not_general", "rho_sum"]
SKIP_CARRY_CURVE = ["not_general", "carry_lin"]

# team_kernel, every modelled call: valid groups of n >= 2 finite rewards with k < n (rules.h's
# rare_group_rules: the invalid, non-finite, empty and k > m rules), no error, flags NULL
# (status_report: the error report and the flags store), finite rewards (other_outputs: the stores
# of NaN or 0); the uniform variants (TEAM_EXACT / TEAM_UNIFORM) compile out the span, the
# index and the curve, the block teams' general variant has them: a uniform layout without an index
# takes neither branch.
SKIP_TEAM_COLD = ["status_report", "other_outputs", "rare_group_rules"]
SKIP_TEAM_GENERAL = ["ragged_span", "index_permutation"]
# team_kernel transform: rho NULL; sloo_minus_one at k >= 2 has no backward scan (rules.h: no Q
# weights); a uniform batch's sub-warp teams take the block's row (rows_of_group: a group whose m
# is not the batch's); the general variant's curve code does not run.
SKIP_TEAM_SMO = SKIP_TEAM_COLD + SKIP_ROWS_OUT + ["rho_sum", "backward_scan", "output_full"]
SKIP_TEAM_L2O = SKIP_TEAM_COLD + SKIP_ROWS_OUT + ["rho_sum", "output_prefix"]
# team_kernel curve (the general variant): no transform part; the modelled ks are 1..16 and 1..64:
# every column but a group's first takes its F from the previous column's elementwise, so the
# scans' branch is skipped (an under-count of one column's scans in 16 or 64, stated in
# cost_model.md).
SKIP_TEAM_CURVE = SKIP_TEAM_COLD + SKIP_TEAM_GENERAL + ["transform_part", "curve_scans", "uniform_row", "row_groups"]

KERN = {
    "team": lambda w, v, key, layout: r"team_kernel<%d, %d, unsigned %s, %d>" % (w, v, key, layout),
    "plan": r"large_plan_kernel\(",
    "tilesort": lambda key: r"large_sort_tile_kernel<unsigned %s>" % key,
    "merge": lambda key: r"large_merge_kernel<unsigned %s>" % key,
    "bank": r"large_bank_kernel\(",
    "tile": lambda key, bank: r"large_tile_kernel<unsigned %s, %s>" % (key, "true" if bank else "false"),
    "carry": lambda key: r"large_carry_kernel<unsigned %s>" % key,
    "scatter": lambda key: r"large_scatter_kernel<unsigned %s>" % key,
    "os_hist": lambda key: r"DeviceRadixSortHistogramKernel<.*policy_hub<%s, " % key,
    "os_sum": lambda key: r"DeviceRadixSortExclusiveSumKernel<.*policy_hub<%s, " % key,
    "onesweep": lambda key: r"DeviceRadixSortOnesweepKernel<.*policy_hub<%s, " % key,
    "scan_c": r"DeviceScanKernel<.*policy_hub<long, long, long, .*>::Policy1000, long\*, long\*, .*NullType, unsigned",
    "scan_e": r"DeviceScanKernel<.*policy_hub<long, long, long, .*>::Policy1000, long\*, long\*, .*InputValue",
    "scan_init": r"DeviceScanInitKernel<",
}

N_DEFAULT = 1 << 26
ONESWEEP_BITS = 8   # CUB onesweep (DeviceRadixSort on sm_90)
CURVE_SLOTS = 32    # params.h kCurveSlots: ks per large-path stage sequence


def memset(name, bytes_fn, formula):
    return {"kernel": None, "name": name, "bytes": bytes_fn, "bytes_formula": formula}


STATUS_MEMSETS = memset("cudaMemsetAsync(status)", lambda c: 32, "32 B in one memset")


TEAM_BLOCK = 256             # team_kernels.cuh kTeamBlock (sub-warp teams)
TEAM_WAVES = 2               # transform.cu kTeamWaves (a launch with lower = 0)
SM_COUNT = 132               # the modelled H100 SXM5's multiprocessors (Shape::sm_count)
WARP_MAX_N = 128             # params.h kWarpMaxN
TEAM_EXACT, TEAM_UNIFORM, TEAM_GENERAL = 2, 1, 0


def team_config(n):
    """transform.cu team_class: C = the power of two >= n (at least 4); W x V = 2 x 2 (C = 4),
    C/4 x 4 (C <= 128: sub-warp teams), 64 x 4 (C = 256), C/8 x 8 above (block teams)."""
    c = 4
    while c < n:
        c *= 2
    if c == 4:
        return 2, 2
    if c <= 2 * WARP_MAX_N:
        return c // 4, 4
    return c // 8, 8


def team_blocks_per_sm(W):
    """team_kernels.cuh team_blocks_per_sm: the blocks per SM of __launch_bounds__."""
    return (1 if W >= 512 else 512 // W) if W > 32 else 2


def team_smem(W, V, E):
    """sizeof(TeamSmem<W, V, Key>) (team_kernels.cuh), the launch's dynamic shared memory, field by
    field with the alignments of the struct (checked against nvcc's sizeof for every class)."""
    C = W * V
    blk = W > 32
    NW = W // 32 if blk else 2
    warps = (W if blk else TEAM_BLOCK) // 32
    off = 0

    def field(size, align):
        nonlocal off
        off = (off + align - 1) // align * align + size
    field((2 if blk else 1) * C * E, 16)            # buf: the sort's double buffer (block teams)
    field((1 if blk else warps) * 2 * 32 * V * E, 16)  # sorted: each warp's keys and outputs (sub-warp teams)
    for size in (E, E, 8, 8):                       # the uniform row: P, Q, Fhi, Flo (sub-warp teams)
        field((1 if blk else C) * size, 16)
    field(48, 8)                                    # RowConsts
    field(2 * 16 * min(4 * NW, 32), 8)              # TeamSlots: two PartSlots, each of a sum_batch's totals
    return (off + 15) // 16 * 16


ESTIMATORS = {
    "smo": {"name": "sloo_minus_one", "skip": SKIP_TEAM_SMO},
    "l2o": {"name": "l2o", "skip": SKIP_TEAM_L2O},
}


def team_class(n, E, N=N_DEFAULT, curve_ks=0, estimator="smo", ks=None, label=None):
    """Uniform layout, n <= 4096: one team_kernel launch (transform.cu launch_team). ks: a mixture's
    terms (None: the call's one k = 4); a sloo_minus_one mixture with k = 1 takes l2o's formula for
    that term, whose backward scan then runs (rules.h pkpo__term_rule)."""
    key = "int" if E == 4 else "long"
    G = N // n
    W, V = team_config(n)
    C = W * V
    blk = W > 32
    threads = W if blk else TEAM_BLOCK
    per_block = 1 if blk else (TEAM_BLOCK // 32) * (32 // W)
    limit = TEAM_WAVES * SM_COUNT * team_blocks_per_sm(W)
    blocks = min(math.ceil(G / per_block), limit)
    warps = threads // 32
    ctx = {"n": n, "G": G, "N": N, "E": E, "ncol": max(1, min(curve_ks, 64)), "tiles": 0,
           "team_iters": G / (blocks * per_block), "warps_per_block": warps,
           "terms": len(ks) if ks else 1, "mixture_terms": len(ks) if ks else 0}
    launches = [STATUS_MEMSETS]
    smem = lambda c, b=team_smem(W, V, E): b
    # a uniform batch's sub-warp teams: the row is built once per block by its first warp
    row_warp = {} if blk or curve_ks else {"row_build": lambda c: 1.0 / c["warps_per_block"]}
    layout = TEAM_GENERAL if blk or curve_ks else (TEAM_EXACT if n == C else TEAM_UNIFORM)
    general = SKIP_TEAM_GENERAL if layout == TEAM_GENERAL else []
    what = "%d groups per %s" % (round(ctx["team_iters"] * (1 if blk else 32 // W)),
                                 "block" if blk else "warp")
    if curve_ks:
        chunks = math.ceil(curve_ks / 64)
        launches.append({"kernel": KERN["team"](W, V, key, layout), "blocks": lambda c, b=blocks: b,
                         "threads": threads, "dynamic_smem": smem, "count": lambda c, k=chunks: k,
                         "note": "x %d chunk(s) of <= 64 ks; %s" % (chunks, what),
                         "skip": SKIP_TEAM_CURVE,
                         "bytes": lambda c: c["N"] * c["E"] + c["G"] * c["ncol"] * c["E"],
                         "bytes_formula": "E read per reward (again per chunk) + E per rho value"})
        copy = N * E + G * curve_ks * E
        name = "rho curve, team %dx%d, %d ks" % (W, V, curve_ks)
    else:
        k1 = bool(ks) and 1 in ks
        skip = list(ESTIMATORS[estimator]["skip"]) + skip_formulas(estimator, k1)
        if estimator == "smo" and k1:  # the k = 1 term's l2o formula
            skip.remove("backward_scan")
            skip.remove("output_full")
            skip.append("output_prefix")
        # the block's row serves every group of a uniform sub-warp launch; block teams build each
        # group's rows; the general variant's curve code does not run
        skip += ["own_groups", "left_groups"] + general + (["curve_columns"] if layout == TEAM_GENERAL else [])
        launches.append({"kernel": KERN["team"](W, V, key, layout), "blocks": lambda c, b=blocks: b,
                         "threads": threads, "dynamic_smem": smem, "scale": row_warp,
                         "note": what, "skip": skip, "dead_loops": ["own_groups"],
                         "bytes": lambda c: 2 * c["N"] * c["E"],
                         "bytes_formula": "E read + E written per reward"})
        copy = 2 * N * E
        name = label or "team %dx%d" % (W, V) + (", harmonic(%d)" % len(ks) if ks else "")
    return {"name": name, "path": "team", "dtype": "float32" if E == 4 else "float64", "n": n,
            "G": G, "N": N, "elem_bytes": E, "copy_bytes": copy, "ctx": ctx, "launches": launches}


BANK_MIN_GROUPS = 16  # transform.cu kBankMinGroups: a uniform batch of this many groups gets a row bank


def large_class(n, E, N=N_DEFAULT, curve_ks=0, terms=1, bank=None):
    """transform.cu transform_typed / curve_typed, large part, uniform layout (no tile_base scan).
    terms: 1 (one k) or J (a mixture of J terms, each k <= 256: one closed-form factor per thread);
    bank: whether the tiles read the row bank (default: as the launcher decides, G >= 16)."""
    key = "int" if E == 4 else "long"
    G = N // n
    T = math.ceil(n / 2048)
    bits = 8 * E
    ctx = {"n": n, "G": G, "N": N, "E": E, "key_bits": bits, "tiles": T, "per_thread": 1,
           "terms": terms, "mixture_terms": terms if terms > 1 else 0}
    tiles = lambda c: c["G"] * c["tiles"]
    form = [] if curve_ks else skip_formulas("smo", terms > 1)  # harmonic(J): k = 1 .. J
    if bank is None:
        bank = not curve_ks and G >= BANK_MIN_GROUPS
    # No block-path launch: a uniform batch of groups above the block path's tile launches none
    # (transform.cu launch_block; only a per-group k adds the smallest warp class for invalid ks).
    slots = min(curve_ks, CURVE_SLOTS) if curve_ks else 1
    batches = math.ceil(curve_ks / CURVE_SLOTS) if curve_ks else 1
    launches = [
        memset("cudaMemsetAsync(status, gbad, gnone, agg)",
               lambda c, s=slots: 32 + 8 * c["G"] + s * c["G"] * c["tiles"] * 40,
               "32 B + 8 B per group + 40 B per 2048-rank tile and k slot used (one memset, transform.cu "
               "reset_call)"),
        {"kernel": KERN["tilesort"](key), "blocks": lambda c: c["G"] * math.ceil(c["tiles"] / 2), "threads": 256,
         "skip": SKIP_RAGGED + SKIP_SORT_COLD + (SKIP_RUN_SORT if G == 1 else SKIP_UNSORTED_STORE),
         "bytes": lambda c: 2 * c["N"] * c["E"],
         "bytes_formula": "E reward read + E key written (G > 1: runs of 4096 sorted in shared memory, "
                          "one block per run)"},
    ]
    if G == 1:
        passes = math.ceil(bits / ONESWEEP_BITS)
        launches += [
            {"kernel": KERN["os_hist"]("unsigned " + key), "blocks": lambda c: 132 * 2, "threads": 128,
             "instructions": False, "bytes": lambda c: c["N"] * c["E"],
             "bytes_formula": "E read (histograms of all passes)"},
            {"kernel": KERN["os_sum"]("unsigned " + key), "blocks": lambda c: passes, "threads": 256,
             "instructions": False, "bytes": lambda c: 0, "bytes_formula": "-"},
            {"kernel": KERN["onesweep"]("unsigned " + key), "blocks": lambda c: math.ceil(c["N"] / (384 * 19)),
             "threads": 384, "instructions": False, "count": lambda c: passes,
             "note": "x %d passes (8-bit digits)" % passes,
             "bytes": lambda c: 2 * c["N"] * c["E"], "bytes_formula": "per pass: E read + E written"},
        ]
    else:
        runs = math.ceil(n / 4096)
        passes = merge_passes(n)
        launches.append(
            {"kernel": KERN["merge"](key), "blocks": lambda c: math.ceil(c["G"] * math.ceil(c["tiles"] / 2) / 8), "threads": 256,
             "skip": SKIP_RAGGED + (SKIP_MERGE_XY if runs <= 2 else []),
             "count": lambda c, k=passes: k, "note": "x %d four-way merge passes (ceil(log4 %d runs of 4096))" % (passes, runs),
             "bytes": lambda c: 2 * c["N"] * c["E"],
             "bytes_formula": "per pass: E key read + E key written (4096-key chunks; merge-path splits: L2)"})
    if bank:
        launches.append(
            {"kernel": KERN["bank"], "blocks": lambda c: c["tiles"], "threads": 256,
             "note": "the row bank of m = n, once per call", "skip": SKIP_ROWS_OUT + ["beyond_block_product"] + form,
             "bytes": lambda c: 32 * c["n"], "bytes_formula": "4 rows of n doubles written"})
    rows = "curve" if curve_ks else ("bank" if bank else "own")
    launches.append(
        {"kernel": KERN["tile"](key, bank), "blocks": lambda c, s=slots: c["G"] * c["tiles"] * s, "threads": 256,
         "skip": SKIP_ROWS[rows] + SKIP_RAGGED + SKIP_TILE_EDGE + (SKIP_TILE_CURVE if curve_ks else SKIP_TILE_SMO)
                 + (SKIP_BANK_TILE if bank else []) + form,
         "count": lambda c, k=batches: k,
         "note": ("x %d slots x %d batches" % (slots, batches) if curve_ks
                  else "rows from the bank" if bank else "its own rows"),
         "bytes": (lambda c, s=slots: s * (c["N"] * c["E"] + c["G"] * c["tiles"] * 16)) if curve_ks
         else (lambda c, b=bank: c["N"] * (c["E"] + 8) + c["G"] * c["tiles"] * 16 + (8 * c["n"] if b else 0)),
         "bytes_formula": "E key read (v, v+1: one compulsory read)" + ("" if curve_ks else " + 8 B tile-local output written")
                          + "; 16 B per tile (TileAgg)"
                          + ("; the bank's row P, n x 8 B (once: L2 for the other groups)" if bank else "")})
    if bank:  # the tiles of groups with excluded rewards (none here): every block leaves at once
        launches.append(
            {"kernel": KERN["tile"](key, False), "blocks": lambda c: c["G"] * c["tiles"], "threads": 256,
             "skip": ["tile_work"] + SKIP_RAGGED + SKIP_BANK_TILE,
             "note": "the groups with excluded rewards (none)",
             "bytes": lambda c: 0, "bytes_formula": "- (per-group words: L2)"})
    # transform.cu: a uniform transform of <= 512 tiles per group (kLargeFoldTiles) folds the
    # carries into the scatter (no carry launch).
    fold = not curve_ks and T <= 512
    if not fold:
      launches.append(
        {"kernel": KERN["carry"](key), "blocks": lambda c, s=slots: c["G"] * s, "threads": 256,
         "skip": (SKIP_CARRY_CURVE if curve_ks else SKIP_CARRY_SMO) + (SKIP_BANK_OBJECTIVE if bank else []),
         "count": lambda c, k=batches: k,
         "bytes": (lambda c, s=slots: s * c["G"] * c["tiles"] * 16) if curve_ks
         else (lambda c: c["G"] * c["tiles"] * 40),
         "bytes_formula": "16 B per tile (rho's sums read)" if curve_ks
                          else "40 B per tile (pre, suf read; pre, lin written)"})
    if curve_ks:
        copy = N * E + G * curve_ks * E
        name = "rho curve, large, %d ks" % curve_ks
    else:
        launches += [
            {"kernel": KERN["scatter"](key), "blocks": tiles, "threads": 256,
             "skip": SKIP_RAGGED + (SKIP_FOLD_SMO if fold else SKIP_SCATTER_FOLD)
                     + (SKIP_BANK_OBJECTIVE if bank else []),
             "note": "(carries folded in)" if fold else "",
             "bytes": (lambda c: c["N"] * (2 * c["E"] + 8) + c["G"] * c["tiles"] * 16) if fold
             else (lambda c: c["N"] * (2 * c["E"] + 8)),
             "bytes_formula": "E reward read + 8 B tile-local output gathered + E written "
                              "(+ ceil(log2 n) search probes per reward, L2)"
                              + ("; the tile totals, 16 B per tile (read by every block of the group: "
                                 "%d re-reads from L2)" % T if fold
                                 else "; the tile's lin (L2)")},
        ]
        copy = 2 * N * E
        name = "large (%s)" % ("onesweep sort" if G == 1 else "run sort + %d merge passes" % merge_passes(n))
        if terms > 1:
            name += ", harmonic(%d)" % terms
        if not bank and G >= BANK_MIN_GROUPS:
            name += ", no bank"
    return {"name": name, "path": "large", "dtype": "float32" if E == 4 else "float64", "n": n,
            "G": G, "N": N, "elem_bytes": E, "copy_bytes": copy, "ctx": ctx, "launches": launches}


def group_by_id_class(N=1 << 24, run=16):
    """pkpo_group_by_id of N int64 ids in runs (groups) of `run` samples, ids scattered."""
    R = N // run
    grid = lambda c: min(math.ceil((c["N"] + 1) / 256), 65535)
    ctx = {"n": run, "G": R, "N": N, "E": 8, "tiles": 0}
    ctx["per_thread"] = N / (min(math.ceil((N + 1) / 256), 65535) * 256)
    ew = lambda name, f, formula, **kw: dict({"kernel": r"gbi_%s_kernel\(" % name, "blocks": grid,
                                              "threads": 256, "bytes": f, "bytes_formula": formula}, **kw)
    sort_passes = 64 // ONESWEEP_BITS

    def sort_pairs(note, passes=sort_passes, key="long"):
        return [
            {"kernel": KERN["os_hist"](key), "blocks": lambda c: 132 * 2, "threads": 128,
             "instructions": False, "bytes": lambda c: 8 * c["N"], "bytes_formula": "8 B key read",
             "note": note},
            {"kernel": KERN["os_sum"](key), "blocks": lambda c, q=passes: q, "threads": 256,
             "instructions": False, "bytes": lambda c: 0, "bytes_formula": "-"},
            {"kernel": KERN["onesweep"](key), "blocks": lambda c: math.ceil(c["N"] / (384 * 17)),
             "threads": 384, "instructions": False, "count": lambda c, q=passes: q,
             "note": "x %d passes" % passes,
             "bytes": lambda c: 32 * c["N"], "bytes_formula": "per pass: 16 B (key, value) read + 16 B written"},
        ]
    # ids 0..R-1 scattered: the range (read back), keys id - min on bit_width(R - 1) bits
    id_passes = math.ceil(max(1, (R - 1).bit_length()) / ONESWEEP_BITS)
    launches = [memset("cudaMemsetAsync(range)", lambda c: 16, "16 B"),
                ew("range", lambda c: 8 * c["N"], "8 B read"),
                ew("keys", lambda c: 16 * c["N"], "8 B read + 8 B written"),
                ew("iota", lambda c: 8 * c["N"], "8 B written")]
    launches += sort_pairs("(id - min, position)", id_passes, "unsigned long long")
    launches += [
        ew("heads", lambda c: 16 * c["N"], "8 B read + 8 B written"),
        {"kernel": KERN["scan_init"], "blocks": lambda c: 1, "threads": 128, "instructions": False,
         "bytes": lambda c: 0, "bytes_formula": "-"},
        {"kernel": KERN["scan_c"], "blocks": lambda c: math.ceil(c["N"] / 2048), "threads": 128,
         "instructions": False, "bytes": lambda c: 16 * c["N"], "bytes_formula": "8 B read + 8 B written (InclusiveSum)"},
        ew("fill", lambda c: 8 * c["N"], "8 B written"),
        ew("runs", lambda c: 8 * c["N"] + 32 * c["G"], "8 B read; 32 B per run"),
        ew("iota", lambda c: 8 * c["N"], "8 B written"),
    ]
    # first positions in [0, N]: bit_width(N) bits (group_by_id.cu), ceil(bits / 8) onesweep passes
    launches += sort_pairs("(first position, run)", math.ceil(N.bit_length() / ONESWEEP_BITS))
    launches += [
        memset("cudaMemsetAsync(counts)", lambda c: 16, "16 B"),
        ew("sizes", lambda c: 8 * c["N"] + 32 * c["G"], "8 B written; 32 B per run"),
        {"kernel": KERN["scan_init"], "blocks": lambda c: 1, "threads": 128, "instructions": False,
         "bytes": lambda c: 0, "bytes_formula": "-"},
        {"kernel": KERN["scan_e"], "blocks": lambda c: math.ceil(c["N"] / 2048), "threads": 128,
         "instructions": False, "bytes": lambda c: 16 * c["N"], "bytes_formula": "8 B read + 8 B written (ExclusiveSum)"},
        ew("scatter", lambda c: 24 * c["N"] + 32 * c["G"], "16 B read + 8 B written; 32 B per run"),
    ]
    return {"name": "group_by_id (runs of %d)" % run, "path": "group_by_id", "dtype": "int64",
            "n": run, "G": R, "N": N, "elem_bytes": 8, "copy_bytes": 16 * N + 8 * (R + 1), "ctx": ctx,
            "launches": launches,
            "note": "Copy roofline here: 8 B id read + 8 B index written per sample, 8 B per offset."}


def all_size_classes():
    out = []
    for E in (4, 8):
        for n in (4, 8, 16, 32, 64, 128):
            out.append(team_class(n, E))
        for n in (24, 48):  # not a power of two: the per-register bounds of n < W*V
            out.append(team_class(n, E))
        for n in (256, 512, 1024, 2048, 4096):
            out.append(team_class(n, E))
        for n in (8192, 65536, 1 << 20):
            out.append(large_class(n, E))
            # a mixture of 16 terms (harmonic(16)): the same tile pass on the row bank; the bank
            # builds the 16 terms' rows once per call
            out.append(large_class(n, E, terms=16))
        out.append(large_class(N_DEFAULT, E))
        out.append(large_class(N_DEFAULT, E, terms=16))
    # a mixture of 16 terms (harmonic(16)) beside one k on the team kernel: a row sums the 16 terms'
    # weights (ks 1..16 below n: the k = 1 term takes l2o's formula, the others sloo_minus_one's)
    for n in (32, 256):
        out.append(team_class(n, 4, ks=list(range(1, 17))))
    # without the row bank: what every tile pays for its own rows (the rows of a ragged batch, of
    # groups with excluded rewards, and of uniform batches of fewer than 16 groups)
    out.append(large_class(65536, 4, bank=False))
    out.append(large_class(65536, 4, terms=16, bank=False))
    out.append(team_class(16, 4, curve_ks=16))
    out.append(team_class(256, 4, curve_ks=64))
    out.append(large_class(65536, 4, curve_ks=8))
    out.append(group_by_id_class())
    return out


def selected_paths():
    import os
    v = os.environ.get("PKPO_COST_MODEL_PATHS", "")
    return set(p.strip() for p in v.split(",") if p.strip()) or None


def rule_paths(rule):
    p = rule.get("path", "team")
    return set(p) if isinstance(p, (list, tuple)) else {p}


def size_classes():
    paths = selected_paths()
    return [sc for sc in all_size_classes() if paths is None or sc["path"] in paths]


if selected_paths() is not None:
    LOOP_RULES = [r for r in LOOP_RULES if rule_paths(r) & selected_paths()]
