// Tests for the Gloo collectives: the shared conformance suite over real TCP loopback (every
// rank its own Gloo context), plus what only a cross-process implementation has: ranks in
// separate registries ("processes") sharing one store, store cleanup, a size disagreement
// between processes, a lost peer, multi-segment transfers.
#include <atomic>
#include <memory>
#include <numeric>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/collectives/collectives_conformance.h"
#include "pathways/collectives/gloo/gloo_collective_groups.h"
#include "pathways/collectives/in_process/in_memory_rendezvous_store.h"

namespace pw {
namespace {

using ::testing::HasSubstr;

// GlooCollectiveGroups together with the store it needs kept alive. With `reuse`, every gang
// joins with a member key naming its size, so gangs of one size share meshes.
class GlooWithStore final : public CollectiveGroups {
 public:
  explicit GlooWithStore(absl::Duration timeout, bool reuse = false) : reuse_(reuse) {
    GlooCollectiveGroupsOptions options;
    options.timeout = timeout;
    absl::StatusOr<std::unique_ptr<GlooCollectiveGroups>> groups =
        GlooCollectiveGroups::Create(&store_, options);
    PW_CHECK(groups.ok()) << groups.status();
    groups_ = *std::move(groups);
  }
  absl::StatusOr<std::unique_ptr<Communicator>> Join(GangId gang, int64_t size,
                                                     int64_t rank) override {
    return groups_->Join(gang, size, rank, reuse_ ? 0xC0DE00 + static_cast<uint64_t>(size) : 0);
  }
  void Abort(GangId gang, int64_t size, absl::Status reason) override {
    groups_->Abort(gang, size, std::move(reason));
  }

