// Clients sharing an island: the share policy divides measured device time by the clients'
// weights, the priority policy serves the higher priority first, and every client's weight and
// device time show in the cluster's status — in one process and across processes (the weights
// and the measured device time cross the wire). Shares are checked with a generous tolerance;
// bench/multitenancy_bench.cc measures them precisely (docs/benchmarks.md).
#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/client/client.h"
#include "pathways/cluster/local_cluster.h"
#include "pathways/cluster/process_cluster.h"
#include "tests/test_util.h"

namespace pw {
namespace {

using ::testing::HasSubstr;
using testing_util::Unwrap;

// Every kernel takes 20 ms of simulated time on the island's single device: long enough that
// the device, not the dispatch path (about 1,000 runs/s across processes on 2 idle cores, a few
// hundred beside a build, fewer under the sanitizers), is what the clients compete for. Shares
// can only be enforced then: the policy is work-conserving, so a tenant whose queue runs dry
// lends its turn to the other.
constexpr int64_t kKernelNanos = 20'000'000;
// Runs each tenant keeps in flight: deep enough that its queue at the controller never runs
// dry while its completions travel back and its next runs are submitted.
constexpr size_t kTenantDepth = 16;

enum class Where { kInProcess, kProcesses };

class Island {
 public:
  Island(Where where, const std::string& scheduler, ArrayQuota quota = {},
         int64_t memory_per_device = int64_t{64} << 20) {
    if (where == Where::kProcesses) {
      ProcessClusterOptions o;
      o.quota = quota;
      o.hosts_per_island = 1;
      o.devices_per_host = 1;
      o.memory_per_device_bytes = memory_per_device;
      o.device_kind = DeviceKind::kSim;
      o.sim_kernel_us = kKernelNanos / 1000;
      o.sim_skip_compute = true;
      o.scheduler = scheduler;
      processes_ = Unwrap(ProcessCluster::Start(o));
    } else {
      local_ = Unwrap(LocalCluster::Start(LocalClusterOptions{
          .hosts_per_island = 1,
          .devices_per_host = 1,
          .memory_per_device_bytes = memory_per_device,
          .scheduler = scheduler,
          .quota = quota,
          .device_kind = DeviceKind::kSim,
          .sim = SimDeviceOptions{.model = {.kernel_nanos = kKernelNanos}, .execute = false}}));
    }
  }
  absl::StatusOr<std::unique_ptr<Client>> Connect(const std::string& name, ConnectOptions options) {
    if (processes_ != nullptr) {
      return Client::ConnectTo(processes_->address(), name, absl::Seconds(10), options);
    }
    return Client::Connect(local_->controller(), name, options);
  }

 private:
  std::unique_ptr<LocalCluster> local_;
  std::unique_ptr<ProcessCluster> processes_;
};

// A client keeping kTenantDepth runs of a one-kernel program in flight until told to stop.
class Tenant {
 public:
  Tenant(Island& island, int index, ConnectOptions options)
      : client_(Unwrap(island.Connect(absl::StrCat("tenant", index), options))) {
    VirtualSlice slice = Unwrap(client_->GetDevices(1));
    fn_ = std::make_unique<PmapFunction>(client_->Pmap(
        absl::StrCat("t", index), slice,
        [](ir::FunctionBuilder& b, absl::Span<const ir::Value> x) { return std::vector<ir::Value>{b.Tanh(x[0])}; }));
    std::vector<ir::Literal> shards;
    shards.push_back(Unwrap(ir::Literal::Create<float>(ir::Shape{4}, std::vector<float>(4, 0.5f))));
    x_ = Unwrap(client_->Put(slice, std::move(shards)));
    EXPECT_THAT(Unwrap((*fn_)({x_}))[0].Await(), IsOk());
  }
  ~Tenant() { Stop(); }
  void Start() {
    thread_ = std::thread([this] {
      std::deque<Array> in_flight;
      while (!stop_.load()) {
        while (in_flight.size() < kTenantDepth) {
          absl::StatusOr<std::vector<Array>> out = (*fn_)({x_});
          ASSERT_THAT(out.status(), IsOk());
          in_flight.push_back((*out)[0]);
        }
        ASSERT_THAT(in_flight.front().Await(), IsOk());
        in_flight.pop_front();
      }
      for (Array& a : in_flight) EXPECT_THAT(a.Await(), IsOk());
    });
  }
  // Stops submitting; Stop() then waits for the runs in flight. Both tenants are told first: a
  // starved tenant's runs finish only once the other stops submitting.
  void Signal() { stop_.store(true); }
  void Stop() {
    Signal();
    if (thread_.joinable()) thread_.join();
  }
  Client& client() { return *client_; }
  int64_t DeviceNanos() {
    for (const ClientStatus& c : client_->controller().Status().clients) {
      if (c.id == client_->id()) return c.device_nanos;
    }
    return -1;
  }

