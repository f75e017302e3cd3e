/*
 * pkpo.h -- Pass@k Policy Optimization reward transforms, CPU and CUDA.
 *
 * The only public header of pkpo. C99, usable from C and C++.
 *
 * pkpo turns the rewards of the n samples drawn for each prompt (a "group") into transformed rewards
 * whose policy gradient is an unbiased, low-variance estimate of the gradient of pass@k (binary
 * rewards) or maxg@k (continuous rewards), for any k <= n. The estimators are defined exactly in
 * docs/math.md (Walder & Karkhanis, "Pass@K Policy Optimization", arXiv 2505.15201).
 *
 * Conventions
 * - Every fallible call returns a pkpo_status. The library never prints and never exits.
 * - A handle belongs to one backend (CPU or CUDA). Every array passed with a handle lives in that
 *   backend's memory space: host memory for PKPO_BACKEND_CPU, device memory for PKPO_BACKEND_CUDA
 *   (unless a parameter says "host" explicitly).
 * - A handle may be used by one host thread at a time. Different handles are independent.
 * - CUDA: the calls of one handle share its workspace, so they must be ordered. Outside stream
 *   capture the library does it: each call waits (cudaStreamWaitEvent) for the handle's previous
 *   call, so one handle may serve several streams in turn. Calls being captured into a graph are not
 *   ordered that way: capture one handle's calls on one stream, or order the streams yourself. Use
 *   one handle per concurrently running stream for overlap.
 * - Launching calls take the stream last. On the CUDA backend they return once work is queued on
 *   that stream; on the CPU backend the stream is ignored (pass NULL) and the call is synchronous.
 */
#ifndef PKPO_H
#define PKPO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------- */
/* Version                                                                                        */
/* ---------------------------------------------------------------------------------------------- */

#define PKPO_VERSION_MAJOR 0
#define PKPO_VERSION_MINOR 2
#define PKPO_VERSION_PATCH 0
#define PKPO_VERSION_NUMBER \
  (PKPO_VERSION_MAJOR * 10000 + PKPO_VERSION_MINOR * 100 + PKPO_VERSION_PATCH)

/* The version of the linked library, as PKPO_VERSION_NUMBER, and as "MAJOR.MINOR.PATCH". */
unsigned pkpo_version(void);
const char* pkpo_version_string(void);

/* ---------------------------------------------------------------------------------------------- */
/* Status codes (values are stable; new codes are only ever appended)                             */
/* ---------------------------------------------------------------------------------------------- */

#define PKPO_STATUS_LIST(X)                                                                        \
  X(PKPO_SUCCESS, 0, "success")                                                                    \
  X(PKPO_ERROR_NULL_POINTER, 1, "a required pointer argument is NULL")                             \
  X(PKPO_ERROR_INVALID_ARGUMENT, 2, "invalid argument")                                            \
  X(PKPO_ERROR_INVALID_K, 3, "k must be >= 1")                                                     \
  X(PKPO_ERROR_K_EXCEEDS_N, 4, "k exceeds the group size under the strict k policy")               \
  X(PKPO_ERROR_NON_FINITE, 5, "non-finite reward under the error policy")                          \
  X(PKPO_ERROR_INVALID_LAYOUT, 6,                                                                  \
    "invalid group layout (offsets negative, decreasing or not ending at num_samples, or a "      \
    "bad index permutation)")                                                                      \
  X(PKPO_ERROR_SIZE_OVERFLOW, 7, "sizes overflow 64-bit arithmetic")                               \
  X(PKPO_ERROR_OUT_OF_MEMORY, 8, "out of memory")                                                  \
  X(PKPO_ERROR_UNSUPPORTED, 9, "not supported by this build or backend")                           \
  X(PKPO_ERROR_NO_DEVICE, 10, "no usable CUDA device")                                             \
  X(PKPO_ERROR_CUDA, 11, "CUDA runtime error")                                                     \
  X(PKPO_ERROR_WORKSPACE_TOO_SMALL, 12,                                                            \
    "workspace too small and it cannot grow now (stream capture or caller-owned workspace)")      \
  X(PKPO_ERROR_INTERNAL, 13, "internal error")

