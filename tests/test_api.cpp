// test_api.cpp -- version calls, handle life cycle, pkpo_get_backend, the workspace API
// (pkpo_workspace_size, pkpo_reserve, pkpo_set_workspace with a caller buffer).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>

#include "test_util.hpp"

namespace {

using pt::Batch;
using pt::Handle;

TEST(Api, Version) {
  EXPECT_EQ(pkpo_version(), (unsigned)PKPO_VERSION_NUMBER);
  char want[32];
  std::snprintf(want, sizeof want, "%d.%d.%d", PKPO_VERSION_MAJOR, PKPO_VERSION_MINOR,
                PKPO_VERSION_PATCH);
  ASSERT_NE(pkpo_version_string(), nullptr);
  EXPECT_STREQ(pkpo_version_string(), want);
  EXPECT_EQ(PKPO_VERSION_NUMBER,
            PKPO_VERSION_MAJOR * 10000 + PKPO_VERSION_MINOR * 100 + PKPO_VERSION_PATCH);
}

TEST(Api, HandleLifeCycle) {
  pkpo_destroy(nullptr);  // no-op
  pkpo_handle h = nullptr;
  ASSERT_EQ(pkpo_create(&h, nullptr), PKPO_SUCCESS);  // NULL options: defaults (CPU)
  ASSERT_NE(h, nullptr);
  pkpo_backend be = PKPO_BACKEND_CUDA;
  EXPECT_EQ(pkpo_get_backend(h, &be), PKPO_SUCCESS);
  EXPECT_EQ(be, PKPO_BACKEND_CPU);
  EXPECT_STREQ(pkpo_last_error(h), "");
  pkpo_destroy(h);

  pkpo_handle_options o = PKPO_HANDLE_OPTIONS_INIT;
  EXPECT_EQ(o.struct_size, sizeof(pkpo_handle_options));
  EXPECT_EQ(o.backend, PKPO_BACKEND_CPU);
  EXPECT_EQ(o.num_threads, 0);
  EXPECT_EQ(o.cuda_device, -1);
  for (int t : {0, 1, 2, 64}) {
    o.num_threads = t;
    ASSERT_EQ(pkpo_create(&h, &o), PKPO_SUCCESS) << t;
    EXPECT_EQ(pkpo_get_backend(h, &be), PKPO_SUCCESS);
    EXPECT_EQ(be, PKPO_BACKEND_CPU);
    pkpo_destroy(h);
  }
  // Many handles at once are independent.
  Handle a(1), b(2);
  EXPECT_NE(a.get(), b.get());
}

// num_threads = 0 leaves the count to the library: one thread per 65536 rewards at most, so a
// trainer-sized batch runs on the calling thread. Observable through the workspace size, which
// holds one scratch area per thread the call would use.
TEST(Api, DefaultThreadCountIsOneForSmallBatches) {
  auto ws = [](int threads, int64_t groups, int64_t n) {
    Handle h(threads);
    pkpo_desc d = PKPO_DESC_INIT;
    d.num_groups = groups;
    d.group_size = n;
    d.k = 4;
    size_t bytes = 0;
    EXPECT_EQ(pkpo_workspace_size(h, &d, &bytes), PKPO_SUCCESS);
    return bytes;
  };
  // 32768 groups of 4 (131072 rewards, at most 2 threads) down to a trainer-sized 2048 x 16.
  for (auto [groups, n] : {std::pair<int64_t, int64_t>{2048, 16}, {4096, 16}, {1024, 63},
                           {16, 4096}}) {
    SCOPED_TRACE("G " + std::to_string(groups) + " n " + std::to_string(n));
    EXPECT_EQ(ws(0, groups, n), ws(1, groups, n));
    EXPECT_LT(ws(1, groups, n), ws(2, groups, n));  // the measure sees a second thread
  }
  // Larger batches may use more threads, never more than one per 65536 rewards.
  EXPECT_LE(ws(0, 32768, 4), ws(2, 32768, 4));
  EXPECT_GE(ws(0, 32768, 4), ws(1, 32768, 4));
}

TEST(Api, DescDefaults) {
  const pkpo_desc d = PKPO_DESC_INIT;
  EXPECT_EQ(d.struct_size, sizeof(pkpo_desc));
  EXPECT_EQ(d.estimator, PKPO_SLOO_MINUS_ONE);
  EXPECT_EQ(d.dtype, PKPO_FLOAT32);
  EXPECT_EQ(d.k, 1);
  EXPECT_EQ(d.nonfinite, PKPO_NONFINITE_EXCLUDE);
  EXPECT_EQ(d.k_policy, PKPO_K_CLAMP);
  EXPECT_EQ(d.offsets, nullptr);
  EXPECT_EQ(d.index, nullptr);
  EXPECT_EQ(d.k_per_group, nullptr);
}

Batch workspace_batch(std::mt19937_64& rng, pkpo_estimator est) {
  Batch b;
  b.est = est;
  b.dtype = PKPO_FLOAT32;
  b.offsets = pt::offsets_from_sizes({3, 989, 0, 1, 257, 33});
  b.num_groups = 6;
  b.k = 4;
  b.rewards = pt::gen_group(pt::Kind::Ties, b.offsets.back(), rng);
  b.index = pt::random_permutation(b.offsets.back(), rng);
  return b;
}

TEST(Api, WorkspaceQueryReserveAndCallerBuffer) {
  std::mt19937_64 rng(41);
  for (int e = PKPO_RHO; e <= PKPO_L2O; ++e) {
    SCOPED_TRACE(std::string("seed 41 ") + oracle::est_name(e));
    const Batch b = workspace_batch(rng, (pkpo_estimator)e);
    const pkpo_desc d = b.desc();
    Handle ref(2);
    const pt::LibResult want = pt::run_lib(ref, b);
    ASSERT_EQ(want.status, PKPO_SUCCESS);
    ASSERT_TRUE(pt::matches(b, want, pt::expected_for(b, oracle::LARGE)));

    Handle h(2);
    size_t bytes = 0;
    ASSERT_EQ(pkpo_workspace_size(h, &d, &bytes), PKPO_SUCCESS);
    EXPECT_GT(bytes, 0u);
    // A larger problem of the same shape needs at least as much.
    Batch bigger = b;
    bigger.offsets = pt::offsets_from_sizes({3, 4000, 0, 1, 257, 33});
    bigger.rewards.resize(bigger.offsets.back(), 0.5);
    bigger.index = pt::random_permutation(bigger.offsets.back(), rng);
    const pkpo_desc dbig = bigger.desc();
    size_t bytes_big = 0;
    ASSERT_EQ(pkpo_workspace_size(h, &dbig, &bytes_big), PKPO_SUCCESS);
    EXPECT_GE(bytes_big, bytes);

    // reserve, then the call must succeed with the same results.
    ASSERT_EQ(pkpo_reserve(h, &d), PKPO_SUCCESS);
    const pt::LibResult r1 = pt::run_lib(h, b);
    ASSERT_EQ(r1.status, PKPO_SUCCESS);
    EXPECT_TRUE(pt::bitwise_equal(want.out, r1.out));
    EXPECT_TRUE(pt::bitwise_equal(want.rho, r1.rho));

    // A caller buffer of exactly the queried size (256-byte aligned), poisoned first.
    const size_t cap = ((bytes + 255) / 256) * 256;
    void* buf = std::aligned_alloc(256, cap);
    ASSERT_NE(buf, nullptr);
    std::memset(buf, 0xA5, cap);
    ASSERT_EQ(pkpo_set_workspace(h, buf, bytes), PKPO_SUCCESS);
    const pt::LibResult r2 = pt::run_lib(h, b);
    ASSERT_EQ(r2.status, PKPO_SUCCESS) << r2.last_error;
    EXPECT_TRUE(pt::bitwise_equal(want.out, r2.out));
    EXPECT_TRUE(pt::bitwise_equal(want.rho, r2.rho));
    EXPECT_EQ(want.flags, r2.flags);
    EXPECT_EQ(pkpo_reserve(h, &d), PKPO_SUCCESS) << "reserve within the caller buffer is fine";
    // A smaller problem fits as well.
    Batch small = b;
    small.offsets = pt::offsets_from_sizes({3, 5});
    small.num_groups = 2;
    small.rewards.resize(8);
    small.index.clear();
    const pt::LibResult r3 = pt::run_lib(h, small);
    EXPECT_EQ(r3.status, PKPO_SUCCESS) << r3.last_error;
    // The larger one does not.
    const pt::LibResult r4 = pt::run_lib(h, bigger);
    EXPECT_EQ(r4.status, PKPO_ERROR_WORKSPACE_TOO_SMALL);
    EXPECT_TRUE(r4.untouched);
    // Give the handle its own scratch back; the larger one works again.
    ASSERT_EQ(pkpo_set_workspace(h, nullptr, 0), PKPO_SUCCESS);
    std::free(buf);
    EXPECT_EQ(pt::run_lib(h, bigger).status, PKPO_SUCCESS);
  }
}

TEST(Api, RepeatedCallsDeterministic) {
  std::mt19937_64 rng(42);
  Handle h;
  for (int e = PKPO_RHO; e <= PKPO_L2O; ++e) {
    const Batch b = workspace_batch(rng, (pkpo_estimator)e);
    const pt::LibResult a = pt::run_lib(h, b);
    const pt::LibResult c = pt::run_lib(h, b);
    EXPECT_TRUE(pt::bitwise_equal(a.out, c.out));
    EXPECT_TRUE(pt::bitwise_equal(a.rho, c.rho));
    // Optional outputs: rho and flags may be NULL without changing the rest.
    const pt::LibResult d = pt::run_lib(h, b, false, false);
    EXPECT_EQ(d.status, PKPO_SUCCESS);
    EXPECT_TRUE(pt::bitwise_equal(a.out, d.out));
  }
}

}  // namespace
