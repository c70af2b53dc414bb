// Tests for InProcessCollectiveGroups: ranks meet by GangId, size checks, abort before/after
// joins, and no growth over many gangs.
#include "pathways/collectives/in_process/in_process_collective_groups.h"

#include <memory>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"

namespace pw {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<Communicator> MustJoin(InProcessCollectiveGroups& groups, GangId gang,
                                       int64_t size, int64_t rank) {
  absl::StatusOr<std::unique_ptr<Communicator>> comm = groups.Join(gang, size, rank);
  PW_CHECK(comm.ok()) << comm.status();
  return *std::move(comm);
}

TEST(InProcessCollectiveGroupsTest, RanksJoiningFromDifferentThreadsShareOneGroup) {
  InProcessCollectiveGroups groups;
  constexpr int64_t n = 3;
  std::vector<float> out(n, 0.0f);
  std::vector<absl::Status> status(n);
  std::vector<std::thread> threads;
  for (int64_t r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      std::unique_ptr<Communicator> comm = MustJoin(groups, GangId(7), n, r);
      float in = static_cast<float>(r + 1);
      status[r] = comm->AllReduce(&in, &out[r], 1, ir::DType::kF32, ir::ReduceKind::kSum);
    });
  }
  for (auto& t : threads) t.join();
  for (int64_t r = 0; r < n; ++r) {
    ASSERT_TRUE(status[r].ok()) << status[r];
    EXPECT_EQ(out[r], 6.0f);
  }
  EXPECT_EQ(groups.num_pending_gangs(), 0);
}

TEST(InProcessCollectiveGroupsTest, SizeMismatchIsInvalidArgumentNamingGangAndSizes) {
  InProcessCollectiveGroups groups;
  auto first = MustJoin(groups, GangId(3), 4, 0);
  auto second = groups.Join(GangId(3), 2, 1);
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("gang:3"));
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("4 ranks"));
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("size 2"));
}

TEST(InProcessCollectiveGroupsTest, BadRanksAndDoubleJoinAreErrors) {
  InProcessCollectiveGroups groups;
  EXPECT_THAT(groups.Join(GangId(1), 2, 2).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(groups.Join(GangId(1), 2, -1).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(groups.Join(GangId(1), 0, 0).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  auto a = MustJoin(groups, GangId(1), 2, 0);
  EXPECT_THAT(groups.Join(GangId(1), 2, 0).status(), StatusIs(absl::StatusCode::kAlreadyExists));
  auto b = MustJoin(groups, GangId(1), 2, 1);
  EXPECT_THAT(groups.Join(GangId(1), 2, 1).status(), StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST(InProcessCollectiveGroupsTest, AbortBeforeSomeRanksJoinedBreaksTheirCommunicators) {
  InProcessCollectiveGroups groups;
  auto r0 = MustJoin(groups, GangId(9), 2, 0);
  groups.Abort(GangId(9), 2, absl::ResourceExhaustedError("shard 0 ran out of memory"));
  auto r1 = MustJoin(groups, GangId(9), 2, 1);
  EXPECT_EQ(groups.num_pending_gangs(), 0);
  float in = 1, out = 0;
  for (Communicator* c : {r0.get(), r1.get()}) {
    absl::Status s = c->AllReduce(&in, &out, 1, ir::DType::kF32, ir::ReduceKind::kSum);
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kAborted));
    EXPECT_THAT(std::string(s.message()), HasSubstr("shard 0 ran out of memory"));
  }
}

TEST(InProcessCollectiveGroupsTest, AbortBeforeAnyJoinCreatesABrokenGroup) {
  InProcessCollectiveGroups groups;
  groups.Abort(GangId(4), 2, absl::InternalError("producer failed"));
  EXPECT_EQ(groups.num_pending_gangs(), 1);
  auto r1 = MustJoin(groups, GangId(4), 2, 1);
  auto r0 = MustJoin(groups, GangId(4), 2, 0);
  EXPECT_EQ(groups.num_pending_gangs(), 0);
  float in = 1, out = 0;
  absl::Status s = r1->AllReduce(&in, &out, 1, ir::DType::kF32, ir::ReduceKind::kSum);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(std::string(s.message()), HasSubstr("producer failed"));
}

TEST(InProcessCollectiveGroupsTest, AbortAfterEveryRankJoinedUnblocksAWaitingRank) {
  InProcessCollectiveGroups groups;
  auto r0 = MustJoin(groups, GangId(5), 2, 0);
  auto r1 = MustJoin(groups, GangId(5), 2, 1);
  ASSERT_EQ(groups.num_pending_gangs(), 0);
  absl::Status s;
  std::thread waiter([&] {
    float in = 1, out = 0;
    s = r0->AllReduce(&in, &out, 1, ir::DType::kF32, ir::ReduceKind::kSum);  // r1 never comes
  });
  groups.Abort(GangId(5), 2, absl::InternalError("rank 1 failed"));
  waiter.join();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(std::string(s.message()), HasSubstr("rank 1 failed"));
}

TEST(InProcessCollectiveGroupsTest, AbortOfAFinishedGangWhoseGroupIsGoneIsANoOp) {
  InProcessCollectiveGroups groups;
  {
    auto r0 = MustJoin(groups, GangId(6), 2, 0);
    auto r1 = MustJoin(groups, GangId(6), 2, 1);
  }
  groups.Abort(GangId(6), 2, absl::InternalError("late"));
  EXPECT_EQ(groups.num_pending_gangs(), 0);
}

TEST(InProcessCollectiveGroupsTest, ThousandsOfGangsLeaveNoPendingEntries) {
  InProcessCollectiveGroups groups;
  for (int64_t g = 0; g < 5000; ++g) {
    auto a = MustJoin(groups, GangId(g), 2, 1);
    auto b = MustJoin(groups, GangId(g), 2, 0);
  }
  EXPECT_EQ(groups.num_pending_gangs(), 0);
  EXPECT_THAT(groups.DebugString(), HasSubstr("0 gangs waiting"));
}

}  // namespace
}  // namespace pw