typedef enum pkpo_status {
#define PKPO__STATUS_ENUM(name, value, text) name = value,
  PKPO_STATUS_LIST(PKPO__STATUS_ENUM)
#undef PKPO__STATUS_ENUM
} pkpo_status;

/* A static English description of a status. Never NULL (unknown values give "unknown status"). */
const char* pkpo_status_string(pkpo_status status);

/* ---------------------------------------------------------------------------------------------- */
/* Enumerations                                                                                   */
/* ---------------------------------------------------------------------------------------------- */

typedef enum pkpo_backend {
  PKPO_BACKEND_CPU = 0,  /* plain C, threads across groups; always available */
  PKPO_BACKEND_CUDA = 1  /* device buffers and streams; needs a CUDA build and a GPU */
} pkpo_backend;

/* Element type of rewards, transformed rewards and rho. Computation is always float64 inside. */
typedef enum pkpo_dtype { PKPO_FLOAT32 = 0, PKPO_FLOAT64 = 1 } pkpo_dtype;

/* The transforms of docs/math.md §2. */
typedef enum pkpo_estimator {
  PKPO_RHO = 0,            /* no per-sample output; only the per-group estimate rho (out unused) */
  PKPO_S = 1,              /* unbiased gradient weights, no baseline (eq. 19) */
  PKPO_SLOO = 2,           /* leave-one-out baseline (eq. 29); k = n returns s */
  PKPO_SLOO_MINUS_ONE = 3, /* the paper's recommended transform (eq. 33); k = 1 uses l2o's value */
  PKPO_L2O = 4             /* leave-two-out, exactly centred; k = n falls back to sloo_minus_one */
} pkpo_estimator;

/* Which statistic of k samples the objective is about (docs/math.md §5). */
typedef enum pkpo_statistic {
  PKPO_STATISTIC_MAX = 0, /* default: pass@k for binary rewards, maxg@k (the expected best of k) */
  PKPO_STATISTIC_MIN = 1  /* pass^k for binary rewards (all k attempts succeed), the expected worst
                             of k for continuous ones; defined as T_min(g) = -T_max(-g) for every
                             estimator and boundary rule, output by output (zeros become -0.0) */
} pkpo_statistic;

/* What to do with NaN / +-Inf rewards (docs/math.md §3). */
typedef enum pkpo_nonfinite_policy {
  PKPO_NONFINITE_EXCLUDE = 0,   /* default: the sample leaves its group and gets output 0 */
  PKPO_NONFINITE_PROPAGATE = 1, /* every output of the group (and its rho) becomes NaN */
  PKPO_NONFINITE_ERROR = 2      /* the call fails with PKPO_ERROR_NON_FINITE */
} pkpo_nonfinite_policy;

/* What to do with a group that has fewer (finite) samples than k (docs/math.md §3). */
typedef enum pkpo_k_policy {
  PKPO_K_CLAMP = 0, /* default: use k = n for that group and flag it PKPO_FLAG_K_CLAMPED */
  PKPO_K_STRICT = 1 /* the call fails with PKPO_ERROR_K_EXCEEDS_N */
} pkpo_k_policy;

/* Per-group flags (bit set), written when the caller passes a flags array. */
enum {
  PKPO_FLAG_SINGLETON = 1u << 0, /* one (finite) sample, any estimator: rho = s = the reward;
                                    sloo, sloo_minus_one and l2o output 0 */
  PKPO_FLAG_K_CLAMPED = 1u << 1, /* k > n for this group; computed with k = n */
  PKPO_FLAG_NONFINITE = 1u << 2, /* the group held NaN/Inf rewards (excluded or propagated) */
  PKPO_FLAG_FALLBACK = 1u << 3,  /* l2o at k = n: computed as sloo_minus_one */
  PKPO_FLAG_EMPTY = 1u << 4,     /* no (finite) samples: nothing to estimate, rho written as 0 */
  PKPO_FLAG_INVALID = 1u << 5    /* CUDA only: the group's k, offsets or index entries were invalid
                                    on the device; its outputs were left untouched, rho NaN */
};

