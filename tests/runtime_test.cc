// Integration: the runtime spine end to end in one process (client -> controller -> hosts).
#include <algorithm>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/client/client.h"
#include "pathways/cluster/local_cluster.h"
#include "tests/test_util.h"

namespace pw {
namespace {

using testing_util::RunOrderPerDevice;
using testing_util::Unwrap;

using ::testing::HasSubstr;
using ir::FunctionBuilder;
using ir::Value;

// x -> all_reduce_sum(x) + 1 on every shard.
std::vector<Value> Step(FunctionBuilder& b, absl::Span<const Value> x) {
  return {b.Add(b.AllReduce(x[0], ir::ReduceKind::kSum), b.ConstantScalar(1.0f))};
}

TEST(RuntimeTest, TwoClientsRunCollectiveProgramsConcurrentlyInOneGangOrder) {
  auto cluster = Unwrap(LocalCluster::Start({.hosts_per_island = 2, .devices_per_host = 4, .trace = true}));
  constexpr int kRuns = 20, kChain = 4;
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(2);
  for (int c = 0; c < 2; ++c) {
    threads.emplace_back([&, c] {
      auto client = Unwrap(Client::Connect(cluster->controller(), absl::StrCat("client", c)));
      VirtualSlice slice = Unwrap(client->GetDevices(8));  // both clients span all 8 devices
      PmapFunction step = client->Pmap("step", slice, Step);
      ProgramTracer t(*client, "chain");
      Traced v = t.Input({{ir::DType::kF32, {}}, slice.id});
      for (int i = 0; i < kChain; ++i) v = step(t, {v})[0];
      Program program = Unwrap(t.Build({v}));
      std::vector<ir::Literal> zeros(8, ir::Literal::Scalar<float>(static_cast<float>(c)));
      Array x = Unwrap(client->Put(slice, std::move(zeros)));
      std::vector<Array> outs;
      for (int r = 0; r < kRuns; ++r) outs.push_back(Unwrap(program.Run({x}))[0]);
      // x -> 8x + 1, kChain times.
      float expect = static_cast<float>(c);
      for (int i = 0; i < kChain; ++i) expect = 8 * expect + 1;
      for (Array& o : outs) {
        absl::StatusOr<ir::Literal> l = o.ToLiteral();
        if (!l.ok()) {
          results[c] = l.status();
          return;
        }
        for (float got : l->data<float>()) {
          if (got != expect) {
            results[c] = absl::InternalError(absl::StrCat("client ", c, ": got ", got, " want ", expect));
            return;
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const absl::Status& s : results) EXPECT_TRUE(s.ok()) << s;

  // Every device ran the gangs in the same order.
  auto order = RunOrderPerDevice(cluster->trace().TakeEvents());
  ASSERT_EQ(order.size(), 8u);
  const std::vector<int64_t>& first = order.begin()->second;
  EXPECT_EQ(first.size(), static_cast<size_t>(2 * kRuns * kChain));
  for (const auto& [device, runs] : order) EXPECT_EQ(runs, first) << "device lane " << device;
}

TEST(RuntimeTest, CallsOnSlicesOfDifferentHostsMoveDataHostToHost) {
  auto cluster = Unwrap(LocalCluster::Start({.hosts_per_island = 2, .devices_per_host = 2, .trace = true}));
  auto client = Unwrap(Client::Connect(cluster->controller(), "pipeline"));
  // Load spreading puts the second 2-device slice on the other host's devices.
  VirtualSlice s0 = Unwrap(client->GetDevices(2));
  VirtualSlice s1 = Unwrap(client->GetDevices(2));
  std::set<DeviceId> d0(s0.devices.begin(), s0.devices.end());
  for (DeviceId d : s1.devices) ASSERT_FALSE(d0.contains(d)) << "slices share " << d;
  PmapFunction twice = client->Pmap("twice", s0, [](FunctionBuilder& b, absl::Span<const Value> x) {
    return std::vector<Value>{b.Multiply(x[0], b.ConstantScalar(2.0f))};
  });
  PmapFunction inc = client->Pmap("inc", s1, [](FunctionBuilder& b, absl::Span<const Value> x) {
    return std::vector<Value>{b.Add(x[0], b.ConstantScalar(1.0f))};
  });
  ProgramTracer t(*client, "two_hosts");
  Traced v = t.Input({{ir::DType::kF32, {3}}, s0.id});
  Program p = Unwrap(t.Build({inc(t, twice(t, {v}))[0]}));
  Array x = Unwrap(client->PutGlobal(s0, ir::Literal::Create<float>({2, 3}, {1, 2, 3, 4, 5, 6})));
  Array y = Unwrap(p.Run({x}))[0];
  ir::Literal out = Unwrap(y.ToLiteral());
  EXPECT_THAT(out.data<float>(), ::testing::ElementsAre(3, 5, 7, 9, 11, 13));
  EXPECT_EQ(y.devices(), s1.devices);

  // The shards crossed hosts through send/recv steps (never through the controller). A sender
  // records its event when its send finishes, possibly after the receiver handed the value on.
  int sends = 0, recvs = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while ((sends < 2 || recvs < 2) && absl::Now() < deadline) {
    for (const TraceEvent& e : cluster->trace().TakeEvents()) {
      if (e.category != "transfer") continue;
      if (e.name.rfind("send", 0) == 0) ++sends;
      if (e.name.rfind("recv", 0) == 0) ++recvs;
    }
    if (sends < 2 || recvs < 2) absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(sends, 2);
  EXPECT_EQ(recvs, 2);
}

TEST(RuntimeTest, TraceOfARunHasDispatchExecuteAndTransferEvents) {
  auto cluster = Unwrap(LocalCluster::Start({.hosts_per_island = 2, .devices_per_host = 1, .trace = true}));
  auto client = Unwrap(Client::Connect(cluster->controller(), "trace"));
  VirtualSlice s0 = Unwrap(client->GetDevices(1));
  VirtualSlice s1 = Unwrap(client->GetDevices(1));
  auto body = [](FunctionBuilder& b, absl::Span<const Value> x) { return std::vector<Value>{b.Exp(x[0])}; };
  PmapFunction f0 = client->Pmap("f0", s0, body), f1 = client->Pmap("f1", s1, body);
  ProgramTracer t(*client, "traced");
  Traced v = t.Input({{ir::DType::kF32, {4}}, s0.id});
  Program p = Unwrap(t.Build({f1(t, f0(t, {v}))[0]}));
  Array x = Unwrap(client->Put(s0, {ir::Literal(ir::TensorType{ir::DType::kF32, {4}})}));
  ASSERT_TRUE(Unwrap(p.Run({x}))[0].Await().ok());
  // The output is ready before the hosts have finished their bookkeeping: a transfer's event is
  // recorded when its send or receive step completes, which may come after the consumer ran.
  constexpr const char* kCategories[] = {"\"cat\":\"dispatch\"", "\"cat\":\"execute\"",
                                         "\"cat\":\"transfer\""};
  const auto has_all = [&](const std::string& json) {
    for (const char* cat : kCategories) {
      if (json.find(cat) == std::string::npos) return false;
    }
    return true;
  };
  std::string json = cluster->trace().ToJson();
  for (const absl::Time give_up = absl::Now() + absl::Seconds(10);
       !has_all(json) && absl::Now() < give_up; json = cluster->trace().ToJson()) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  for (const char* cat : kCategories) EXPECT_THAT(json, HasSubstr(cat));
  std::string path = testing::TempDir() + "/runtime_trace.json";
  ASSERT_TRUE(cluster->trace().WriteJson(path).ok());
}

}  // namespace
}  // namespace pw
