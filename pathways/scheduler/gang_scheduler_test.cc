// Tests for GangScheduler: one order per island, window, multi-island order, policies behind the
// window.
#include "pathways/scheduler/gang_scheduler.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/scheduler/priority_policy.h"
#include "pathways/scheduler/share_policy.h"

namespace pw {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A host that records the runs it received, in arrival order.
class FakeHost {
 public:
  void Receive(RunId run) {
    absl::MutexLock lock(&mu_);
    order_.push_back(run.value());
  }
  std::vector<int64_t> order() const {
    absl::MutexLock lock(&mu_);
    return order_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<int64_t> order_ ABSL_GUARDED_BY(mu_);
};

RunDescriptor Desc(int64_t run, int64_t client = 0, int64_t priority = 0) {
  RunDescriptor d;
  d.run = RunId(run);
  d.client = ClientId(client);
  d.priority = priority;
  return d;
}

// Sends `run` to every host, one at a time, yielding in between so that an unordered
// dispatcher would interleave two runs' messages.
DispatchFn SendToAll(std::vector<FakeHost>* hosts, RunId run) {
  return [hosts, run]() {
    for (FakeHost& host : *hosts) {
      host.Receive(run);
      std::this_thread::yield();
    }
  };
}

TEST(GangSchedulerTest, SameOrderOnEveryHostUnderTwoClients) {
  std::vector<FakeHost> hosts(4);
  GangScheduler scheduler(IslandId(0));
  constexpr int kRunsPerClient = 300;
  auto client = [&](int64_t c) {
    for (int i = 0; i < kRunsPerClient; ++i) {
      const int64_t run = c * kRunsPerClient + i;
      ASSERT_TRUE(scheduler.Submit(Desc(run, c), SendToAll(&hosts, RunId(run))).ok());
    }
  };
  std::thread a(client, 0), b(client, 1);
  a.join();
  b.join();
  const std::vector<int64_t> first = hosts[0].order();
  ASSERT_EQ(first.size(), 2 * kRunsPerClient);
  for (const FakeHost& host : hosts) EXPECT_EQ(host.order(), first);
  // Each client's own runs keep their submission order.
  for (int64_t c = 0; c < 2; ++c) {
    std::vector<int64_t> mine;
    for (int64_t r : first) {
      if (r / kRunsPerClient == c) mine.push_back(r);
    }
    EXPECT_TRUE(std::is_sorted(mine.begin(), mine.end()));
  }
  const GangSchedulerStats stats = scheduler.stats();
  EXPECT_EQ(stats.submitted, 2 * kRunsPerClient);
  EXPECT_EQ(stats.in_flight, 2 * kRunsPerClient);
  ASSERT_EQ(stats.clients.size(), 2);
  EXPECT_EQ(stats.clients[1].submitted, kRunsPerClient);
}

TEST(GangSchedulerTest, EmptyQueueDispatchesInlineInTheSubmittingThread) {
  GangScheduler scheduler(IslandId(0));
  std::thread::id dispatcher;
  ASSERT_TRUE(scheduler
                  .Submit(Desc(1), [&]() { dispatcher = std::this_thread::get_id(); })
                  .ok());
  EXPECT_EQ(dispatcher, std::this_thread::get_id());
}

TEST(GangSchedulerTest, WindowThrottlesAndFinishReleasesInFifoOrder) {
  GangSchedulerOptions options;
  options.max_runs_in_flight = 2;
  GangScheduler scheduler(IslandId(3), std::move(options));
  std::vector<int64_t> dispatched;
  for (int64_t r = 0; r < 6; ++r) {
    ASSERT_TRUE(scheduler.Submit(Desc(r, r % 2), [&dispatched, r]() { dispatched.push_back(r); })
                    .ok());
  }
  EXPECT_THAT(dispatched, ElementsAre(0, 1));
  GangSchedulerStats stats = scheduler.stats();
  EXPECT_EQ(stats.in_flight, 2);
  EXPECT_EQ(stats.queued, 4);
  EXPECT_EQ(stats.max_queued, 4);

  ASSERT_TRUE(scheduler.OnRunFinished(RunId(1)).ok());
  EXPECT_THAT(dispatched, ElementsAre(0, 1, 2));
  ASSERT_TRUE(scheduler.OnRunFinished(RunId(0)).ok());
  EXPECT_THAT(dispatched, ElementsAre(0, 1, 2, 3));
  // Finishing a queued run cancels it: it is never dispatched and takes no window slot.
  // Finishing an unknown or already finished run is an error and releases nothing.
  ASSERT_TRUE(scheduler.OnRunFinished(RunId(5)).ok());
  EXPECT_THAT(scheduler.OnRunFinished(RunId(5)), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(scheduler.OnRunFinished(RunId(0)), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(scheduler.OnRunFinished(RunId(42)), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(dispatched, ElementsAre(0, 1, 2, 3));
  for (int64_t r : {2, 3, 4}) ASSERT_TRUE(scheduler.OnRunFinished(RunId(r)).ok());
  EXPECT_THAT(dispatched, ElementsAre(0, 1, 2, 3, 4));
  stats = scheduler.stats();
  EXPECT_EQ(stats.finished, 6);
  EXPECT_EQ(stats.in_flight, 0);
  EXPECT_EQ(stats.queued, 0);
  ASSERT_EQ(stats.clients.size(), 2);
  EXPECT_EQ(stats.clients[0].finished, 3);
  EXPECT_EQ(stats.clients[1].finished, 2);
  EXPECT_EQ(stats.clients[1].queued, 0);
  EXPECT_EQ(stats.clients[1].in_flight, 0);
  EXPECT_THAT(scheduler.DebugString(), HasSubstr("window=2"));
}

TEST(GangSchedulerTest, DuplicateRunIsRejected) {
  GangScheduler scheduler(IslandId(0));
  int calls = 0;
  ASSERT_TRUE(scheduler.Submit(Desc(7), [&]() { ++calls; }).ok());
  const absl::Status dup = scheduler.Submit(Desc(7), [&]() { ++calls; });
  EXPECT_THAT(dup, StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(dup.message(), HasSubstr("run:7"));
  EXPECT_EQ(calls, 1);
}

TEST(GangSchedulerTest, FinishInsideDispatchDoesNotDeadlockAndKeepsOrder) {
  GangSchedulerOptions options;
  options.max_runs_in_flight = 1;
  GangScheduler scheduler(IslandId(0), std::move(options));
  std::vector<int64_t> order;
  // Each run finishes synchronously from its own dispatch, releasing the next queued one,
  // which the outer dispatcher then runs.
  std::vector<int64_t> to_submit = {0, 1, 2, 3};
  ASSERT_TRUE(scheduler
                  .Submit(Desc(0),
                          [&]() {
                            order.push_back(0);
                            for (int64_t r : {1, 2, 3}) {
                              ASSERT_TRUE(scheduler
                                              .Submit(Desc(r),
                                                      [&, r]() {
                                                        order.push_back(r);
                                                        ASSERT_TRUE(
                                                            scheduler.OnRunFinished(RunId(r)).ok());
                                                      })
                                              .ok());
                            }
                            ASSERT_TRUE(scheduler.OnRunFinished(RunId(0)).ok());
                          })
                  .ok());
  EXPECT_THAT(order, ElementsAre(0, 1, 2, 3));
  EXPECT_EQ(scheduler.stats().in_flight, 0);
}

TEST(GangSchedulerTest, CompletionDispatchesGoToTheExecutor) {
  std::vector<absl::AnyInvocable<void()>> tasks;
  GangSchedulerOptions options;
  options.max_runs_in_flight = 1;
  options.executor = [&tasks](absl::AnyInvocable<void()> task) { tasks.push_back(std::move(task)); };
  GangScheduler scheduler(IslandId(0), std::move(options));
  std::vector<int64_t> order;
  for (int64_t r = 0; r < 2; ++r) {
    ASSERT_TRUE(scheduler.Submit(Desc(r), [&order, r]() { order.push_back(r); }).ok());
  }
  EXPECT_THAT(order, ElementsAre(0));  // submit dispatches inline
  ASSERT_TRUE(scheduler.OnRunFinished(RunId(0)).ok());
  EXPECT_THAT(order, ElementsAre(0));  // released run waits for the executor
  ASSERT_EQ(tasks.size(), 1);
  std::move(tasks[0])();
  EXPECT_THAT(order, ElementsAre(0, 1));
  // A follow-up of an in-flight run also goes through the executor, in island order.
  ASSERT_TRUE(scheduler.FollowUp(RunId(1), [&order]() { order.push_back(100); }).ok());
  ASSERT_EQ(tasks.size(), 2);
  std::move(tasks[1])();
  EXPECT_THAT(order, ElementsAre(0, 1, 100));
  EXPECT_THAT(scheduler.FollowUp(RunId(0), []() {}),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(scheduler.stats().follow_ups, 1);
}

TEST(GangSchedulerTest, MultiIslandRunsKeepOneRelativeOrderOnSharedIslands) {
  constexpr int kIslands = 3;
  std::vector<std::unique_ptr<GangScheduler>> schedulers;
  for (int i = 0; i < kIslands; ++i) {
    GangSchedulerOptions options;
    options.max_runs_in_flight = 2;  // forces queueing, so admission order matters too
    schedulers.push_back(std::make_unique<GangScheduler>(IslandId(i), std::move(options)));
  }
  std::vector<std::vector<FakeHost>> hosts(kIslands);
  for (auto& island_hosts : hosts) island_hosts = std::vector<FakeHost>(2);
  // Island sets used by runs; listed in descending order to check that callers need not sort.
  const std::vector<std::vector<int>> spans = {{1, 0}, {2, 1}, {2, 0}, {2, 1, 0}, {1}};
  std::atomic<int64_t> next_run{0};
  std::atomic<int64_t> expected_parts{0};
  constexpr int kRunsPerThread = 150;
  auto submitter = [&](int64_t client) {
    for (int i = 0; i < kRunsPerThread; ++i) {
      const int64_t run = next_run.fetch_add(1);
      const std::vector<int>& span = spans[(run + client) % spans.size()];
      expected_parts += span.size();
      std::vector<GangScheduler::IslandPart> parts;
      for (int island : span) {
        GangScheduler* s = schedulers[island].get();
        // Each island finishes the run as soon as its part is sent, releasing queued runs.
        parts.push_back({s, [&hosts, island, s, run]() {
                           for (FakeHost& h : hosts[island]) h.Receive(RunId(run));
                           ASSERT_TRUE(s->OnRunFinished(RunId(run)).ok());
                         }});
      }
      ASSERT_TRUE(GangScheduler::SubmitAcrossIslands(Desc(run, client), std::move(parts)).ok());
    }
  };
  std::thread a(submitter, 0), b(submitter, 1), c(submitter, 2);
  a.join();
  b.join();
  c.join();
  std::vector<std::vector<int64_t>> orders;
  for (int i = 0; i < kIslands; ++i) {
    orders.push_back(hosts[i][0].order());
    EXPECT_EQ(hosts[i][1].order(), orders[i]);
    EXPECT_EQ(schedulers[i]->stats().queued, 0);
  }
  // For every pair of islands, the runs they share appear in the same relative order.
  for (int i = 0; i < kIslands; ++i) {
    for (int j = i + 1; j < kIslands; ++j) {
      std::set<int64_t> on_j(orders[j].begin(), orders[j].end());
      std::set<int64_t> on_i(orders[i].begin(), orders[i].end());
      std::vector<int64_t> shared_i, shared_j;
      for (int64_t r : orders[i]) if (on_j.count(r)) shared_i.push_back(r);
      for (int64_t r : orders[j]) if (on_i.count(r)) shared_j.push_back(r);
      EXPECT_FALSE(shared_i.empty());
      EXPECT_EQ(shared_i, shared_j) << "islands " << i << " and " << j;
    }
  }
  // No island lost or duplicated a run.
  int64_t total = 0;
  for (const auto& o : orders) {
    EXPECT_EQ(std::set<int64_t>(o.begin(), o.end()).size(), o.size());
    total += o.size();
  }
  EXPECT_EQ(total, expected_parts.load());
}

TEST(GangSchedulerTest, AcrossIslandsRejectsRepeatedIslandAndQueuesNothing) {
  GangScheduler s(IslandId(0));
  int calls = 0;
  std::vector<GangScheduler::IslandPart> parts;
  parts.push_back({&s, [&]() { ++calls; }});
  parts.push_back({&s, [&]() { ++calls; }});
  EXPECT_THAT(GangScheduler::SubmitAcrossIslands(Desc(1), std::move(parts)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(s.stats().submitted, 0);
}

TEST(GangSchedulerTest, AHeldIslandDispatchesOnlyTheHoldersFollowUpsUntilReleased) {
  GangScheduler scheduler(IslandId(0));
  std::vector<int64_t> sent;  // run ids, in dispatch order (10 + k: the holder's follow-up k)
  auto record = [&sent](int64_t id) { return [&sent, id]() { sent.push_back(id); }; };
  ASSERT_THAT(scheduler.Submit(Desc(1), [&]() {
    sent.push_back(1);
    // The holder's first messages went out; what comes next depends on a value.
    EXPECT_THAT(scheduler.Hold(RunId(1)), IsOk());
  }), IsOk());
  EXPECT_EQ(scheduler.holder(), RunId(1));
  ASSERT_THAT(scheduler.Submit(Desc(2), record(2)), IsOk());  // admitted, but held back
  ASSERT_THAT(scheduler.Submit(Desc(3), record(3)), IsOk());
  EXPECT_THAT(sent, ElementsAre(1));
  ASSERT_THAT(scheduler.FollowUp(RunId(1), record(11)), IsOk());  // the value arrived
  EXPECT_THAT(sent, ElementsAre(1, 11));
  EXPECT_THAT(scheduler.Hold(RunId(2)), StatusIs(absl::StatusCode::kFailedPrecondition,
                                                 HasSubstr("is held by run:1")));
  ASSERT_THAT(scheduler.FollowUp(RunId(1), record(12)), IsOk());
  ASSERT_THAT(scheduler.Release(RunId(1)), IsOk());
  EXPECT_THAT(sent, ElementsAre(1, 11, 12, 2, 3));
  // A follow-up still waiting when the hold ends goes before the runs that waited behind it.
  std::vector<absl::AnyInvocable<void()>> later;  // the executor runs its drains when told
  GangScheduler lazy(IslandId(1), GangSchedulerOptions{.executor = [&later](absl::AnyInvocable<void()> task) {
                       later.push_back(std::move(task));
                     }});
  std::vector<int64_t> order;
  ASSERT_THAT(lazy.Submit(Desc(1), [&]() { order.push_back(1); EXPECT_THAT(lazy.Hold(RunId(1)), IsOk()); }), IsOk());
  ASSERT_THAT(lazy.Submit(Desc(2), [&]() { order.push_back(2); }), IsOk());
  ASSERT_THAT(lazy.FollowUp(RunId(1), [&]() { order.push_back(11); }), IsOk());  // not drained yet
  ASSERT_THAT(lazy.Release(RunId(1)), IsOk());  // its drain is left to the executor
  ASSERT_THAT(lazy.Submit(Desc(3), [&]() { order.push_back(3); }), IsOk());
  EXPECT_THAT(order, ElementsAre(1));
  for (size_t i = 0; i < later.size(); ++i) std::move(later[i])();
  EXPECT_THAT(order, ElementsAre(1, 11, 2, 3));
  EXPECT_FALSE(scheduler.holder().valid());
  EXPECT_THAT(scheduler.Release(RunId(1)), StatusIs(absl::StatusCode::kNotFound));
  // Finishing a holder also ends its hold.
  ASSERT_THAT(scheduler.Submit(Desc(4), [&]() { EXPECT_THAT(scheduler.Hold(RunId(4)), IsOk()); }), IsOk());
  ASSERT_THAT(scheduler.Submit(Desc(5), record(5)), IsOk());
  EXPECT_THAT(sent, ElementsAre(1, 11, 12, 2, 3));
  ASSERT_THAT(scheduler.OnRunFinished(RunId(4)), IsOk());
  EXPECT_THAT(sent, ElementsAre(1, 11, 12, 2, 3, 5));
  EXPECT_THAT(scheduler.Hold(RunId(9)), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(GangSchedulerTest, APolicyOrdersWhatWaitsBehindTheWindow) {
  GangSchedulerOptions options;
  options.max_runs_in_flight = 1;
  options.policy = std::make_unique<PriorityPolicy>();
  GangScheduler scheduler(IslandId(0), std::move(options));
  EXPECT_EQ(scheduler.window(), 1);
  std::vector<int64_t> order;
  const std::vector<std::pair<int64_t, int64_t>> runs = {{0, 0}, {1, 1}, {2, 5}, {3, 1}};
  for (auto [run, priority] : runs) {
    ASSERT_TRUE(
        scheduler.Submit(Desc(run, run, priority), [&order, run]() { order.push_back(run); }).ok());
  }
  for (int64_t run : {0, 2, 1, 3}) ASSERT_TRUE(scheduler.OnRunFinished(RunId(run), 10 * run).ok());
  EXPECT_THAT(order, ElementsAre(0, 2, 1, 3));
  const GangSchedulerStats stats = scheduler.stats();
  EXPECT_EQ(stats.policy, "priority");
  EXPECT_EQ(stats.device_nanos, 60);
  ASSERT_EQ(stats.clients.size(), 4u);
  EXPECT_EQ(stats.clients[2].device_nanos, 20);
}

TEST(GangSchedulerTest, TheWindowDefaultsToThePolicys) {
  EXPECT_EQ(GangScheduler(IslandId(0)).window(), FifoPolicy().default_window());
  GangSchedulerOptions options;
  options.policy = std::make_unique<SharePolicy>();
  EXPECT_EQ(GangScheduler(IslandId(0), std::move(options)).window(), kOrderingWindow);
  GangSchedulerOptions set;
  set.max_runs_in_flight = 7;
  set.policy = std::make_unique<SharePolicy>();
  EXPECT_EQ(GangScheduler(IslandId(0), std::move(set)).window(), 7);
}

}  // namespace
}  // namespace pw
