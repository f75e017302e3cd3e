// test_group_by_id.cpp -- pkpo_group_by_id: arbitrary ids -> groups in order of first appearance,
// stable within a group, consistent offsets/index/max_group_size; transforming through the result
// equals transforming the groups gathered by hand.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <map>
#include <random>

#include "test_util.hpp"

namespace {

using pt::Batch;
using pt::Handle;

struct Grouping {
  std::vector<int64_t> offsets, index;
  int64_t num_groups = -1, max_group_size = -1;
};

// The reference: groups by first appearance, samples in input order.
Grouping reference(const std::vector<int64_t>& ids) {
  std::vector<int64_t> order;
  std::map<int64_t, std::vector<int64_t>> members;
  for (int64_t i = 0; i < (int64_t)ids.size(); ++i) {
    if (!members.count(ids[i])) order.push_back(ids[i]);
    members[ids[i]].push_back(i);
  }
  Grouping g;
  g.offsets.push_back(0);
  g.max_group_size = 0;
  for (int64_t id : order) {
    for (int64_t i : members[id]) g.index.push_back(i);
    g.offsets.push_back((int64_t)g.index.size());
    g.max_group_size = std::max<int64_t>(g.max_group_size, (int64_t)members[id].size());
  }
  g.num_groups = (int64_t)order.size();
  return g;
}

Grouping run(pkpo_handle h, const std::vector<int64_t>& ids) {
  Grouping g;
  const int64_t N = (int64_t)ids.size();
  g.offsets.assign((size_t)N + 1 + 4, -99);
  g.index.assign((size_t)N + 4, -99);
  const pkpo_status st = pkpo_group_by_id(h, ids.data(), N, g.offsets.data(), g.index.data(),
                                          &g.num_groups, &g.max_group_size, nullptr);
  EXPECT_EQ(st, PKPO_SUCCESS) << pkpo_last_error(h);
  for (size_t i = (size_t)N + 1; i < g.offsets.size(); ++i) EXPECT_EQ(g.offsets[i], -99);
  for (size_t i = (size_t)N; i < g.index.size(); ++i) EXPECT_EQ(g.index[i], -99);
  g.offsets.resize((size_t)g.num_groups + 1);
  g.index.resize((size_t)N);
  return g;
}

TEST(GroupById, ArbitraryIds) {
  Handle h;
  std::mt19937_64 rng(61);
  const int64_t big = std::numeric_limits<int64_t>::max(), small = std::numeric_limits<int64_t>::min();
  std::vector<std::vector<int64_t>> cases = {
      {},
      {5},
      {7, 7, 7},
      {3, 1, 3, 2, 1, 3},
      {-1, big, small, 0, -1, small, big, 42, 0},
      {1, 2, 3, 4, 5},
  };
  for (int64_t n : {19, 99, 989, 5000, 65536}) {
    for (int64_t distinct : {(int64_t)1, (int64_t)3, n / 8 + 1, n}) {
      std::uniform_int_distribution<int64_t> pick(0, distinct - 1);
      std::vector<int64_t> keys(distinct);
      std::uniform_int_distribution<int64_t> any(small, big);
      for (auto& k : keys) k = any(rng);
      std::vector<int64_t> ids(n);
      for (auto& v : ids) v = keys[pick(rng)];
      cases.push_back(ids);
    }
  }
  for (const auto& ids : cases) {
    SCOPED_TRACE("seed 61, " + std::to_string(ids.size()) + " ids");
    const Grouping want = reference(ids);
    const Grouping got = run(h, ids);
    EXPECT_EQ(got.num_groups, want.num_groups);
    EXPECT_EQ(got.max_group_size, want.max_group_size);
    EXPECT_EQ(got.offsets, want.offsets);
    EXPECT_EQ(got.index, want.index);
  }
}

TEST(GroupById, TransformThroughLayoutEqualsGatheredByHand) {
  Handle h;
  std::mt19937_64 rng(62);
  const int64_t N = 3001;
  std::vector<int64_t> ids(N);
  std::uniform_int_distribution<int64_t> pick(0, 120);
  for (auto& v : ids) v = pick(rng) * 1000003 - 5000;
  std::vector<double> rewards = pt::gen_group(pt::Kind::Ties, N, rng);
  const Grouping gb = run(h, ids);
  for (pkpo_dtype dt : {PKPO_FLOAT64, PKPO_FLOAT32}) {
    for (int e = PKPO_RHO; e <= PKPO_L2O; ++e) {
      SCOPED_TRACE(std::string("seed 62 ") + oracle::est_name(e) + " " + pt::dtype_name(dt));
      Batch b;
      b.est = (pkpo_estimator)e;
      b.dtype = dt;
      b.rewards = rewards;
      b.offsets = gb.offsets;
      b.index = gb.index;
      b.num_groups = gb.num_groups;
      b.max_group_size = gb.max_group_size;
      b.k = 4;
      const pt::LibResult r = pt::run_lib(h, b);
      ASSERT_EQ(r.status, PKPO_SUCCESS) << r.last_error;
      // By hand: copy each group's rewards contiguously, transform, scatter back.
      Batch c = b;
      c.index.clear();
      c.rewards.clear();
      for (int64_t j = 0; j < N; ++j) c.rewards.push_back(rewards[gb.index[j]]);
      const pt::LibResult rc = pt::run_lib(h, c);
      ASSERT_EQ(rc.status, PKPO_SUCCESS);
      EXPECT_TRUE(pt::bitwise_equal(r.rho, rc.rho));
      EXPECT_EQ(r.flags, rc.flags);
      for (int64_t j = 0; j < N && e != PKPO_RHO; ++j)
        ASSERT_EQ(std::memcmp(&r.out[gb.index[j]], &rc.out[j], 8), 0) << "position " << j;
      EXPECT_TRUE(pt::matches(b, r, pt::expected_for(b, oracle::LARGE)));
    }
  }
}

}  // namespace

// The CPU backend needs no handle workspace for grouping; the query still checks its arguments.
TEST(GroupById, WorkspaceSizeQuery) {
  Handle h;
  size_t bytes = 7;
  ASSERT_EQ(pkpo_group_by_id_workspace_size(h, 1000, &bytes), PKPO_SUCCESS);
  EXPECT_EQ(bytes, 0u);
  EXPECT_EQ(pkpo_group_by_id_workspace_size(h, -1, &bytes), PKPO_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(pkpo_group_by_id_workspace_size(h, 1000, nullptr), PKPO_ERROR_NULL_POINTER);
  EXPECT_EQ(pkpo_group_by_id_workspace_size(nullptr, 1000, &bytes), PKPO_ERROR_NULL_POINTER);
  EXPECT_EQ(pkpo_group_by_id_workspace_size(h, INT64_MAX / 8, &bytes), PKPO_ERROR_SIZE_OVERFLOW);
}