/* ---------------------------------------------------------------------------------------------- */
/* Stream type                                                                                    */
/* ---------------------------------------------------------------------------------------------- */

/* Identical to cudaStream_t (which is `struct CUstream_st*`), so a cudaStream_t passes without a
 * cast while this header needs no CUDA header. NULL is the legacy default stream. */
typedef struct CUstream_st* pkpo_stream;

/* ---------------------------------------------------------------------------------------------- */
/* Handle                                                                                         */
/* ---------------------------------------------------------------------------------------------- */

typedef struct pkpo_handle_s* pkpo_handle;

/* Options for pkpo_create. Always start from PKPO_HANDLE_OPTIONS_INIT: struct_size lets the struct
 * grow in later versions without breaking callers compiled against this one (the rule of every
 * struct_size here: a struct of this or an earlier version of the header is accepted, the fields past
 * its end taking their defaults; a larger or unknown size is PKPO_ERROR_INVALID_ARGUMENT). */
typedef struct pkpo_handle_options {
  size_t struct_size;   /* sizeof(pkpo_handle_options) */
  pkpo_backend backend; /* default PKPO_BACKEND_CPU */
  int num_threads;      /* CPU: worker threads across groups (OpenMP). 0 (default) = chosen per
                           call: at most omp_get_max_threads() (so OMP_NUM_THREADS and
                           omp_set_num_threads are respected) and at most one thread per 65536
                           rewards, so a trainer-sized batch runs on the calling thread and never
                           waits for cores that the trainer's own threads occupy. N > 0 = N threads
                           (at most one per group). Results are bitwise identical for every
                           thread count. The workspace size counts the threads a call would use. */
  int cuda_device;      /* CUDA: device ordinal; -1 = the calling thread's current device */
} pkpo_handle_options;

#define PKPO_HANDLE_OPTIONS_INIT {sizeof(pkpo_handle_options), PKPO_BACKEND_CPU, 0, -1}

/* 1 if this build and machine can create a handle for `backend` (CUDA: built with CUDA and at least
 * one device is visible), else 0. */
int pkpo_backend_available(pkpo_backend backend);

/* Creates a handle. `options` may be NULL (all defaults). Statuses: NULL_POINTER (handle),
 * INVALID_ARGUMENT (bad struct_size or enum), UNSUPPORTED (CUDA backend not built), NO_DEVICE,
 * CUDA, OUT_OF_MEMORY. On failure *handle is set to NULL. */
pkpo_status pkpo_create(pkpo_handle* handle, const pkpo_handle_options* options);

/* Releases the handle and every buffer it owns. NULL is a no-op. The CUDA backend first waits for
 * the handle's queued work (an event recorded after each call; not a device-wide synchronisation),
 * so that none still uses the handle's workspace. */
void pkpo_destroy(pkpo_handle handle);

/* The message of the last failing call on this handle (more specific than pkpo_status_string: it
 * names the argument, group or sample). "" if no call failed yet. Never NULL. A NULL handle gives
 * the message of this thread's last pkpo_create: why it failed (e.g. which device has no code in
 * this build), or "" if it succeeded. */
const char* pkpo_last_error(pkpo_handle handle);

/* The backend of a handle. */
pkpo_status pkpo_get_backend(pkpo_handle handle, pkpo_backend* backend);

/* ---------------------------------------------------------------------------------------------- */
/* Problem description                                                                            */
/* ---------------------------------------------------------------------------------------------- */

