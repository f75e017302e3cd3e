// test_status.cpp -- every status the CPU backend can produce, triggered on purpose; the status
// strings; pkpo_last_error after each failure; and that a failing transform writes nothing.
#include <gtest/gtest.h>

#include <string>

#include <cstdlib>
#include <cstring>
#include <limits>
#include <set>
#include <vector>

#include "test_util.hpp"

namespace {

using pt::Handle;

// A valid 2 x 3 float64 batch to break one field at a time.
struct Fixture {
  std::vector<double> rewards = {0.1, 0.7, 0.3, 0.9, 0.2, 0.4};
  std::vector<double> out = std::vector<double>(6, -42.0);
  std::vector<double> rho = std::vector<double>(2, -42.0);
  std::vector<uint32_t> flags = std::vector<uint32_t>(2, 0xabcdu);
  pkpo_desc d;
  Fixture() {
    d = PKPO_DESC_INIT;
    d.dtype = PKPO_FLOAT64;
    d.num_groups = 2;
    d.group_size = 3;
    d.k = 2;
  }
  pkpo_status run(pkpo_handle h) {
    return pkpo_transform(h, &d, rewards.data(), out.data(), rho.data(), flags.data(), nullptr);
  }
  bool untouched() const {
    for (double v : out)
      if (v != -42.0) return false;
    for (double v : rho)
      if (v != -42.0) return false;
    for (uint32_t f : flags)
      if (f != 0xabcdu) return false;
    return true;
  }
};

// Runs the fixture and checks status, message, and that nothing was written.
#define EXPECT_FAILS_CLEANLY(h, fx, status)                                           \
  do {                                                                                \
    const pkpo_status st_ = (fx).run(h);                                              \
    EXPECT_EQ(st_, status) << pkpo_status_string(st_) << " / " << pkpo_last_error(h); \
    EXPECT_STRNE(pkpo_last_error(h), "");                                             \
    EXPECT_TRUE((fx).untouched());                                                    \
  } while (0)

TEST(Status, StringsNeverNullAndDistinct) {
  std::set<std::string> seen;
  for (int s = 0; s <= PKPO_ERROR_INTERNAL; ++s) {
    const char* str = pkpo_status_string((pkpo_status)s);
    ASSERT_NE(str, nullptr);
    EXPECT_GT(std::strlen(str), 0u);
    seen.insert(str);
  }
  EXPECT_EQ(seen.size(), (size_t)PKPO_ERROR_INTERNAL + 1);
  for (int s : {-1, 14, 1000, std::numeric_limits<int>::max()}) {
    const char* str = pkpo_status_string((pkpo_status)s);
    ASSERT_NE(str, nullptr);
    EXPECT_STREQ(str, "unknown status");
  }
  EXPECT_STREQ(pkpo_status_string(PKPO_SUCCESS), "success");
  // Stable values (the header promises them).
  EXPECT_EQ(PKPO_ERROR_NULL_POINTER, 1);
  EXPECT_EQ(PKPO_ERROR_WORKSPACE_TOO_SMALL, 12);
  EXPECT_EQ(PKPO_ERROR_INTERNAL, 13);
}

TEST(Status, FailedCreateSaysWhyAndASuccessfulOneClearsIt) {
  pkpo_handle h = nullptr;
  pkpo_handle_options o = PKPO_HANDLE_OPTIONS_INIT;
  o.struct_size = sizeof o + 8;
  EXPECT_EQ(pkpo_create(&h, &o), PKPO_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(pkpo_last_error(nullptr)).find("struct_size"), std::string::npos);
  o = PKPO_HANDLE_OPTIONS_INIT;
  o.num_threads = -3;
  EXPECT_EQ(pkpo_create(&h, &o), PKPO_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(pkpo_last_error(nullptr)).find("num_threads"), std::string::npos);
  EXPECT_EQ(pkpo_create(nullptr, nullptr), PKPO_ERROR_NULL_POINTER);
  EXPECT_STRNE(pkpo_last_error(nullptr), "");
  ASSERT_EQ(pkpo_create(&h, nullptr), PKPO_SUCCESS);
  EXPECT_STREQ(pkpo_last_error(nullptr), "");
  pkpo_destroy(h);
}

TEST(Status, LastErrorEmptyInitiallyAndForNullHandle) {
  Handle h;
  ASSERT_EQ(h.status(), PKPO_SUCCESS);
  EXPECT_STREQ(pkpo_last_error(h), "");
  ASSERT_NE(pkpo_last_error(nullptr), nullptr);
  EXPECT_STREQ(pkpo_last_error(nullptr), "");
  Fixture fx;
  EXPECT_EQ(fx.run(h), PKPO_SUCCESS);
  EXPECT_FALSE(fx.untouched());
}

TEST(Status, NullPointer) {
  Handle h;
  EXPECT_EQ(pkpo_create(nullptr, nullptr), PKPO_ERROR_NULL_POINTER);
  {
    Fixture fx;
    EXPECT_EQ(fx.run(nullptr), PKPO_ERROR_NULL_POINTER);
    EXPECT_TRUE(fx.untouched());
  }
  {
    Fixture fx;
    EXPECT_EQ(pkpo_transform(h, nullptr, fx.rewards.data(), fx.out.data(), nullptr, nullptr,
                             nullptr),
              PKPO_ERROR_NULL_POINTER);
    EXPECT_STRNE(pkpo_last_error(h), "");
  }
  {
    Fixture fx;
    EXPECT_EQ(pkpo_transform(h, &fx.d, nullptr, fx.out.data(), fx.rho.data(), fx.flags.data(),
                             nullptr),
              PKPO_ERROR_NULL_POINTER);
    EXPECT_STRNE(pkpo_last_error(h), "");
    EXPECT_TRUE(fx.untouched());
  }
  for (int e = PKPO_S; e <= PKPO_L2O; ++e) {
    Fixture fx;
    fx.d.estimator = (pkpo_estimator)e;
    EXPECT_EQ(pkpo_transform(h, &fx.d, fx.rewards.data(), nullptr, fx.rho.data(), fx.flags.data(),
                             nullptr),
              PKPO_ERROR_NULL_POINTER)
        << "out may be NULL only for PKPO_RHO";
    EXPECT_TRUE(fx.untouched());
  }
  {
    Fixture fx;  // ... and for PKPO_RHO it may.
    fx.d.estimator = PKPO_RHO;
    EXPECT_EQ(pkpo_transform(h, &fx.d, fx.rewards.data(), nullptr, fx.rho.data(), nullptr,
                             nullptr),
              PKPO_SUCCESS);
  }
  {
    Fixture fx;
    size_t bytes = 0;
    EXPECT_EQ(pkpo_workspace_size(h, &fx.d, nullptr), PKPO_ERROR_NULL_POINTER);
    EXPECT_EQ(pkpo_workspace_size(h, nullptr, &bytes), PKPO_ERROR_NULL_POINTER);
    EXPECT_EQ(pkpo_workspace_size(nullptr, &fx.d, &bytes), PKPO_ERROR_NULL_POINTER);
    EXPECT_EQ(pkpo_reserve(h, nullptr), PKPO_ERROR_NULL_POINTER);
    EXPECT_EQ(pkpo_reserve(nullptr, &fx.d), PKPO_ERROR_NULL_POINTER);
    EXPECT_EQ(pkpo_set_workspace(nullptr, nullptr, 0), PKPO_ERROR_NULL_POINTER);
    pkpo_backend be;
    EXPECT_EQ(pkpo_get_backend(h, nullptr), PKPO_ERROR_NULL_POINTER);
    EXPECT_EQ(pkpo_get_backend(nullptr, &be), PKPO_ERROR_NULL_POINTER);
    const int64_t ks[] = {1, 2};
    EXPECT_EQ(pkpo_rho_curve(h, &fx.d, fx.rewards.data(), nullptr, 2, fx.out.data(), nullptr,
                             nullptr),
              PKPO_ERROR_NULL_POINTER);
    EXPECT_EQ(pkpo_rho_curve(h, &fx.d, fx.rewards.data(), ks, 2, nullptr, nullptr, nullptr),
              PKPO_ERROR_NULL_POINTER);
    EXPECT_EQ(pkpo_rho_curve(h, &fx.d, nullptr, ks, 2, fx.out.data(), nullptr, nullptr),
              PKPO_ERROR_NULL_POINTER);
    EXPECT_EQ(pkpo_rho_curve(nullptr, &fx.d, fx.rewards.data(), ks, 2, fx.out.data(), nullptr,
                             nullptr),
              PKPO_ERROR_NULL_POINTER);
    EXPECT_STRNE(pkpo_last_error(h), "");
  }
  {
    const int64_t ids[] = {3, 1, 3};
    int64_t off[4], idx[3], ng = -1, mx = -1;
    EXPECT_EQ(pkpo_group_by_id(h, nullptr, 3, off, idx, &ng, &mx, nullptr),
              PKPO_ERROR_NULL_POINTER);
    EXPECT_EQ(pkpo_group_by_id(h, ids, 3, nullptr, idx, &ng, &mx, nullptr),
              PKPO_ERROR_NULL_POINTER);
    EXPECT_EQ(pkpo_group_by_id(h, ids, 3, off, nullptr, &ng, &mx, nullptr),
              PKPO_ERROR_NULL_POINTER);
    EXPECT_EQ(pkpo_group_by_id(h, ids, 3, off, idx, nullptr, &mx, nullptr),
              PKPO_ERROR_NULL_POINTER);
    EXPECT_EQ(pkpo_group_by_id(nullptr, ids, 3, off, idx, &ng, &mx, nullptr),
              PKPO_ERROR_NULL_POINTER);
    EXPECT_STRNE(pkpo_last_error(h), "");
    // max_group_size may be NULL.
    EXPECT_EQ(pkpo_group_by_id(h, ids, 3, off, idx, &ng, nullptr, nullptr), PKPO_SUCCESS);
    EXPECT_EQ(ng, 2);
  }
}

TEST(Status, InvalidArgument) {
  Handle h;
  // Handle options.
  {
    pkpo_handle x = reinterpret_cast<pkpo_handle>(0x1);
    pkpo_handle_options o = PKPO_HANDLE_OPTIONS_INIT;
    o.struct_size = sizeof(o) - 1;
    EXPECT_EQ(pkpo_create(&x, &o), PKPO_ERROR_INVALID_ARGUMENT);
    EXPECT_EQ(x, nullptr) << "*handle is NULL on failure";
    o = PKPO_HANDLE_OPTIONS_INIT;
    o.struct_size = 0;
    EXPECT_EQ(pkpo_create(&x, &o), PKPO_ERROR_INVALID_ARGUMENT);
    o = PKPO_HANDLE_OPTIONS_INIT;
    o.backend = (pkpo_backend)7;
    EXPECT_EQ(pkpo_create(&x, &o), PKPO_ERROR_INVALID_ARGUMENT);
    o = PKPO_HANDLE_OPTIONS_INIT;
    o.num_threads = -1;
    EXPECT_EQ(pkpo_create(&x, &o), PKPO_ERROR_INVALID_ARGUMENT);
    EXPECT_EQ(x, nullptr);
  }
  // Desc fields, one at a time.
  const auto breakers = std::vector<std::pair<const char*, void (*)(pkpo_desc&)>>{
      {"struct_size 0", [](pkpo_desc& d) { d.struct_size = 0; }},
      {"struct_size +8", [](pkpo_desc& d) { d.struct_size = sizeof(pkpo_desc) + 8; }},
      {"estimator 5", [](pkpo_desc& d) { d.estimator = (pkpo_estimator)5; }},
      {"estimator -1", [](pkpo_desc& d) { d.estimator = (pkpo_estimator)-1; }},
      {"dtype 2", [](pkpo_desc& d) { d.dtype = (pkpo_dtype)2; }},
      {"nonfinite 3", [](pkpo_desc& d) { d.nonfinite = (pkpo_nonfinite_policy)3; }},
      {"k_policy 2", [](pkpo_desc& d) { d.k_policy = (pkpo_k_policy)2; }},
      {"num_groups -1", [](pkpo_desc& d) { d.num_groups = -1; }},
      {"group_size 0", [](pkpo_desc& d) { d.group_size = 0; }},
      {"group_size -3", [](pkpo_desc& d) { d.group_size = -3; }},
      {"num_samples mismatch", [](pkpo_desc& d) { d.num_samples = 5; }},
  };
  for (const auto& [what, breaker] : breakers) {
    SCOPED_TRACE(what);
    Fixture fx;
    breaker(fx.d);
    EXPECT_FAILS_CLEANLY(h, fx, PKPO_ERROR_INVALID_ARGUMENT);
    size_t bytes;
    EXPECT_EQ(pkpo_workspace_size(h, &fx.d, &bytes), PKPO_ERROR_INVALID_ARGUMENT);
  }
  // num_samples equal to num_groups*group_size is fine.
  {
    Fixture fx;
    fx.d.num_samples = 6;
    EXPECT_EQ(fx.run(h), PKPO_SUCCESS);
  }
  // max_group_size smaller than the largest ragged group.
  {
    Fixture fx;
    const int64_t off[] = {0, 2, 6};
    fx.d.offsets = off;
    fx.d.num_samples = 6;
    fx.d.max_group_size = 3;
    EXPECT_FAILS_CLEANLY(h, fx, PKPO_ERROR_INVALID_ARGUMENT);
    fx.d.max_group_size = -1;
    EXPECT_FAILS_CLEANLY(h, fx, PKPO_ERROR_INVALID_ARGUMENT);
    fx.d.max_group_size = 4;  // exact bound is fine, and so is a loose one
    EXPECT_EQ(fx.run(h), PKPO_SUCCESS);
  }
  // rho_curve: num_ks < 1.
  {
    Fixture fx;
    const int64_t ks[] = {1};
    EXPECT_EQ(pkpo_rho_curve(h, &fx.d, fx.rewards.data(), ks, 0, fx.rho.data(), nullptr, nullptr),
              PKPO_ERROR_INVALID_ARGUMENT);
    EXPECT_STRNE(pkpo_last_error(h), "");
  }
  // group_by_id: negative count.
  {
    int64_t off[1], ng;
    const int64_t ids[] = {1};
    int64_t idx[1];
    EXPECT_EQ(pkpo_group_by_id(h, ids, -1, off, idx, &ng, nullptr, nullptr),
              PKPO_ERROR_INVALID_ARGUMENT);
  }
  // set_workspace: misaligned caller buffer.
  {
    alignas(256) static unsigned char buf[1024];
    EXPECT_EQ(pkpo_set_workspace(h, buf + 8, 512), PKPO_ERROR_INVALID_ARGUMENT);
    EXPECT_STRNE(pkpo_last_error(h), "");
  }
}

TEST(Status, InvalidK) {
  Handle h;
  for (int64_t k : {(int64_t)0, (int64_t)-1, std::numeric_limits<int64_t>::min()}) {
    SCOPED_TRACE("k " + std::to_string(k));
    Fixture fx;
    fx.d.k = k;
    EXPECT_FAILS_CLEANLY(h, fx, PKPO_ERROR_INVALID_K);
  }
  {
    Fixture fx;  // in k_per_group (desc->k is ignored then)
    const int64_t kpg[] = {2, 0};
    fx.d.k_per_group = kpg;
    EXPECT_FAILS_CLEANLY(h, fx, PKPO_ERROR_INVALID_K);
    const int64_t kpg2[] = {-5, 1};
    fx.d.k_per_group = kpg2;
    EXPECT_FAILS_CLEANLY(h, fx, PKPO_ERROR_INVALID_K);
    const int64_t ok[] = {1, 3};
    fx.d.k_per_group = ok;
    fx.d.k = 0;  // ignored when k_per_group is given
    EXPECT_EQ(fx.run(h), PKPO_SUCCESS);
  }
  {
    Fixture fx;  // rho_curve ks
    const int64_t ks[] = {1, 0, 2};
    std::vector<double> curve(6, -42.0);
    EXPECT_EQ(pkpo_rho_curve(h, &fx.d, fx.rewards.data(), ks, 3, curve.data(), nullptr, nullptr),
              PKPO_ERROR_INVALID_K);
    EXPECT_STRNE(pkpo_last_error(h), "");
    for (double v : curve) EXPECT_EQ(v, -42.0);
  }
}

TEST(Status, KExceedsNAndNonFinite) {
  Handle h;
  {
    Fixture fx;
    fx.d.k_policy = PKPO_K_STRICT;
    fx.d.k = 4;
    EXPECT_FAILS_CLEANLY(h, fx, PKPO_ERROR_K_EXCEEDS_N);
  }
  {
    Fixture fx;
    fx.d.nonfinite = PKPO_NONFINITE_ERROR;
    fx.rewards[5] = std::numeric_limits<double>::quiet_NaN();
    EXPECT_FAILS_CLEANLY(h, fx, PKPO_ERROR_NON_FINITE);
  }
}

TEST(Status, InvalidLayout) {
  Handle h;
  struct Case {
    const char* what;
    std::vector<int64_t> offsets;
    std::vector<int64_t> index;
  };
  const std::vector<Case> cases = {
      {"offsets[0] != 0", {1, 3, 6}, {}},
      {"offsets negative", {0, -1, 6}, {}},
      {"offsets decreasing", {0, 4, 3, 6}, {}},
      {"offsets end short", {0, 3, 5}, {}},
      {"offsets end long", {0, 3, 7}, {}},
      {"index out of range", {0, 3, 6}, {0, 1, 2, 3, 4, 6}},
      {"index negative", {0, 3, 6}, {0, 1, 2, -1, 4, 5}},
      {"index duplicated", {0, 3, 6}, {0, 1, 2, 3, 4, 4}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Fixture fx;
    fx.d.offsets = c.offsets.data();
    fx.d.num_groups = (int64_t)c.offsets.size() - 1;
    fx.d.num_samples = 6;
    fx.d.index = c.index.empty() ? nullptr : c.index.data();
    EXPECT_FAILS_CLEANLY(h, fx, PKPO_ERROR_INVALID_LAYOUT);
    size_t bytes;
    if (c.index.empty()) {
      EXPECT_EQ(pkpo_workspace_size(h, &fx.d, &bytes), PKPO_ERROR_INVALID_LAYOUT);
    }
    // The same layout problems through pkpo_rho_curve.
    const int64_t ks[] = {1, 2};
    std::vector<double> curve((size_t)fx.d.num_groups * 2, -42.0);
    EXPECT_EQ(pkpo_rho_curve(h, &fx.d, fx.rewards.data(), ks, 2, curve.data(), nullptr, nullptr),
              PKPO_ERROR_INVALID_LAYOUT);
    for (double v : curve) EXPECT_EQ(v, -42.0);
  }
  {
    Fixture fx;  // index on the uniform layout
    const int64_t idx[] = {5, 4, 3, 2, 1, 5};
    fx.d.index = idx;
    EXPECT_FAILS_CLEANLY(h, fx, PKPO_ERROR_INVALID_LAYOUT);
  }
}

TEST(Status, SizeOverflow) {
  Handle h;
  struct C {
    int64_t g, n;
  };
  for (C c : {C{INT64_MAX, 2}, C{(int64_t)1 << 32, (int64_t)1 << 32}, C{3, INT64_MAX / 2},
              C{(int64_t)1 << 60, 1} /* samples fit, their bytes do not */}) {
    SCOPED_TRACE(std::to_string(c.g) + " x " + std::to_string(c.n));
    Fixture fx;
    fx.d.num_groups = c.g;
    fx.d.group_size = c.n;
    EXPECT_FAILS_CLEANLY(h, fx, PKPO_ERROR_SIZE_OVERFLOW);
    size_t bytes;
    EXPECT_EQ(pkpo_workspace_size(h, &fx.d, &bytes), PKPO_ERROR_SIZE_OVERFLOW);
    EXPECT_EQ(pkpo_reserve(h, &fx.d), PKPO_ERROR_SIZE_OVERFLOW);
  }
}

TEST(Status, OutOfMemory) {
  // A group of 2^40 samples needs terabytes of scratch: reserving it must fail cleanly. (Under
  // ASan, ctest sets allocator_may_return_null=1.)
  Handle h;
  pkpo_desc d = PKPO_DESC_INIT;
  d.num_groups = 1;
  d.group_size = (int64_t)1 << 40;
  d.dtype = PKPO_FLOAT64;
  const pkpo_status st = pkpo_reserve(h, &d);
  EXPECT_EQ(st, PKPO_ERROR_OUT_OF_MEMORY) << pkpo_status_string(st);
  EXPECT_STRNE(pkpo_last_error(h), "");
  // The handle still works afterwards.
  Fixture fx;
  EXPECT_EQ(fx.run(h), PKPO_SUCCESS);
}

TEST(Status, UnsupportedOrNoDevice) {
  pkpo_handle_options o = PKPO_HANDLE_OPTIONS_INIT;
  o.backend = PKPO_BACKEND_CUDA;
  pkpo_handle x = reinterpret_cast<pkpo_handle>(0x1);
  const pkpo_status st = pkpo_create(&x, &o);
  if (pkpo_backend_available(PKPO_BACKEND_CUDA)) {
    EXPECT_EQ(st, PKPO_SUCCESS);
    pkpo_destroy(x);
    GTEST_SKIP() << "a CUDA device is available; the CUDA suites cover it";
  }
#ifdef PKPO_TESTS_BUILT_WITH_CUDA
  EXPECT_EQ(st, PKPO_ERROR_NO_DEVICE) << pkpo_status_string(st);
#else
  EXPECT_EQ(st, PKPO_ERROR_UNSUPPORTED) << pkpo_status_string(st);
#endif
  EXPECT_EQ(x, nullptr);
  EXPECT_EQ(pkpo_backend_available(PKPO_BACKEND_CPU), 1);
  EXPECT_EQ(pkpo_backend_available((pkpo_backend)9), 0);
}

TEST(Status, WorkspaceTooSmall) {
  Handle h;
  Fixture fx;
  size_t need = 0;
  ASSERT_EQ(pkpo_workspace_size(h, &fx.d, &need), PKPO_SUCCESS);
  ASSERT_GT(need, 0u);
  void* buf = std::aligned_alloc(256, ((need + 255) / 256) * 256 + 256);
  ASSERT_NE(buf, nullptr);
  ASSERT_EQ(pkpo_set_workspace(h, buf, need - 1), PKPO_SUCCESS);
  EXPECT_FAILS_CLEANLY(h, fx, PKPO_ERROR_WORKSPACE_TOO_SMALL);
  EXPECT_EQ(pkpo_reserve(h, &fx.d), PKPO_ERROR_WORKSPACE_TOO_SMALL);
  // Exactly enough works.
  ASSERT_EQ(pkpo_set_workspace(h, buf, need), PKPO_SUCCESS);
  EXPECT_EQ(fx.run(h), PKPO_SUCCESS);
  // Back to handle-owned scratch before the buffer goes away.
  ASSERT_EQ(pkpo_set_workspace(h, nullptr, 0), PKPO_SUCCESS);
  std::free(buf);
  Fixture fx2;
  EXPECT_EQ(fx2.run(h), PKPO_SUCCESS);
}

}  // namespace
