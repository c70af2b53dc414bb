// Tests of Gloo mesh reuse across gangs with the same members: registries stand for processes
// (each its own pool) sharing one rendezvous store; each rank runs its gangs on its own thread,
// one after the other, like a device stream.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"
#include "pathways/base/status_matchers.h"
#include "pathways/collectives/gloo/gloo_collective_groups.h"
#include "pathways/collectives/in_process/in_memory_rendezvous_store.h"

namespace pw {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kMembers = 0x5eed;
constexpr uint64_t kOtherMembers = 0xbeef;

// A timeout far above what any of these tests needs: a rank that waited for it instead of
// being stopped fails with DEADLINE_EXCEEDED, not the code the test expects.
std::unique_ptr<GlooCollectiveGroups> MakeProcess(RendezvousStore& store,
                                                  absl::Duration timeout = absl::Seconds(20)) {
  GlooCollectiveGroupsOptions options;
  options.timeout = timeout;
  absl::StatusOr<std::unique_ptr<GlooCollectiveGroups>> groups =
      GlooCollectiveGroups::Create(&store, options);
  PW_CHECK(groups.ok()) << groups.status();
  return *std::move(groups);
}

// Sums rank + 1 over the gang `rounds` times; OK when every sum is right.
absl::Status SumRanks(Communicator& c, int rounds = 1) {
  for (int i = 0; i < rounds; ++i) {
    int32_t in = static_cast<int32_t>(c.rank() + 1 + i), out = 0;
    PW_RETURN_IF_ERROR(c.AllReduce(&in, &out, 1, ir::DType::kI32, ir::ReduceKind::kSum));
    const int64_t n = c.size();
    if (out != n * (n + 1) / 2 + n * i) {
      return absl::InternalError(absl::StrCat("rank ", c.rank(), " round ", i, ": sum ", out));
    }
  }
  return absl::OkStatus();
}

struct RankSpec {
  GlooCollectiveGroups* process;
  int64_t rank;
};

// Runs every rank of one gang on its own thread; each rank's status.
std::vector<absl::Status> RunGang(const std::vector<RankSpec>& ranks, GangId gang,
                                  uint64_t members,
                                  const std::function<absl::Status(Communicator&)>& fn) {
  std::vector<absl::Status> results(ranks.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < ranks.size(); ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<std::unique_ptr<Communicator>> comm = ranks[i].process->Join(
          gang, static_cast<int64_t>(ranks.size()), ranks[i].rank, members);
      results[i] = comm.ok() ? fn(**comm) : comm.status();
    });
  }
  for (std::thread& t : threads) t.join();
  return results;
}

void ExpectAllOk(const std::vector<absl::Status>& results) {
  for (size_t r = 0; r < results.size(); ++r) {
    EXPECT_TRUE(results[r].ok()) << "rank " << r << ": " << results[r];
  }
}