/* Describes a batch: how rewards are grouped, which k, which estimator, which policies.
 * Always start from PKPO_DESC_INIT and set the fields you need.
 *
 * Layouts (rewards and outputs are flat arrays of num_samples elements):
 * - uniform: offsets == NULL; group g holds samples [g*group_size, (g+1)*group_size).
 *   num_samples must be 0 (then it is num_groups*group_size) or equal to it.
 * - ragged CSR: offsets != NULL, num_groups+1 non-decreasing int64 entries, offsets[0] == 0,
 *   offsets[num_groups] == num_samples; group g holds [offsets[g], offsets[g+1]). Empty groups are
 *   allowed and produce nothing (flag PKPO_FLAG_EMPTY).
 * - either layout may add an index permutation (index != NULL, num_samples entries, a permutation
 *   of 0..num_samples-1): position j of the grouped layout above is sample index[j] of rewards and
 *   of out. This is how arbitrarily ordered group ids (see pkpo_group_by_id) are transformed with
 *   results in the caller's order, without copies.
 *
 * k: one value for every group (k_per_group == NULL), or per group (num_groups int64 entries, in
 * the handle's memory space, so a trainer can anneal k per prompt, and a CUDA graph can be replayed
 * with new values).
 *
 * Mixtures over k (num_k_terms > 0; docs/math.md §5): the objective sum_j k_weights[j] * J_{k_terms[j]}
 * replaces the single k (desc->k is then ignored). Every group's output is exactly
 * sum_j w_j T_{k_j}(g), each term under the boundary rules of its own k (a term with k_j above the
 * group's size follows k_policy, as a single k would), and its rho sum_j w_j rho_{k_j}; a group is
 * computed in one pass with combined weights. k_terms (each >= 1) and k_weights (finite, any sign)
 * hold num_k_terms entries in the handle's memory space, so a captured CUDA graph can be replayed
 * with new weights. A mixture does not combine with k_per_group (PKPO_ERROR_INVALID_ARGUMENT).
 * Invalid terms: PKPO_ERROR_INVALID_K (k < 1) or PKPO_ERROR_INVALID_ARGUMENT (a non-finite weight,
 * or weights so large that sum_j |w_j| times the largest group size overflows a double), naming the
 * term.
 *
 * Growth: struct_size is the size of the struct the caller was compiled with. A smaller struct of an
 * earlier version of this header (PKPO_DESC_SIZE_V1: up to k_policy) is accepted, and the fields past
 * its end take their defaults (one k, the max statistic); any other size is
 * PKPO_ERROR_INVALID_ARGUMENT. */
typedef struct pkpo_desc {
  size_t struct_size;             /* sizeof(pkpo_desc) */
  pkpo_estimator estimator;       /* default PKPO_SLOO_MINUS_ONE */
  pkpo_dtype dtype;               /* rewards, out and rho; default PKPO_FLOAT32 */
  int64_t num_groups;             /* G >= 0 */
  int64_t group_size;             /* uniform layout: n >= 1 (ignored when offsets != NULL) */
  int64_t num_samples;            /* N; see the layouts above */
  const int64_t* offsets;         /* ragged layout, or NULL */
  const int64_t* index;           /* optional gather/scatter permutation, or NULL */
  int64_t max_group_size;         /* ragged layout: an upper bound on the largest group, or 0 =
                                     unknown. The CUDA backend needs it to size its workspace and
                                     choose kernels without reading offsets back; 0 there costs a
                                     device-to-host read (synchronising, not capturable). The CPU
                                     backend checks it when given. */
  int64_t k;                      /* k >= 1 for every group when k_per_group == NULL; default 1 */
  const int64_t* k_per_group;     /* or per-group k, num_groups entries, each >= 1 */
  pkpo_nonfinite_policy nonfinite; /* default PKPO_NONFINITE_EXCLUDE */
  pkpo_k_policy k_policy;          /* default PKPO_K_CLAMP */
  /* ---- since 0.2.0 (PKPO_DESC_SIZE_V1 ends above) ---- */
  pkpo_statistic statistic;        /* default PKPO_STATISTIC_MAX */
  int64_t num_k_terms;             /* 0 (default): one k (k or k_per_group); > 0: a mixture */
  const int64_t* k_terms;          /* the mixture's ks, num_k_terms entries, each >= 1 */
  const double* k_weights;         /* the mixture's weights, num_k_terms finite entries */
} pkpo_desc;

/* The size of a pkpo_desc of version 0.1 (fields up to k_policy). */
#define PKPO_DESC_SIZE_V1 (offsetof(pkpo_desc, statistic))

