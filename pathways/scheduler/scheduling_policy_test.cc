// Conformance of every SchedulingPolicy (the order invariants), and what each policy promises.
#include "pathways/scheduler/scheduling_policy.h"

#include <map>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/scheduler/client_queues.h"
#include "pathways/scheduler/priority_policy.h"
#include "pathways/scheduler/share_policy.h"

namespace pw {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

RunDescriptor MakeRun(int64_t sequence, int64_t client, int64_t weight = 1, int64_t priority = 0,
                  bool spans = false, int64_t program = 0) {
  RunDescriptor d;
  d.run = RunId(sequence + 1);
  d.client = ClientId(client);
  d.program = ProgramId(program);
  d.weight = weight;
  d.priority = priority;
  d.spans_islands = spans;
  d.sequence = sequence;
  return d;
}

class PolicyConformanceTest : public ::testing::TestWithParam<const char*> {
 protected:
  std::unique_ptr<SchedulingPolicy> Make() {
    absl::StatusOr<std::unique_ptr<SchedulingPolicy>> p = MakeSchedulingPolicy(GetParam());
    EXPECT_TRUE(p.ok()) << p.status();
    return *std::move(p);
  }
};

// Whatever it prefers, a policy lets each client's runs leave in their order, and runs
// spanning islands in sequence order; nothing is lost or repeated.
TEST_P(PolicyConformanceTest, KeepsEachClientsOrderAndTheSpanningRunsOrder) {
  std::unique_ptr<SchedulingPolicy> policy = Make();
  EXPECT_STREQ(policy->name(), GetParam());
  EXPECT_GE(policy->default_window(), 1);
  std::mt19937 rng(7);
  const int64_t kWeights[] = {1, 3, 8, 2}, kPriorities[] = {0, 5, -2, 5};
  int64_t sequence = 0;
  std::map<int64_t, int64_t> last_of_client;
  int64_t last_spanning = -1;
  std::vector<RunDescriptor> in_flight;
  int64_t popped = 0;
  for (int round = 0; round < 2000; ++round) {
    if (rng() % 3 != 0) {
      const int64_t c = rng() % 4;
      policy->Push(MakeRun(sequence++, c, kWeights[c], kPriorities[c], rng() % 5 == 0, rng() % 3));
    }
    EXPECT_EQ(policy->empty(), policy->size() == 0);
    if (!policy->empty() && in_flight.size() < 3) {
      const RunDescriptor r = policy->Pop();
      ++popped;
      auto [it, fresh] = last_of_client.try_emplace(r.client.value(), r.sequence);
      if (!fresh) {
        EXPECT_LT(it->second, r.sequence) << "client " << r.client << " reordered";
        it->second = r.sequence;
      }
      if (r.spans_islands) {
        EXPECT_LT(last_spanning, r.sequence) << "spanning runs reordered";
        last_spanning = r.sequence;
      }
      policy->OnAdmitted(r);
      in_flight.push_back(r);
    }
    if (!in_flight.empty() && rng() % 2 == 0) {
      const size_t i = rng() % in_flight.size();
      policy->OnFinished(in_flight[i], 1000 * (1 + in_flight[i].program.value()));
      in_flight.erase(in_flight.begin() + static_cast<std::ptrdiff_t>(i));
    }
  }
  while (!policy->empty()) {
    policy->Pop();
    ++popped;
  }
  EXPECT_EQ(popped, sequence);
}

INSTANTIATE_TEST_SUITE_P(Policies, PolicyConformanceTest,
                         ::testing::Values("fifo", "priority", "share"));

TEST(SchedulingPolicyTest, UnknownNamesAreClearErrors) {
  EXPECT_THAT(MakeSchedulingPolicy("lottery").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown scheduling policy 'lottery'; choose one of: fifo, priority, share")));
}

TEST(ClientQueuesTest, ASpanningRunWaitsForOlderSpanningRunsOfOtherClients) {
  ClientQueues q;
  q.Push(MakeRun(0, 1, 1, 0, /*spans=*/false));
  q.Push(MakeRun(1, 1, 1, 0, /*spans=*/true));
  q.Push(MakeRun(2, 2, 1, 0, /*spans=*/true));
  q.Push(MakeRun(3, 2, 1, 0, /*spans=*/false));
  // Client 2 is preferred, but its head (sequence 2) must wait for sequence 1.
  auto prefer_2 = [](const RunDescriptor& head) { return head.client == ClientId(2) ? 0.0 : 1.0; };
  std::vector<int64_t> order;
  while (!q.empty()) order.push_back(q.PopBest(prefer_2).sequence);
  EXPECT_THAT(order, ElementsAre(0, 1, 2, 3));
}

TEST(PriorityPolicyTest, HigherPriorityClientsFirstFifoAmongEquals) {
  PriorityPolicy p;
  p.Push(MakeRun(0, 1, 1, 0));
  p.Push(MakeRun(1, 2, 1, 3));
  p.Push(MakeRun(2, 3, 1, 3));
  p.Push(MakeRun(3, 2, 1, 3));
  p.Push(MakeRun(4, 4, 1, -1));
  std::vector<int64_t> order;
  while (!p.empty()) order.push_back(p.Pop().sequence);
  EXPECT_THAT(order, ElementsAre(1, 2, 3, 0, 4));
}

// One device, window 1: every client always has a run waiting; each client's program takes its
// own time. Returns each client's device time.
std::map<int64_t, int64_t> Simulate(SharePolicy& p, const std::vector<int64_t>& weights,
                                    const std::vector<int64_t>& run_nanos, int64_t total_nanos,
                                    int64_t* sequence) {
  std::map<int64_t, int64_t> used;
  for (size_t c = 0; c < weights.size(); ++c) {
    p.Push(MakeRun((*sequence)++, static_cast<int64_t>(c), weights[c], 0, false, static_cast<int64_t>(c)));
  }
  for (int64_t now = 0; now < total_nanos;) {
    const RunDescriptor r = p.Pop();
    p.OnAdmitted(r);
    const int64_t c = r.client.value();
    p.OnFinished(r, run_nanos[c]);
    used[c] += run_nanos[c];
    now += run_nanos[c];
    p.Push(MakeRun((*sequence)++, c, weights[c], 0, false, c));
  }
  return used;
}

TEST(SharePolicyTest, DeviceTimeFollowsTheWeightsWhateverTheProgramLengths) {
  for (const std::vector<int64_t>& weights : {std::vector<int64_t>{1, 1, 1, 1}, {1, 2, 4, 8}}) {
    SharePolicy p;
    int64_t sequence = 0;
    // Programs of 40 us, 330 us, 1.04 ms and 2.4 ms.
    const std::map<int64_t, int64_t> used =
        Simulate(p, weights, {40'000, 330'000, 1'040'000, 2'400'000}, int64_t{2'000'000'000}, &sequence);
    int64_t total = 0, weight_sum = 0;
    for (const auto& [c, ns] : used) total += ns;
    for (int64_t w : weights) weight_sum += w;
    for (size_t c = 0; c < weights.size(); ++c) {
      const double share = static_cast<double>(used.at(static_cast<int64_t>(c))) / total;
      const double want = static_cast<double>(weights[c]) / weight_sum;
      EXPECT_NEAR(share, want, 0.01) << "client " << c << " of weights " << weights[0] << ":"
                                     << weights[1] << ":" << weights[2] << ":" << weights[3];
    }
  }
}

TEST(SharePolicyTest, AnIdleClientSavesNoCredit) {
  SharePolicy p;
  int64_t sequence = 0;
  // Client 0 alone for a second of device time...
  Simulate(p, {1}, {100'000}, 1'000'000'000, &sequence);
  // ...then client 1 arrives: it is not owed that second. Over the next 10 ms both get half.
  std::map<int64_t, int64_t> used;
  p.Push(MakeRun(sequence++, 1, 1, 0, false, 1));
  for (int i = 0; i < 100; ++i) {
    const RunDescriptor r = p.Pop();
    p.OnAdmitted(r);
    p.OnFinished(r, 100'000);
    used[r.client.value()] += 100'000;
    p.Push(MakeRun(sequence++, r.client.value(), 1, 0, false, r.client.value()));
  }
  EXPECT_NEAR(static_cast<double>(used[1]) / (used[0] + used[1]), 0.5, 0.02);
}

TEST(SharePolicyTest, AnEstimateIsCorrectedToTheMeasuredTime) {
  SharePolicy p;
  RunDescriptor a = MakeRun(0, 1, 4, 0, false, 9);
  p.OnAdmitted(a);
  EXPECT_EQ(p.virtual_time(ClientId(1)), 0);  // a program never seen: nothing to estimate from
  p.OnFinished(a, 4'000);
  EXPECT_EQ(p.virtual_time(ClientId(1)), 1'000);  // 4 us over weight 4
  RunDescriptor b = MakeRun(1, 1, 4, 0, false, 9);
  p.OnAdmitted(b);
  EXPECT_EQ(p.virtual_time(ClientId(1)), 2'000);  // charged the program's 4 us up front
  p.OnFinished(b, 8'000);
  EXPECT_EQ(p.virtual_time(ClientId(1)), 3'000);  // corrected to the 8 us it took
}

}  // namespace
}  // namespace pw