TEST(GlooMeshReuseTest, ManyGangsWithTheSameMembersConnectOnce) {
  InMemoryRendezvousStore store;
  auto a = MakeProcess(store);  // ranks 0 and 1
  auto b = MakeProcess(store);  // rank 2
  const std::vector<RankSpec> ranks = {{a.get(), 0}, {a.get(), 1}, {b.get(), 2}};
  constexpr int kGangs = 30;
  // Each rank goes through the gangs at its own pace (no barrier between gangs), as device
  // streams do: a fast rank starts gang g+1 while a slow one is still in gang g.
  std::vector<absl::Status> results(ranks.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < ranks.size(); ++i) {
    threads.emplace_back([&, i] {
      for (int g = 0; g < kGangs && results[i].ok(); ++g) {
        absl::StatusOr<std::unique_ptr<Communicator>> comm =
            ranks[i].process->Join(GangId(100 + g), 3, ranks[i].rank, kMembers);
        results[i] = comm.ok() ? SumRanks(**comm, 3) : comm.status();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ExpectAllOk(results);
  EXPECT_EQ(a->num_connects(), 2) << "one mesh per rank for all " << kGangs << " gangs";
  EXPECT_EQ(b->num_connects(), 1);
  EXPECT_EQ(a->num_pooled_meshes(), 2);
  EXPECT_EQ(b->num_pooled_meshes(), 1);
  EXPECT_EQ(store.num_keys(), 0) << "only the first gang met through the store, and cleaned up";
  EXPECT_EQ(a->num_live_gangs(), 0);
}

TEST(GlooMeshReuseTest, DifferentMembersOrNoMemberKeyDoNotShare) {
  InMemoryRendezvousStore store;
  auto a = MakeProcess(store);
  auto b = MakeProcess(store);
  const std::vector<RankSpec> ranks = {{a.get(), 0}, {b.get(), 1}};
  for (int g = 0; g < 6; ++g) {
    ExpectAllOk(RunGang(ranks, GangId(200 + g), g % 2 == 0 ? kMembers : kOtherMembers,
                        [](Communicator& c) { return SumRanks(c); }));
  }
  EXPECT_EQ(a->num_connects(), 2) << "one mesh per member key";
  EXPECT_EQ(a->num_pooled_meshes(), 2);
  for (int g = 0; g < 3; ++g) {
    ExpectAllOk(RunGang(ranks, GangId(300 + g), /*members=*/0,
                        [](Communicator& c) { return SumRanks(c); }));
  }
  EXPECT_EQ(a->num_connects(), 5) << "gangs without a member key connect their own mesh";
  EXPECT_EQ(b->num_connects(), 5);
  EXPECT_EQ(a->num_pooled_meshes(), 2);
}

// FailStepAtDispatch's pattern: a rank joins and aborts at once, never reaching its
// collective, while its peer already waits on the pooled mesh for it.
TEST(GlooMeshReuseTest, AbortAtJoinStopsAPeerOnThePooledMeshWithTheReasonThenTheGangsReconnect) {
  InMemoryRendezvousStore store;
  auto a = MakeProcess(store);
  auto b = MakeProcess(store);
  const std::vector<RankSpec> ranks = {{a.get(), 0}, {b.get(), 1}};
  ExpectAllOk(RunGang(ranks, GangId(1), kMembers, [](Communicator& c) { return SumRanks(c); }));
  ASSERT_EQ(a->num_connects(), 1);

  std::vector<absl::Status> results = RunGang(ranks, GangId(2), kMembers, [&](Communicator& c) {
    if (c.rank() == 1) {
      b->Abort(GangId(2), 2, absl::ResourceExhaustedError("out of memory at dispatch"));
      return absl::OkStatus();
    }
    return SumRanks(c);
  });
  EXPECT_THAT(results[0], StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(std::string(results[0].message()), HasSubstr("out of memory at dispatch"));
  EXPECT_EQ(a->num_pooled_meshes(), 0) << "the failed rank's mesh is dropped";

  // Rank 1 still holds the mesh rank 0 dropped: it finds it closed and both meet anew.
  for (int g = 3; g < 6; ++g) {
    ExpectAllOk(RunGang(ranks, GangId(g), kMembers, [](Communicator& c) { return SumRanks(c, 2); }));
  }
  EXPECT_EQ(a->num_connects(), 2);
  EXPECT_EQ(b->num_connects(), 2);
  EXPECT_EQ(a->num_pooled_meshes(), 1);
}

TEST(GlooMeshReuseTest, AbortBetweenCollectivesStopsPeersOnThePooledMeshWithTheReason) {
  InMemoryRendezvousStore store;
  auto a = MakeProcess(store);
  auto b = MakeProcess(store);
  const std::vector<RankSpec> ranks = {{a.get(), 0}, {b.get(), 1}};
  ExpectAllOk(RunGang(ranks, GangId(1), kMembers, [](Communicator& c) { return SumRanks(c); }));

  // Rank 1 fails after the first collective of gang 2; rank 0 is blocked in the second.
  std::vector<absl::Status> results = RunGang(ranks, GangId(2), kMembers, [&](Communicator& c) {
    PW_RETURN_IF_ERROR(SumRanks(c));
    if (c.rank() == 1) {
      b->Abort(GangId(2), 2, absl::InternalError("kernel failed on shard 1"));
      return absl::OkStatus();
    }
    return SumRanks(c);
  });
  EXPECT_THAT(results[0], StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(std::string(results[0].message()), HasSubstr("kernel failed on shard 1"));
  EXPECT_TRUE(results[1].ok()) << results[1];
  EXPECT_EQ(a->num_pooled_meshes(), 0);
  EXPECT_EQ(b->num_pooled_meshes(), 0);

  ExpectAllOk(RunGang(ranks, GangId(3), kMembers, [](Communicator& c) { return SumRanks(c); }));
  EXPECT_EQ(a->num_connects(), 2);
  EXPECT_EQ(b->num_connects(), 2);
}

// A rank aborts its gang after the gang's last collective: its notice on the mesh reaches the
// peer only in the NEXT gang, which must not be failed by it.
TEST(GlooMeshReuseTest, AbortAfterTheLastCollectiveDoesNotFailTheNextGang) {
  InMemoryRendezvousStore store;
  auto a = MakeProcess(store);
  auto b = MakeProcess(store);
  const std::vector<RankSpec> ranks = {{a.get(), 0}, {b.get(), 1}};
  ExpectAllOk(RunGang(ranks, GangId(1), kMembers, [&](Communicator& c) {
    PW_RETURN_IF_ERROR(SumRanks(c));
    if (c.rank() == 1) b->Abort(GangId(1), 2, absl::InternalError("output copy failed"));
    return absl::OkStatus();
  }));
  for (int g = 2; g < 5; ++g) {
    ExpectAllOk(RunGang(ranks, GangId(g), kMembers, [](Communicator& c) { return SumRanks(c); }));
  }
  EXPECT_EQ(a->num_connects(), 2);
  EXPECT_EQ(b->num_connects(), 2);
}

// A rank that lost its pooled mesh while the mesh's other end is still open (here: the peer's
// process keeps it, but the rank now joins through another registry, as after a restart that
// kept the old sockets): the pooled rank sees the gang's connect marker and meets it anew.
TEST(GlooMeshReuseTest, PooledRanksMeetARankThatConnectsAnew) {
  InMemoryRendezvousStore store;
  auto a = MakeProcess(store);
  auto b = MakeProcess(store);
  ExpectAllOk(RunGang({{a.get(), 0}, {b.get(), 1}}, GangId(1), kMembers,
                      [](Communicator& c) { return SumRanks(c); }));
  auto b2 = MakeProcess(store);
  ExpectAllOk(RunGang({{a.get(), 0}, {b2.get(), 1}}, GangId(2), kMembers,
                      [](Communicator& c) { return SumRanks(c); }));
  EXPECT_EQ(a->num_connects(), 2);
  EXPECT_EQ(b2->num_connects(), 1);

  // The peer's process goes away (its meshes close) and a new one takes its place.
  b2.reset();
  auto b3 = MakeProcess(store);
  ExpectAllOk(RunGang({{a.get(), 0}, {b3.get(), 1}}, GangId(3), kMembers,
                      [](Communicator& c) { return SumRanks(c); }));
  ExpectAllOk(RunGang({{a.get(), 0}, {b3.get(), 1}}, GangId(4), kMembers,
                      [](Communicator& c) { return SumRanks(c); }));
  EXPECT_EQ(a->num_connects(), 3);
  EXPECT_EQ(b3->num_connects(), 1);
}

// The abort key alone (written by the controller for a lost host, no rank left to send a
// notice) stops a rank waiting on a pooled mesh.
TEST(GlooMeshReuseTest, AbortKeyInTheStoreStopsARankWaitingOnAPooledMesh) {
  InMemoryRendezvousStore store;
  auto a = MakeProcess(store);
  auto b = MakeProcess(store);
  ExpectAllOk(RunGang({{a.get(), 0}, {b.get(), 1}}, GangId(1), kMembers,
                      [](Communicator& c) { return SumRanks(c); }));
  absl::StatusOr<std::unique_ptr<Communicator>> comm = a->Join(GangId(2), 2, 0, kMembers);
  ASSERT_TRUE(comm.ok()) << comm.status();
  absl::Status result;
  std::thread waiter([&] { result = SumRanks(**comm); });
  ASSERT_TRUE(store.Set("gloo/gang:2/abort", "host:7 (10.0.0.7:1234) lost: no heartbeat").ok());
  waiter.join();
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(std::string(result.message()), HasSubstr("host:7 (10.0.0.7:1234) lost"));
}

// The pool's hand-over rules, without sockets (meshes with no Gloo context).
TEST(GlooMeshPoolTest, HandsAnIdleMeshToTheNextGangButNeverTwoUsersAtOnce) {
  GlooMeshPool pool(/*max_idle_meshes=*/2);
  const GlooMeshKey key{kMembers, 2, 0};
  const uint64_t g1 = pool.NewUser(), g2 = pool.NewUser(), g3 = pool.NewUser();
  EXPECT_EQ(pool.Take(key, g1, /*first=*/true), nullptr) << "nothing pooled yet";
  auto mesh = std::make_shared<GlooMesh>(nullptr);
  ASSERT_TRUE(pool.Return(key, g1, mesh));
  EXPECT_EQ(pool.Take(key, g1, /*first=*/false), mesh) << "g1's next collective";
  EXPECT_EQ(pool.Take(key, g2, /*first=*/true), nullptr) << "busy with g1";
  ASSERT_TRUE(pool.Return(key, g1, mesh));
  EXPECT_EQ(pool.Take(key, g2, /*first=*/true), mesh) << "the hand-over to the next gang";
  ASSERT_TRUE(pool.Return(key, g2, mesh));
  EXPECT_EQ(pool.Take(key, g1, /*first=*/false), nullptr) << "g1 lost it to g2";
  EXPECT_EQ(pool.Reclaim(key, g1), nullptr) << "an abort of g1 no longer touches it";
  EXPECT_EQ(pool.Reclaim(key, g2), mesh) << "an abort of g2 takes it out";
  EXPECT_EQ(pool.num_meshes(), 0);
  EXPECT_EQ(pool.Take(key, g3, /*first=*/true), nullptr);
}

TEST(GlooMeshPoolTest, EvictsOnlyMeshesWhoseLastUserIsGoneLeastRecentlyUsedFirst) {
  GlooMeshPool pool(/*max_idle_meshes=*/2);
  std::vector<GlooMeshKey> keys;
  std::vector<uint64_t> users;
  for (int i = 0; i < 3; ++i) {
    keys.push_back(GlooMeshKey{kMembers + static_cast<uint64_t>(i), 2, 0});
    users.push_back(pool.NewUser());
    ASSERT_TRUE(pool.Return(keys[i], users[i], std::make_shared<GlooMesh>(nullptr)));
  }
  EXPECT_EQ(pool.num_meshes(), 3) << "every last user is alive: it may come back";
  pool.UserGone(keys[1], users[1]);
  pool.UserGone(keys[0], users[0]);
  const uint64_t next = pool.NewUser();
  ASSERT_TRUE(pool.Return(GlooMeshKey{kOtherMembers, 2, 0}, next,
                          std::make_shared<GlooMesh>(nullptr)));
  EXPECT_EQ(pool.num_meshes(), 2);
  EXPECT_EQ(pool.Take(keys[0], pool.NewUser(), true), nullptr) << "least recently returned";
  EXPECT_EQ(pool.Take(keys[1], pool.NewUser(), true), nullptr);
  EXPECT_NE(pool.Take(keys[2], users[2], false), nullptr) << "its user is alive";
}

}  // namespace
}  // namespace pw