 private:
  std::unique_ptr<Client> client_;
  std::unique_ptr<PmapFunction> fn_;
  Array x_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
};

// Runs both tenants until together they used `total` of device time beyond where they were;
// returns the first tenant's part of it. Measured from when both have run (`both`: one thread
// may get going well before the other) or, under strict priority, where the lower one may never
// run, from when either has.
double ShareOfFirst(Tenant& a, Tenant& b, int64_t total, bool both = true) {
  const int64_t a_start = a.DeviceNanos(), b_start = b.DeviceNanos();
  a.Start();
  b.Start();
  const absl::Time deadline = absl::Now() + absl::Seconds(60);  // a hang guard, not a bound
  int64_t a0 = a_start, b0 = b_start;
  auto started = [&] { return both ? (a0 != a_start && b0 != b_start) : (a0 != a_start || b0 != b_start); };
  while (!started() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
    a0 = a.DeviceNanos();
    b0 = b.DeviceNanos();
  }
  int64_t da = 0, db = 0;
  while (da + db < total && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
    da = a.DeviceNanos() - a0;
    db = b.DeviceNanos() - b0;
  }
  a.Signal();
  b.Signal();
  a.Stop();
  b.Stop();
  EXPECT_GE(da + db, total) << "the island did not run " << total << " ns of kernels";
  return da + db > 0 ? static_cast<double>(da) / (da + db) : 0;
}

class MultitenancyTest : public ::testing::TestWithParam<Where> {};

TEST_P(MultitenancyTest, TheSharePolicyDividesDeviceTimeByWeight) {
  Island island(GetParam(), "share");
  Tenant light(island, 0, {.weight = 1});
  Tenant heavy(island, 1, {.weight = 3});
  // 100 kernels: the heavy client should get 3/4 of them.
  const double light_share = ShareOfFirst(light, heavy, 100 * kKernelNanos);
  EXPECT_GT(light_share, 0.10);
  EXPECT_LT(light_share, 0.40);
  const ClusterStatus status = light.client().controller().Status();
  ASSERT_EQ(status.schedulers.size(), 1u);
  EXPECT_EQ(status.schedulers[0].policy, "share");
  EXPECT_EQ(status.schedulers[0].window, 4);
  int seen = 0;
  for (const ClientStatus& c : status.clients) {
    if (c.id == heavy.client().id()) {
      EXPECT_EQ(c.weight, 3);
      ++seen;
    }
    if (c.id == light.client().id()) {
      EXPECT_EQ(c.weight, 1);
      ++seen;
    }
  }
  EXPECT_EQ(seen, 2);
}

TEST_P(MultitenancyTest, ThePriorityPolicyServesTheHigherPriorityFirst) {
  Island island(GetParam(), "priority");
  Tenant low(island, 0, {.priority = 0});
  Tenant high(island, 1, {.priority = 5});
  const double low_share = ShareOfFirst(low, high, 50 * kKernelNanos, /*both=*/false);
  EXPECT_LT(low_share, 0.25);  // only what ran while the high client had nothing waiting
}

TEST_P(MultitenancyTest, ConnectOptionsOutOfBoundsAreClearErrors) {
  Island island(GetParam(), "share");
  EXPECT_THAT(island.Connect("zero", {.weight = 0}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("weight 0 is outside [1, 1000000]")));
  EXPECT_THAT(island.Connect("huge", {.priority = int64_t{1} << 40}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("priority 1099511627776 is outside")));
}

// The operator's quotas bound each client alone: going over fails that client's allocation with
// RESOURCE_EXHAUSTED naming the quota; another client is unaffected; releasing makes room.
TEST_P(MultitenancyTest, QuotasBoundEachClientAlone) {
  Island island(GetParam(), "fifo", ArrayQuota{.memory_per_device_bytes = 1 << 20, .live_arrays = 3});
  std::unique_ptr<Client> a = Unwrap(island.Connect("a", {}));
  std::unique_ptr<Client> b = Unwrap(island.Connect("b", {}));
  VirtualSlice sa = Unwrap(a->GetDevices(1)), sb = Unwrap(b->GetDevices(1));
  auto half_mib = [](const VirtualSlice& s, Client& c) {  // 512 KiB on the slice's device
    std::vector<ir::Literal> shards;
    shards.push_back(Unwrap(ir::Literal::Create<float>(ir::Shape{128 << 10}, std::vector<float>(128 << 10, 1.f))));
    return c.Put(s, std::move(shards));
  };
  Array a1 = Unwrap(half_mib(sa, *a));
  Array a2 = Unwrap(half_mib(sa, *a));
  EXPECT_THAT(half_mib(sa, *a).status(),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("memory quota of 1048576 bytes per device")));
  // A run whose output would not fit fails at submission, before anything runs.
  PmapFunction copy = a->Pmap("copy", sa, [](ir::FunctionBuilder& fb, absl::Span<const ir::Value> x) {
    return std::vector<ir::Value>{fb.Tanh(x[0])};
  });
  EXPECT_THAT(copy({a1}).status(), StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("quota")));
  // The other client has its own quota.
  Array b1 = Unwrap(half_mib(sb, *b));
  EXPECT_THAT(b1.Await(), IsOk());
  // Releasing makes room again, at once: a put waits for the releases sent before it.
  a2 = Array();
  absl::StatusOr<Array> again = half_mib(sa, *a);
  EXPECT_THAT(again.status(), IsOk());
  // The live-array quota: small arrays, the fourth is refused.
  std::unique_ptr<Client> c = Unwrap(island.Connect("c", {}));
  VirtualSlice sc = Unwrap(c->GetDevices(1));
  std::vector<Array> small;
  for (int i = 0; i < 3; ++i) small.push_back(Unwrap(c->PutGlobal(sc, ir::Literal::Create<float>({1, 1}, {1.f}))));
  EXPECT_THAT(c->PutGlobal(sc, ir::Literal::Create<float>({1, 1}, {1.f})).status(),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("quota of 3 live arrays")));
  for (const ClientStatus& s : a->controller().Status().clients) {
    if (s.id == a->id()) EXPECT_EQ(s.memory_bytes, 1 << 20);
  }
}

