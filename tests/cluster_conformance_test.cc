// Conformance of the ControllerService as clients see it, run against every transport: the
// in-process cluster (LocalCluster) and a cluster of processes over gRPC (pw-controller and one
// pw-worker per host, started by ProcessCluster). The same client code, the same expectations.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/clock.h"
#include "pathways/base/logging.h"
#include "pathways/base/status_matchers.h"
#include "pathways/client/client.h"
#include "pathways/client/global_array.h"
#include "pathways/ir/mesh.h"
#include "tests/cluster_conformance.h"
#include "tests/test_cluster.h"
#include "tests/test_util.h"

namespace pw {
namespace {

using testing_util::RunOrderPerDevice;
using testing_util::Unwrap;

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ir::FunctionBuilder;
using ir::Value;
using testing_util::ClusterKind;
using testing_util::KindName;
using testing_util::TestCluster;

// The paper's Figure 2: a, b, c on 2 devices each; f([1, 2]) == ([3, 5], [2, 4]), with parallel
// and with sequential dispatch.
TEST_P(ClusterConformanceTest, Figure2GivesThePapersResultInBothDispatchModes) {
  auto client = Connect("figure2");
  VirtualSlice da = Unwrap(client->GetDevices(2));
  VirtualSlice db = Unwrap(client->GetDevices(2));
  VirtualSlice dc = Unwrap(client->GetDevices(2));
  PmapFunction a = client->Pmap("a", da, [](FunctionBuilder& b, absl::Span<const Value> x) { return Scale(b, x, 2.0); });
  PmapFunction b = client->Pmap("b", db, [](FunctionBuilder& fb, absl::Span<const Value> x) {
    return std::vector<Value>{fb.Add(x[0], fb.ConstantScalar(1.0f))};
  });
  PmapFunction c = client->Pmap("c", dc, [](FunctionBuilder& b, absl::Span<const Value> x) { return Scale(b, x, 0.5); });
  ProgramTracer f(*client, "f");
  Traced v = f.Input({{ir::DType::kF32, {}}, da.id});
  Traced x = a(f, {v})[0];
  Traced y = b(f, {x})[0];
  Traced z = a(f, {c(f, {x})[0]})[0];
  Program program = Unwrap(f.Build({y, z}));
  Array input = Unwrap(client->PutGlobal(da, ir::Literal::Create<float>({2}, {1.0f, 2.0f})));
  for (DispatchMode mode : {DispatchMode::kParallel, DispatchMode::kSequential}) {
    std::vector<Array> out = Unwrap(program.Run({input}, RunOptions{mode}));
    ASSERT_EQ(out.size(), 2u);
    EXPECT_THAT(Unwrap(out[0].ToLiteral()).data<float>(), ElementsAre(3.0f, 5.0f)) << DispatchModeName(mode);
    EXPECT_THAT(Unwrap(out[1].ToLiteral()).data<float>(), ElementsAre(2.0f, 4.0f)) << DispatchModeName(mode);
  }
}

// x -> all_reduce_sum(x) + 1 on every shard.
std::vector<Value> AllReducePlusOne(FunctionBuilder& b, absl::Span<const Value> x) {
  return {b.Add(b.AllReduce(x[0], ir::ReduceKind::kSum), b.ConstantScalar(1.0f))};
}

// Two clients run collective programs over the same 4 devices at once, one in each dispatch
// mode: every sum is right, nothing deadlocks, and every device ran the gangs in one order.
TEST_P(ClusterConformanceTest, TwoClientsCollectivesRunInOneGangOrderOnEveryDevice) {
  constexpr int kRuns = 10, kChain = 3;
  const int64_t t0 = MonotonicNanos();
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(2);
  for (int c = 0; c < 2; ++c) {
    threads.emplace_back([&, c] {
      auto client = Connect(absl::StrCat("gang-client", c));
      VirtualSlice slice = Unwrap(client->GetDevices(4));
      PmapFunction step = client->Pmap("step", slice, AllReducePlusOne);
      ProgramTracer t(*client, "chain");
      Traced v = t.Input({{ir::DType::kF32, {}}, slice.id});
      for (int i = 0; i < kChain; ++i) v = step(t, {v})[0];
      Program program = Unwrap(t.Build({v}));
      Array x = Unwrap(client->Put(slice, std::vector<ir::Literal>(4, ir::Literal::Scalar<float>(c))));
      const RunOptions options{c == 0 ? DispatchMode::kParallel : DispatchMode::kSequential};
      std::vector<Array> outs;
      for (int r = 0; r < kRuns; ++r) outs.push_back(Unwrap(program.Run({x}, options))[0]);
      float expect = static_cast<float>(c);
      for (int i = 0; i < kChain; ++i) expect = 4 * expect + 1;
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
  auto order = RunOrderPerDevice(EventsSince(t0));
  ASSERT_EQ(order.size(), 4u);
  const std::vector<int64_t>& first = order.begin()->second;
  EXPECT_EQ(first.size(), static_cast<size_t>(2 * kRuns * kChain));
  for (const auto& [device, runs] : order) EXPECT_EQ(runs, first) << "device lane " << device;
}

// A node that cannot get device memory fails with RESOURCE_EXHAUSTED naming it; its dependent
// carries that error; independent nodes of the same run succeed.
TEST_P(ClusterConformanceTest, OutOfMemoryFailsExactlyItsDependents) {
  auto client = Connect("oom");
  VirtualSlice s = Unwrap(client->GetDevices(2));
  constexpr int64_t kBig = kDeviceMemory;  // f32[kBig] is 4x a device's memory
  PmapFunction fine = client->Pmap("fine", s, [](FunctionBuilder& b, absl::Span<const Value> x) { return Scale(b, x, 2.0); });
  PmapFunction big = client->Pmap("big", s, [](FunctionBuilder& b, absl::Span<const Value> x) {
    return std::vector<Value>{b.Add(b.Iota({ir::DType::kF32, {kBig}}, 0), x[0])};
  });
  PmapFunction sum = client->Pmap("sum", s, [](FunctionBuilder& b, absl::Span<const Value> x) {
    return std::vector<Value>{b.Reduce(x[0], {0}, ir::ReduceKind::kSum)};
  });
  ProgramTracer t(*client, "oom");
  Traced v = t.Input({{ir::DType::kF32, {1}}, s.id});
  Traced ok = fine(t, {v})[0];
  Traced huge = big(t, {v})[0];
  Traced dependent = sum(t, {huge})[0];
  Program p = Unwrap(t.Build({ok, huge, dependent}));
  Array x = Unwrap(client->PutGlobal(s, ir::Literal::Create<float>({2, 1}, {1, 2})));
  std::vector<Array> out = Unwrap(p.Run({x}));
  EXPECT_THAT(Unwrap(out[0].ToLiteral()).data<float>(), ElementsAre(2.0f, 4.0f));
  const absl::Status oom = out[1].Await();
  EXPECT_THAT(oom, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(std::string(oom.message()), HasSubstr("node 'big'"));
  const absl::Status dep = out[2].Await();
  EXPECT_THAT(dep, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(std::string(dep.message()), HasSubstr("node 'big'"));
}

// Slices on different hosts: the consumer's host receives the shards from the producer's host
// (send / recv steps on the hosts), and the values are right.
TEST_P(ClusterConformanceTest, CallsOnSlicesOfDifferentHostsMoveDataHostToHost) {
  auto client = Connect("pipeline");
  VirtualSlice s0 = Unwrap(client->GetDevices(2));
  VirtualSlice s1 = Unwrap(client->GetDevices(2));
  std::set<DeviceId> d0(s0.devices.begin(), s0.devices.end());
  for (DeviceId d : s1.devices) ASSERT_FALSE(d0.contains(d)) << "slices share " << d;
  PmapFunction twice = client->Pmap("twice", s0, [](FunctionBuilder& b, absl::Span<const Value> x) { return Scale(b, x, 2.0); });
  PmapFunction inc = client->Pmap("inc", s1, [](FunctionBuilder& b, absl::Span<const Value> x) {
    return std::vector<Value>{b.Add(x[0], b.ConstantScalar(1.0f))};
  });
  ProgramTracer t(*client, "two_hosts");
  Traced v = t.Input({{ir::DType::kF32, {3}}, s0.id});
  Program p = Unwrap(t.Build({inc(t, twice(t, {v}))[0]}));
  const int64_t t0 = MonotonicNanos();
  Array x = Unwrap(client->PutGlobal(s0, ir::Literal::Create<float>({2, 3}, {1, 2, 3, 4, 5, 6})));
  Array y = Unwrap(p.Run({x}))[0];
  EXPECT_THAT(Unwrap(y.ToLiteral()).data<float>(), ElementsAre(3, 5, 7, 9, 11, 13));
  EXPECT_EQ(y.devices(), s1.devices);
  auto count = [](const std::vector<TraceEvent>& events, std::string_view prefix) {
    return std::count_if(events.begin(), events.end(), [&](const TraceEvent& e) {
      return e.category == "transfer" && e.name.rfind(prefix, 0) == 0;
    });
  };
  const std::vector<TraceEvent> events = EventuallyEventsSince(t0, [&](const std::vector<TraceEvent>& ev) {
    return count(ev, "send") >= 2 && count(ev, "recv") >= 2;
  });
  EXPECT_EQ(count(events, "send"), 2);
  EXPECT_EQ(count(events, "recv"), 2);
}

// Errors about a request come back as statuses naming the culprit, never as a hang.
TEST_P(ClusterConformanceTest, BadRequestsAreClearErrors) {
  auto client = Connect("errors");
  ControllerService& c = controller();
  absl::StatusOr<RunResult> r = c.Run(client->id(), ProgramId(987654), {}, {});
  EXPECT_THAT(r.status(), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("987654"));

  VirtualSlice s = Unwrap(client->GetDevices(2));
  PmapFunction f = client->Pmap("f", s, [](FunctionBuilder& b, absl::Span<const Value> x) { return Scale(b, x, 3.0); });
  ProgramTracer t(*client, "typed");
  Traced v = t.Input({{ir::DType::kF32, {2}}, s.id});
  Program p = Unwrap(t.Build({f(t, {v})[0]}));
  Array wrong = Unwrap(client->PutGlobal(s, ir::Literal::Create<float>({2, 3}, {1, 2, 3, 4, 5, 6})));
  absl::StatusOr<std::vector<Array>> bad = p.Run({wrong});
  EXPECT_THAT(bad.status(), StatusIs(absl::StatusCode::kInvalidArgument));

  absl::StatusOr<VirtualSlice> too_big = client->GetDevices(1000);
  EXPECT_FALSE(too_big.ok());
  EXPECT_THAT(std::string(too_big.status().message()), HasSubstr("1000"));

  EXPECT_THAT(c.ReleaseArray(client->id(), ArrayId(123456)), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(c.AwaitArray(client->id(), ArrayId(123456))->Await(),
              StatusIs(absl::StatusCode::kNotFound));
}

// Released arrays free their device memory; a disconnecting client frees everything it owned.
TEST_P(ClusterConformanceTest, MemoryReturnsToZeroAfterReleaseAndDisconnect) {
  {
    auto client = Connect("memory");
    VirtualSlice s = Unwrap(client->GetDevices(4));
    PmapFunction f = client->Pmap("f", s, [](FunctionBuilder& b, absl::Span<const Value> x) { return Scale(b, x, 2.0); });
    Array x = Unwrap(client->PutGlobal(s, ir::Literal(ir::TensorType{ir::DType::kF32, {4, 1024}})));
    std::vector<Array> kept;
    for (int i = 0; i < 3; ++i) kept.push_back(Unwrap(f({x}))[0]);
    for (Array& a : kept) ASSERT_TRUE(a.Await().ok());
    EXPECT_GT(ArrayBytesInUse(), 0);
    kept.clear();
    x.Release();
    EXPECT_TRUE(EventuallyNoArrayMemory()) << ArrayBytesInUse();
    // Still-held arrays are freed by the disconnect.
    Array held = Unwrap(f({Unwrap(client->PutGlobal(s, ir::Literal(ir::TensorType{ir::DType::kF32, {4, 64}})))}))[0];
    ASSERT_TRUE(held.Await().ok());
    EXPECT_GT(ArrayBytesInUse(), 0);
  }
  EXPECT_TRUE(EventuallyNoArrayMemory()) << ArrayBytesInUse();
  for (const ClientStatus& c : controller().Status().clients) EXPECT_NE(c.name, "memory");
}

// Status describes the cluster: one island, its hosts and devices, the clients connected.
TEST_P(ClusterConformanceTest, StatusDescribesIslandsHostsDevicesAndClients) {
  auto client = Connect("status-client");
  ClusterStatus st = controller().Status();
  ASSERT_EQ(st.islands.size(), 1u);
  EXPECT_EQ(st.islands[0].hosts.size(), 2u);
  EXPECT_EQ(st.islands[0].devices.size(), 4u);
  ASSERT_EQ(st.hosts.size(), 2u);
  for (const HostStatus& h : st.hosts) {
    ASSERT_EQ(h.devices.size(), 2u);
    for (const DeviceStatus& d : h.devices) EXPECT_EQ(d.memory_capacity_bytes, kDeviceMemory);
  }
  bool found = false;
  for (const ClientStatus& c : st.clients) found |= c.name == "status-client";
  EXPECT_TRUE(found);
}

// A 2 x 2 mesh: all-reduce within each row (the "model" axis) and all-gather within each
// column, over the in-process groups and over Gloo between worker processes.
TEST_P(ClusterConformanceTest, CollectivesWithinMeshAxesOfASlice) {
  auto client = Connect("mesh-client");
  SliceRequest request;
  request.num_devices = 4;
  request.mesh_shape = {2, 2};
  VirtualSlice slice = Unwrap(client->MakeVirtualDeviceSet().AddSlice(request));
  EXPECT_EQ(slice.mesh_shape, (std::vector<int64_t>{2, 2}));
  const ir::ShardGroups rows = Unwrap(ir::MeshAxisGroups(slice.mesh_shape, {1}));
  const ir::ShardGroups columns = Unwrap(ir::MeshAxisGroups(slice.mesh_shape, {0}));
  PmapFunction f = client->Pmap("mesh", slice, [&](FunctionBuilder& b, absl::Span<const Value> x) {
    return std::vector<Value>{b.AllReduce(x[0], ir::ReduceKind::kSum, rows),
                              b.AllGather(x[0], 0, columns)};
  });
  Array x = Unwrap(client->PutGlobal(slice, ir::Literal::Create<float>({4, 1}, {1, 2, 3, 4})));
  std::vector<Array> out = Unwrap(f({x}));
  EXPECT_THAT(Unwrap(out[0].ToLiteral()).data<float>(), ElementsAre(3, 3, 7, 7));
  EXPECT_THAT(Unwrap(out[1].ToLiteral()).data<float>(), ElementsAre(1, 3, 2, 4, 1, 3, 2, 4));
}

// The host of every device, from the cluster's status.
std::map<DeviceId, HostId> HostOfDevices(ControllerService& controller) {
  std::map<DeviceId, HostId> out;
  for (const HostStatus& h : controller.Status().hosts) {
    for (const DeviceStatus& d : h.devices) out[d.id] = h.host;
  }
  return out;
}

struct NamedLayout {
  std::string name;
  Sharding sharding;
};

std::vector<NamedLayout> LayoutsFor(const VirtualSlice& slice) {
  std::vector<NamedLayout> out = {{"replicated", Sharding::Replicated()}};
  for (int32_t a = 0; a < static_cast<int32_t>(slice.mesh_shape.size()); ++a) {
    out.push_back({absl::StrCat("rows/axis", a), Sharding::Split(0, {a})});
    out.push_back({absl::StrCat("columns/axis", a), Sharding::Split(1, {a})});
  }
  if (slice.mesh_shape.size() == 2) {
    out.push_back({"rows/axis0,columns/axis1", Sharding{Sharding::Kind::kPartitioned, {{0}, {1}}}});
    out.push_back({"rows/axes1,0", Sharding::Split(0, {1, 0})});
  }
  return out;
}

// Every pairing of {replicated, split over each axis} x {same slice, bigger, smaller, another
// host}: the reshard moves the blocks host to host and every destination shard holds exactly
// its block of the global array.
TEST_P(ClusterConformanceTest, ReshardingBetweenLayoutsAndSlicesKeepsTheGlobalArray) {
  auto client = Connect("reshard");
  VirtualDeviceSet vds = client->MakeVirtualDeviceSet();
  SliceRequest grid{.num_devices = 4, .mesh_shape = {2, 2}};
  const VirtualSlice s4 = Unwrap(vds.AddSlice(grid));
  const VirtualSlice s2 = Unwrap(vds.AddSlice(2));
  const std::map<DeviceId, HostId> host_of = HostOfDevices(controller());
  // Single devices on each host ("another host" for every source).
  std::map<HostId, VirtualSlice> ones;
  for (int i = 0; i < 8 && ones.size() < 2; ++i) {
    VirtualSlice s = Unwrap(vds.AddSlice(1));
    ones.emplace(host_of.at(s.devices[0]), s);
  }
  ASSERT_EQ(ones.size(), 2u) << "expected single-device slices on both hosts";
  std::vector<float> values(4 * 8);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
  const ir::Literal global = Unwrap(ir::Literal::Create<float>({4, 8}, values));
  std::vector<std::pair<std::string, VirtualSlice>> slices = {{"4", s4}, {"2", s2}};
  for (const auto& [host, one] : ones) slices.push_back({absl::StrCat("1@", host.DebugString()), one});
  int checked = 0, layouts = 0;
  for (const auto& [name, slice] : slices) layouts += static_cast<int>(LayoutsFor(slice).size());
  for (const auto& [from_name, from] : slices) {
    for (const NamedLayout& from_layout : LayoutsFor(from)) {
      Array x = Unwrap(client->PutGlobal(from, global, from_layout.sharding));
      for (const auto& [to_name, to] : slices) {
        for (const NamedLayout& to_layout : LayoutsFor(to)) {
          SCOPED_TRACE(absl::StrCat(from_layout.name, " on ", from_name, " -> ", to_layout.name,
                                    " on ", to_name));
          Array y = Unwrap(client->Reshard(x, to, to_layout.sharding));
          EXPECT_EQ(y.shape(), global.type().shape);
          EXPECT_EQ(y.devices(), to.devices);
          const std::vector<ir::Literal> want = Unwrap(SplitGlobal(global, to_layout.sharding, y.mesh()));
          const std::vector<ir::Literal> got = Unwrap(y.FetchShards());
          ASSERT_EQ(got.size(), want.size());
          for (size_t i = 0; i < got.size(); ++i) {
            EXPECT_EQ(got[i].data<float>(), want[i].data<float>()) << "shard " << i;
          }
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, layouts * layouts);
}

// Stacked shards (pmap's layout) gathered onto one device by transfers, and a pmap that reads
// its argument replicated from a slice of another size (resharded before the call).
TEST_P(ClusterConformanceTest, PmapArgumentsAreReshardedIntoTheLayoutTheyDeclare) {
  auto client = Connect("reshard-pmap");
  VirtualDeviceSet vds = client->MakeVirtualDeviceSet();
  const VirtualSlice s2 = Unwrap(vds.AddSlice(2));
  const VirtualSlice s1 = Unwrap(vds.AddSlice(1));
  Array x = Unwrap(client->PutGlobal(s2, ir::Literal::Create<float>({2, 3}, {1, 2, 3, 4, 5, 6})));
  Array gathered = Unwrap(client->Reshard(x, s1, Sharding::Replicated()));
  EXPECT_EQ(gathered.shape(), ir::Shape({2, 3}));
  EXPECT_THAT(Unwrap(gathered.ToLiteral()).data<float>(), ElementsAre(1, 2, 3, 4, 5, 6));
  // Every device of s2 sums the whole array it reads replicated: the stacked input is gathered.
  PmapFunction total = client->Pmap(
      "total", s2,
      [](FunctionBuilder& b, absl::Span<const Value> x) {
        return std::vector<Value>{b.Reduce(x[0], {0, 1}, ir::ReduceKind::kSum)};
      },
      PmapOptions{.in_shardings = {Sharding::Replicated()}});
  std::vector<Array> sums = Unwrap(total({gathered}));
  EXPECT_THAT(Unwrap(sums[0].ToLiteral()).data<float>(), ElementsAre(21, 21));
  ProgramTracer t(*client, "gather_then_sum");
  Traced v = t.InputLike(x);
  Program p = Unwrap(t.Build({total(t, {v})[0]}));
  EXPECT_THAT(Unwrap(Unwrap(p.Run({x}))[0].ToLiteral()).data<float>(), ElementsAre(21, 21));
}

TEST_P(ClusterConformanceTest, ReshardErrorsNameBothLayouts) {
  auto client = Connect("reshard-errors");
  VirtualDeviceSet vds = client->MakeVirtualDeviceSet();
  const VirtualSlice s2 = Unwrap(vds.AddSlice(2));
  const VirtualSlice s4 = Unwrap(vds.AddSlice(SliceRequest{.num_devices = 4, .mesh_shape = {2, 2}}));
  Array x = Unwrap(client->PutGlobal(s2, ir::Literal::Create<float>({2, 3}, {1, 2, 3, 4, 5, 6}),
                                     Sharding::Split(0, {0})));
  absl::StatusOr<Array> bad = client->Reshard(x, s4, Sharding::Split(1, {0, 1}));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("does not divide"));
  EXPECT_THAT(bad.status().message(), HasSubstr("f32[2,3]"));
  bad = client->Reshard(x, s2, Sharding::Split(0, {3}));
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("mesh axis 3"));
  absl::StatusOr<Array> odd = client->PutGlobal(s2, ir::Literal::Create<float>({3}, {1, 2, 3}),
                                                Sharding::Split(0, {0}));
  ASSERT_FALSE(odd.ok());
  EXPECT_THAT(odd.status().message(), HasSubstr("does not divide"));
}

// A fresh directory for one test's checkpoints, removed afterwards.
std::string CheckpointRoot(ClusterKind kind) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = absl::StrCat("pw_ckpt_", ::getpid(), "_", info->name(), "_", KindName(kind));
  std::replace(name.begin(), name.end(), '/', '_');
  const std::filesystem::path root = std::filesystem::temp_directory_path() / name;
  std::filesystem::remove_all(root);
  return root.string();
}

// Every host writes its own shards (none pass through the client), the index comes last, and the
// arrays come back on another slice with the metadata.
TEST_P(ClusterConformanceTest, ACheckpointRestoresTheSameArraysOnAnotherSlice) {
  const std::string root = CheckpointRoot(GetParam());
  auto client = Connect("checkpoint-client");
  VirtualSlice slice = Unwrap(client->GetDevices(4));
  Array put = Unwrap(client->PutGlobal(slice, ir::Literal::Create<float>({4, 3}, {1, 2, 3, 4, 5, 6,
                                                                                 7, 8, 9, 10, 11, 12})));
  PmapFunction twice = client->Pmap("twice", slice, [](FunctionBuilder& b, absl::Span<const Value> x) {
    return Scale(b, x, 2.0);
  });
  Array computed = Unwrap(twice({put}))[0];  // saved once it is computed
  Array ints = Unwrap(client->PutGlobal(slice, ir::Literal::Create<int32_t>({4}, {7, 8, 9, 10})));
  const std::string dir = root + "/step_1";
  ASSERT_THAT(client->SaveCheckpoint(dir, {{"params/w", put}, {"params/2w", computed}, {"step", ints}},
                                     R"({"step": 1})"),
              IsOk());
  EXPECT_TRUE(std::filesystem::exists(dir + "/index.json"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/array1.shard3"));

  VirtualSlice other = Unwrap(client->GetDevices(4));
  Client::Restored restored = Unwrap(client->RestoreCheckpoint(
      dir, {{"step", other.id, std::nullopt},
            {"params/2w", other.id, ir::TensorType{ir::DType::kF32, ir::Shape{3}}}}));
  EXPECT_EQ(restored.metadata, R"({"step": 1})");
  ASSERT_EQ(restored.arrays.size(), 2u);
  EXPECT_EQ(restored.arrays[0].spec().slice, other.id);
  EXPECT_EQ(restored.arrays[0].devices(), other.devices);
  EXPECT_THAT(Unwrap(restored.arrays[0].ToLiteral()).data<int32_t>(), ElementsAre(7, 8, 9, 10));
  EXPECT_EQ(Unwrap(restored.arrays[1].ToLiteral()), Unwrap(computed.ToLiteral()));
  std::filesystem::remove_all(root);
}

TEST_P(ClusterConformanceTest, CheckpointErrorsNameTheCulpritAndLeaveNothingBehind) {
  const std::string root = CheckpointRoot(GetParam());
  auto client = Connect("checkpoint-errors");
  VirtualSlice slice = Unwrap(client->GetDevices(2));
  Array a = Unwrap(client->PutGlobal(slice, ir::Literal::Create<float>({2, 2}, {1, 2, 3, 4})));
  const std::string dir = root + "/c";
  EXPECT_THAT(client->SaveCheckpoint("relative/dir", {{"a", a}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("absolute")));
  EXPECT_THAT(client->SaveCheckpoint(dir, {{"a", a}, {"a", a}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"a\" is given to two")));
  EXPECT_THAT(client->RestoreCheckpoint(dir, {{"a", slice.id, std::nullopt}}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("did not finish")));
  ASSERT_THAT(client->SaveCheckpoint(dir, {{"a", a}}), IsOk());
  EXPECT_THAT(client->SaveCheckpoint(dir, {{"a", a}}),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("holds a checkpoint")));
  // Two saves into one directory at once: exactly one writes it.
  {
    SaveCheckpointRequest request{root + "/twice", {{"a", a.id()}}, ""};
    EventRef first = controller().SaveCheckpoint(client->id(), request);
    EventRef second = controller().SaveCheckpoint(client->id(), request);
    const absl::Status s1 = first->Await(), s2 = second->Await();
    EXPECT_TRUE(s1.ok() != s2.ok()) << s1 << " / " << s2;
    EXPECT_TRUE(absl::IsAlreadyExists(s1.ok() ? s2 : s1)) << s1 << " / " << s2;
  }

  VirtualSlice four = Unwrap(client->GetDevices(4));
  EXPECT_THAT(client->RestoreCheckpoint(dir, {{"b", slice.id, std::nullopt}}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no array named \"b\"")));
  EXPECT_THAT(client->RestoreCheckpoint(dir, {{"a", four.id, std::nullopt}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("saved with 2 shards")));
  EXPECT_THAT(client->RestoreCheckpoint(
                  dir, {{"a", slice.id, ir::TensorType{ir::DType::kI32, ir::Shape{2}}}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected i32[2]")));
  // A shard file changed on disk: DATA_LOSS naming it, and no array is created.
  const int64_t bytes_before = ArrayBytesInUse();
  {
    std::fstream f(dir + "/array0.shard1", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(2);
    f.put('\x7f');
  }
  EXPECT_THAT(client->RestoreCheckpoint(dir, {{"a", slice.id, std::nullopt}}),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("array0.shard1")));
  // The shard loaded before the bad one is released (hosts free memory asynchronously).
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (ArrayBytesInUse() != bytes_before && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(ArrayBytesInUse(), bytes_before);
  std::filesystem::remove_all(root);
}

INSTANTIATE_TEST_SUITE_P(Transports, ClusterConformanceTest,
                         ::testing::Values(ClusterKind::kInProcess, ClusterKind::kGrpcProcesses),
                         [](const ::testing::TestParamInfo<ClusterKind>& info) {
                           return testing_util::KindName(info.param);
                         });

}  // namespace
}  // namespace pw