#define PKPO_DESC_INIT                                                                             \
  {sizeof(pkpo_desc), PKPO_SLOO_MINUS_ONE, PKPO_FLOAT32, 0, 0, 0, NULL, NULL, 0, 1, NULL,        \
   PKPO_NONFINITE_EXCLUDE, PKPO_K_CLAMP, PKPO_STATISTIC_MAX, 0, NULL, NULL}

/* ---------------------------------------------------------------------------------------------- */
/* Workspace                                                                                      */
/* ---------------------------------------------------------------------------------------------- */

/* Bytes of scratch the handle needs for transforms described by `desc` (any estimator; the same
 * for pkpo_rho_curve). The CPU backend counts every worker thread's scratch. */
pkpo_status pkpo_workspace_size(pkpo_handle handle, const pkpo_desc* desc, size_t* bytes);

/* Grows the handle-owned workspace so that transforms described by `desc` (or smaller) never
 * allocate. Call it once before a training loop or before capturing a CUDA graph. Otherwise the
 * first call of a new size allocates (on CUDA: cudaMalloc, which synchronises the device; under
 * stream capture that is impossible and the call returns PKPO_ERROR_WORKSPACE_TOO_SMALL). */
pkpo_status pkpo_reserve(pkpo_handle handle, const pkpo_desc* desc);

/* Makes the handle use caller-owned scratch (e.g. from a framework's caching allocator) of `bytes`
 * bytes at `workspace` (handle's memory space, 256-byte aligned) instead of its own; the handle
 * then never allocates and calls that need more return PKPO_ERROR_WORKSPACE_TOO_SMALL.
 * workspace == NULL returns to handle-owned scratch. The memory must stay valid, and must not be
 * used by anything else, until the work queued with it is complete (and, if a call using it was
 * captured into a CUDA graph, for as long as that graph may be launched).
 *
 * CUDA graphs: once a call of this handle has been captured, a handle-owned workspace is never
 * freed before pkpo_destroy: growing it (a larger call or pkpo_reserve, pkpo_set_workspace)
 * allocates a new buffer and keeps the old one for the graphs that point to it. A graph must not
 * be launched after pkpo_destroy of the handle it was captured with. */
pkpo_status pkpo_set_workspace(pkpo_handle handle, void* workspace, size_t bytes);

/* ---------------------------------------------------------------------------------------------- */
/* Transforms                                                                                     */
/* ---------------------------------------------------------------------------------------------- */

/* Transforms the rewards of every group of `desc` with desc->estimator.
 *
 * rewards  num_samples elements of desc->dtype.
 * out      num_samples elements of desc->dtype: the transformed rewards, in the same positions as
 *          the rewards (input order). May be NULL only for PKPO_RHO. May equal `rewards` exactly
 *          (in place); any other overlap is undefined. Excluded (non-finite) samples get 0.
 * rho      optional (NULL = not written): num_groups elements of desc->dtype, the pass@k / maxg@k
 *          estimate of each group at its (clamped) k.
 * flags    optional (NULL = not written): num_groups uint32 bit sets of PKPO_FLAG_*.
 * stream   CUDA: the stream the work is queued on. CPU: ignored.
 *
 * Every group is computed independently: one group's values (NaN, Inf, k > n) never change another
 * group's outputs. Results are deterministic: the same inputs give bitwise-identical outputs on
 * every call and, on the CPU, for every thread count.
 *
 * Errors. Argument errors (NULL_POINTER, INVALID_ARGUMENT, INVALID_K for desc->k, SIZE_OVERFLOW)
 * are found before anything is written. On the CPU backend, data errors (INVALID_LAYOUT, INVALID_K
 * in k_per_group, K_EXCEEDS_N under PKPO_K_STRICT, NON_FINITE under PKPO_NONFINITE_ERROR) are also
 * found before anything is written; pkpo_last_error names the group or sample.
 * On the CUDA backend, values in device memory are checked on the device: a group with invalid
 * offsets or k, an out-of-range index entry, an index entry naming a sample that another entry
 * also names (every group holding such an entry; the CPU rejects the call with
 * PKPO_ERROR_INVALID_LAYOUT), or more samples than desc->max_group_size is flagged
 * PKPO_FLAG_INVALID (rho NaN) and its outputs are not written, so nothing outside the group is
 * touched. PKPO_NONFINITE_ERROR, PKPO_K_STRICT and a ragged max_group_size of 0 need the host to
 * see a device-side result, so with them the CUDA call synchronises the stream (and may have
 * written the other groups' outputs); while the stream is being captured such a call returns
 * PKPO_ERROR_INVALID_ARGUMENT. Use the default policies, set max_group_size and read the flags to
 * stay asynchronous and capturable. Offsets are checked group by group on the device, which keeps
 * every access in bounds but cannot see two groups overlapping (offsets decreasing somewhere
 * between them): the outputs of overlapping groups are then unspecified. */