 private:
  const bool reuse_;
  InMemoryRendezvousStore store_;
  std::unique_ptr<GlooCollectiveGroups> groups_;
};

struct GlooFactory {
  static std::unique_ptr<CollectiveGroups> Make(absl::Duration timeout) {
    return std::make_unique<GlooWithStore>(timeout);
  }
};

struct GlooReusingMeshesFactory {
  static std::unique_ptr<CollectiveGroups> Make(absl::Duration timeout) {
    return std::make_unique<GlooWithStore>(timeout, /*reuse=*/true);
  }
};


std::unique_ptr<GlooCollectiveGroups> MakeGroups(RendezvousStore& store,
                                                 absl::Duration timeout = absl::Seconds(10)) {
  GlooCollectiveGroupsOptions options;
  options.timeout = timeout;
  absl::StatusOr<std::unique_ptr<GlooCollectiveGroups>> groups =
      GlooCollectiveGroups::Create(&store, options);
  PW_CHECK(groups.ok()) << groups.status();
  return *std::move(groups);
}

// Runs fn for rank r of `gang` on its own thread, joined through registries[r].
std::vector<absl::Status> RunAcross(
    const std::vector<std::unique_ptr<GlooCollectiveGroups>>& registries, GangId gang,
    const std::vector<int64_t>& sizes,
    const std::function<absl::Status(int64_t, Communicator&)>& fn) {
  std::vector<absl::Status> results(registries.size());
  std::vector<std::thread> threads;
  for (size_t r = 0; r < registries.size(); ++r) {
    threads.emplace_back([&, r] {
      absl::StatusOr<std::unique_ptr<Communicator>> comm =
          registries[r]->Join(gang, sizes[r], static_cast<int64_t>(r));
      results[r] = comm.ok() ? fn(static_cast<int64_t>(r), **comm) : comm.status();
    });
  }
  for (std::thread& t : threads) t.join();
  return results;
}

TEST(GlooCollectivesTest, RanksInSeparateRegistriesMeetThroughTheStoreWhichIsThenEmptied) {
  InMemoryRendezvousStore store;
  std::vector<std::unique_ptr<GlooCollectiveGroups>> registries;
  for (int i = 0; i < 3; ++i) registries.push_back(MakeGroups(store));
  std::vector<absl::Status> results =
      RunAcross(registries, GangId(1), {3, 3, 3}, [](int64_t r, Communicator& c) {
        int32_t in = static_cast<int32_t>(r + 1), out = 0;
        PW_RETURN_IF_ERROR(c.AllReduce(&in, &out, 1, ir::DType::kI32, ir::ReduceKind::kSum));
        return out == 6 ? absl::OkStatus() : absl::InternalError("wrong sum");
      });
  conformance::ExpectAllOk(results);
  EXPECT_EQ(store.num_keys(), 0) << "a connected gang's rendezvous keys are deleted";
  for (const auto& registry : registries) EXPECT_EQ(registry->num_live_gangs(), 0);
}

TEST(GlooCollectivesTest, SizeDisagreementBetweenProcessesFailsBothRanksWithoutHanging) {
  InMemoryRendezvousStore store;
  std::vector<std::unique_ptr<GlooCollectiveGroups>> registries;
  for (int i = 0; i < 2; ++i) registries.push_back(MakeGroups(store));
  const absl::Time start = absl::Now();
  std::vector<absl::Status> results =
      RunAcross(registries, GangId(2), {2, 3}, [](int64_t r, Communicator& c) {
        float in = 1, out = 0;
        return c.AllReduce(&in, &out, 1, ir::DType::kF32, ir::ReduceKind::kSum);
      });
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  int invalid = 0;
  for (const absl::Status& s : results) {
    EXPECT_TRUE(s.code() == absl::StatusCode::kInvalidArgument ||
                s.code() == absl::StatusCode::kAborted)
        << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr("joined with size"));
    invalid += s.code() == absl::StatusCode::kInvalidArgument;
  }
  EXPECT_EQ(invalid, 1);
}

TEST(GlooCollectivesTest, LostPeerIsUnavailableNotAHang) {
  InMemoryRendezvousStore store;
  auto groups = MakeGroups(store, absl::Seconds(20));
  std::unique_ptr<Communicator> r0, r1;
  {
    std::vector<std::unique_ptr<Communicator>> comms(2);
    std::vector<std::thread> threads;
    for (int r = 0; r < 2; ++r) {
      threads.emplace_back([&, r] {
        comms[r] = *groups->Join(GangId(3), 2, r);
        float in = 1, out = 0;
        EXPECT_TRUE(comms[r]->AllReduce(&in, &out, 1, ir::DType::kF32,
                                        ir::ReduceKind::kSum).ok());
      });
    }
    for (std::thread& t : threads) t.join();
    r0 = std::move(comms[0]);
    r1 = std::move(comms[1]);
  }
  r1.reset();  // the peer's process dies: its TCP connections close
  const absl::Time start = absl::Now();
  float in = 1, out = 0;
  absl::Status s = r0->AllReduce(&in, &out, 1, ir::DType::kF32, ir::ReduceKind::kSum);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(s.message()), HasSubstr("rank 1"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

// A peer that stops inside a data transfer (SIGSTOP, a partition) keeps its sockets open: the
// rank waiting for its data is released once the gang's abort key is written (what the
// controller does when it declares the peer's host lost), with the reason, not at the timeout.
TEST(GlooCollectivesTest, RankInsideADataTransferIsReleasedByTheGangsAbortKey) {
  InMemoryRendezvousStore store;
  absl::Notification resume_rank1;
  std::atomic<bool> stall{false};
  GlooCollectiveGroupsOptions options;
  options.timeout = absl::Seconds(120);
  options.before_data_moves = [&](int64_t rank) {
    // Rank 1 of the aborted gang "stops" after the exchange.
    if (rank == 1 && stall.load()) resume_rank1.WaitForNotification();
  };
  auto groups = *GlooCollectiveGroups::Create(&store, options);
  // Another gang of the same process, connected before: its mesh must survive the abort.
  std::vector<std::unique_ptr<Communicator>> other(2);
  auto all_reduce_other = [&] {
    std::vector<std::thread> ranks;
    std::vector<absl::Status> st(2);
    for (int r = 0; r < 2; ++r) {
      ranks.emplace_back([&, r] {
        float in = 1, out = 0;
        st[r] = other[r]->AllReduce(&in, &out, 1, ir::DType::kF32, ir::ReduceKind::kSum);
      });
    }
    for (std::thread& t : ranks) t.join();
    return st;
  };
  other[0] = *groups->Join(GangId(6), 2, 0);
  other[1] = *groups->Join(GangId(6), 2, 1);
  for (const absl::Status& s : all_reduce_other()) ASSERT_THAT(s, IsOk());
  stall = true;

  std::vector<absl::Status> results(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      std::unique_ptr<Communicator> comm = *groups->Join(GangId(5), 2, r);
      std::vector<float> in(1 << 16, 1.0f), out(in.size());
      results[r] = comm->AllReduce(in.data(), out.data(), static_cast<int64_t>(in.size()),
                                   ir::DType::kF32, ir::ReduceKind::kSum);
    });
  }
  absl::SleepFor(absl::Milliseconds(300));  // rank 0 is inside Gloo's all-reduce by now
  ASSERT_TRUE(store.Set("gloo/gang:5/abort", "host:7 was removed: no heartbeat").ok());
  threads[0].join();
  // ABORTED with the reason: not DEADLINE_EXCEEDED, which would mean it waited the 120 s out.
  EXPECT_THAT(results[0], StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(std::string(results[0].message()), HasSubstr("no heartbeat"));
  resume_rank1.Notify();
  threads[1].join();
  EXPECT_THAT(results[1], StatusIs(absl::StatusCode::kAborted));
  // Only the aborted gang's sockets were shut down.
  for (const absl::Status& s : all_reduce_other()) EXPECT_THAT(s, IsOk());
}

TEST(GlooCollectivesTest, MultiSegmentAllReduceAndReduceScatter) {
  InMemoryRendezvousStore store;
  auto groups = MakeGroups(store);
  constexpr int64_t size = 3, n = 300000;  // > Gloo's 1 MiB ring segment
  conformance::ExpectAllOk(conformance::RunGang(*groups, GangId(4), size,
                                                [&](int64_t r, Communicator& c) {
    std::vector<int32_t> in(n * size);
    std::iota(in.begin(), in.end(), static_cast<int32_t>(r));
    std::vector<int32_t> out(n * size);
    PW_RETURN_IF_ERROR(c.AllReduce(in.data(), out.data(), n * size, ir::DType::kI32,
                                   ir::ReduceKind::kMax));
    for (int64_t i = 0; i < n * size; ++i) {
      if (out[i] != i + size - 1) return absl::InternalError("wrong max");
    }
    std::vector<int32_t> block(n);
    PW_RETURN_IF_ERROR(c.ReduceScatter(in.data(), block.data(), n, ir::DType::kI32,
                                       ir::ReduceKind::kSum));
    for (int64_t i = 0; i < n; ++i) {
      if (block[i] != size * (r * n + i) + size * (size - 1) / 2) {
        return absl::InternalError("wrong reduce-scatter");
      }
    }
    return absl::OkStatus();
  }));
}

TEST(GlooCollectivesTest, UnresolvableHostIsUnavailable) {
  InMemoryRendezvousStore store;
  GlooCollectiveGroupsOptions options;
  options.hostname = "no-such-host.invalid";
  absl::StatusOr<std::unique_ptr<GlooCollectiveGroups>> groups =
      GlooCollectiveGroups::Create(&store, options);
  ASSERT_FALSE(groups.ok());
  EXPECT_THAT(groups.status(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(groups.status().message()), HasSubstr("no-such-host.invalid"));
}

}  // namespace
}  // namespace pw

namespace pw::conformance {
INSTANTIATE_TYPED_TEST_SUITE_P(Gloo, CollectivesConformanceTest, GlooFactory);
INSTANTIATE_TYPED_TEST_SUITE_P(GlooReusingMeshes, CollectivesConformanceTest,
                               GlooReusingMeshesFactory);
}  // namespace pw::conformance