// Back-pressure: a run whose temporary fits the device but not the memory free right now waits
// for the client's earlier run to release its own, instead of failing. A program of two calls
// keeps a 512 KiB temporary between them; two runs of it, dispatched at once on a 1 MiB device
// that also holds the 256 KiB input, need 1.25 MiB together: the second waits for the first.
TEST_P(MultitenancyTest, AnAllocationWaitsForMemoryTheClientsEarlierWorkFrees) {
  Island island(GetParam(), "fifo", {}, int64_t{1} << 20);
  std::unique_ptr<Client> c = Unwrap(island.Connect("tight", {}));
  VirtualSlice s = Unwrap(c->GetDevices(1));
  PmapFunction widen = c->Pmap("widen", s, [](ir::FunctionBuilder& b, absl::Span<const ir::Value> x) {
    return std::vector<ir::Value>{b.Concatenate({x[0], x[0]}, 0)};  // 512 KiB
  });
  PmapFunction sum = c->Pmap("sum", s, [](ir::FunctionBuilder& b, absl::Span<const ir::Value> x) {
    return std::vector<ir::Value>{b.Reduce(x[0], {0}, ir::ReduceKind::kSum)};
  });
  ProgramTracer t(*c, "widen_then_sum");
  Traced in = t.Input({{ir::DType::kF32, {64 << 10}}, s.id});
  Program p = Unwrap(t.Build({sum(t, widen(t, {in}))[0]}));
  std::vector<ir::Literal> shards;
  shards.push_back(Unwrap(ir::Literal::Create<float>(ir::Shape{64 << 10}, std::vector<float>(64 << 10, 1.f))));
  Array x = Unwrap(c->Put(s, std::move(shards)));  // 256 KiB
  Array first = Unwrap(p.Run({x}))[0];
  Array second = Unwrap(p.Run({x}))[0];
  EXPECT_THAT(first.Await(), IsOk());
  EXPECT_THAT(second.Await(), IsOk());
  // What can never fit still fails at once, naming the device's capacity.
  PmapFunction huge = c->Pmap("huge", s, [](ir::FunctionBuilder& b, absl::Span<const ir::Value> x) {
    return std::vector<ir::Value>{b.Concatenate({x[0], x[0], x[0], x[0], x[0]}, 0)};  // 1.25 MiB
  });
  EXPECT_THAT(Unwrap(huge({x}))[0].Await(), StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("capacity")));
}

INSTANTIATE_TEST_SUITE_P(Islands, MultitenancyTest,
                         ::testing::Values(Where::kInProcess, Where::kProcesses),
                         [](const ::testing::TestParamInfo<Where>& info) {
                           return info.param == Where::kInProcess ? "InProcess" : "Processes";
                         });

TEST(MultitenancyOptionsTest, AnUnknownSchedulerIsAClearError) {
  EXPECT_THAT(LocalCluster::Start(LocalClusterOptions{.scheduler = "lottery"}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("LocalClusterOptions.scheduler: unknown scheduling policy 'lottery'")));
  ProcessClusterOptions o;
  o.scheduler = "lottery";
  EXPECT_THAT(ProcessCluster::Start(o).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ProcessClusterOptions.scheduler")));
}

}  // namespace
}  // namespace pw