pkpo_status pkpo_transform(pkpo_handle handle, const pkpo_desc* desc, const void* rewards, void* out,
                           void* rho, uint32_t* flags, pkpo_stream stream);

/* Pass@k (maxg@k) curve: rho of every group at each of num_ks values of k, with one sort per group.
 * ks       host array of num_ks values, each >= 1 (desc->k, k_per_group, the mixture fields and
 *          estimator are ignored; desc->statistic applies: PKPO_STATISTIC_MIN gives pass^k curves).
 * rho      num_groups * num_ks elements of desc->dtype, row-major: rho[g * num_ks + j] is group g at
 *          ks[j]. Values of k above a group's size follow desc->k_policy (clamp: rho at k = n,
 *          which is the group's max up to rounding, and PKPO_FLAG_K_CLAMPED).
 * flags    optional, num_groups entries (the union over the ks).
 * Layout, policies, errors and stream semantics are those of pkpo_transform. */
pkpo_status pkpo_rho_curve(pkpo_handle handle, const pkpo_desc* desc, const void* rewards,
                           const int64_t* ks, int64_t num_ks, void* rho, uint32_t* flags,
                           pkpo_stream stream);

/* ---------------------------------------------------------------------------------------------- */
/* Grouping by id                                                                                 */
/* ---------------------------------------------------------------------------------------------- */

/* Turns a per-sample group id array in any order (e.g. verl's `index`, the prompt uid of each
 * response) into the ragged + index layout of pkpo_desc.
 *
 * ids          num_samples int64 group ids, any values, any order (handle's memory space).
 * offsets      out: num_samples+1 entries of capacity; the first *num_groups+1 are written.
 * index        out: num_samples entries; the permutation to put in pkpo_desc.index.
 * num_groups   out, host: the number of distinct ids.
 * max_group_size  out, host, may be NULL: the size of the largest group (for pkpo_desc).
 *
 * Groups are numbered in order of first appearance of their id; within a group, samples keep their
 * input order. So group g of the result is the g-th distinct id met when reading ids in order.
 * This is a set-up call: on the CUDA backend it synchronises the stream twice (the host needs the
 * ids' range, to sort only the bits in which they differ, and the group count) and is not capturable; reuse its outputs while the ids stay the same. Its scratch (about
 * 80 bytes per sample) comes from the handle's workspace, grown as for a transform (a caller
 * workspace that is too small gives PKPO_ERROR_WORKSPACE_TOO_SMALL).
 *
 * CUDA ordering: the calls of one handle share its workspace, so each call's work is ordered
 * after the previous call's (an event), whatever the streams. */
pkpo_status pkpo_group_by_id(pkpo_handle handle, const int64_t* ids, int64_t num_samples,
                             int64_t* offsets, int64_t* index, int64_t* num_groups,
                             int64_t* max_group_size, pkpo_stream stream);

/* Bytes of handle workspace pkpo_group_by_id needs for num_samples ids (0 on the CPU backend, which
 * allocates its own). With a caller workspace of at least this size (pkpo_set_workspace), the call
 * allocates nothing, e.g. scratch from a framework's caching allocator. Statuses: NULL_POINTER,
 * INVALID_ARGUMENT (num_samples < 0), SIZE_OVERFLOW. */
pkpo_status pkpo_group_by_id_workspace_size(pkpo_handle handle, int64_t num_samples,
                                            size_t* bytes);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* PKPO_H */
