// A cluster over loopback gRPC in one process: ControllerServer + two WorkerServers, driven by
// pw::Client through GrpcControllerClient — the paper's Figure 2, a collective whose gang spans
// both workers (Gloo, meeting through the controller's rendezvous store), and a worker that goes
// away while the other carries on.
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/logging.h"
#include "pathways/base/status_matchers.h"
#include "pathways/client/client.h"
#include "pathways/cluster/controller_server.h"
#include "pathways/rpc/grpc_controller_client.h"
#include "pathways/cluster/worker_server.h"
#include "tests/loopback_cluster.h"
#include "tests/test_util.h"

namespace pw {
namespace {

using testing_util::Unwrap;

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ir::FunctionBuilder;
using ir::Value;

std::vector<float> Floats(const ir::Literal& l) {
  auto d = l.data<float>();
  return std::vector<float>(d.begin(), d.end());
}

class GrpcClusterTest : public LoopbackClusterTest {
 protected:
  std::string ClientName() const override { return "grpc-cluster"; }
  ControllerServerOptions ControllerOptions() const override {
    ControllerServerOptions options;
    options.heartbeat_timeout = absl::Seconds(3);  // loss is found by the failed call here
    return options;
  }

  PmapFunction Scale(const VirtualSlice& slice, std::string name, double factor) {
    return client_->Pmap(std::move(name), slice, [factor](FunctionBuilder& b, absl::Span<const Value> x) {
      return std::vector<Value>{b.Multiply(x[0], b.ScalarLike(b.TypeOf(x[0]).dtype, factor))};
    });
  }
};

TEST_F(GrpcClusterTest, Figure2GivesThePapersResultInBothDispatchModes) {
  auto scalar = [](FunctionBuilder& b, Value x, double v) { return b.ScalarLike(b.TypeOf(x).dtype, v); };
  VirtualSlice da = Unwrap(client_->GetDevices(2));
  VirtualSlice db = Unwrap(client_->GetDevices(2));
  VirtualSlice dc = Unwrap(client_->GetDevices(2));
  PmapFunction a = client_->Pmap("a", da, [&](FunctionBuilder& b, absl::Span<const Value> x) {
    return std::vector<Value>{b.Multiply(x[0], scalar(b, x[0], 2.0))};
  });
  PmapFunction b = client_->Pmap("b", db, [&](FunctionBuilder& b, absl::Span<const Value> x) {
    return std::vector<Value>{b.Add(x[0], scalar(b, x[0], 1.0))};
  });
  PmapFunction c = client_->Pmap("c", dc, [&](FunctionBuilder& b, absl::Span<const Value> x) {
    return std::vector<Value>{b.Divide(x[0], scalar(b, x[0], 2.0))};
  });
  ProgramTracer f(*client_, "f");
  Traced v = f.Input({{ir::DType::kF32, {}}, da.id});
  Traced x = a(f, {v})[0];
  Traced y = b(f, {x})[0];
  Traced z = a(f, {c(f, {x})[0]})[0];
  Program program = Unwrap(f.Build({y, z}));
  Array input = Unwrap(client_->PutGlobal(da, ir::Literal::Create<float>({2}, {1.0f, 2.0f})));
  for (DispatchMode mode : {DispatchMode::kParallel, DispatchMode::kSequential}) {
    SCOPED_TRACE(DispatchModeName(mode));
    std::vector<Array> out = Unwrap(program.Run({input}, RunOptions{mode}));
    EXPECT_THAT(Floats(Unwrap(out[0].ToLiteral())), ElementsAre(3.f, 5.f));
    EXPECT_THAT(Floats(Unwrap(out[1].ToLiteral())), ElementsAre(2.f, 4.f));
  }
  // Both hosts did work: the three slices are spread over the island's four devices.
  ClusterStatus status = stub_->Status();
  ASSERT_EQ(status.hosts.size(), 2u);
  for (const HostStatus& host : status.hosts) {
    EXPECT_TRUE(host.status.ok()) << host.status;
    EXPECT_GT(host.runs_received, 0) << host.host;
  }
  EXPECT_GE(status.lowering_cache_hits, 2);
}

TEST_F(GrpcClusterTest, ACollectiveGangSpansBothWorkers) {
  VirtualSlice all = Unwrap(client_->GetDevices(4));
  PmapFunction psum = client_->Pmap("psum", all, [](FunctionBuilder& b, absl::Span<const Value> x) {
    return std::vector<Value>{b.AllReduce(x[0], ir::ReduceKind::kSum)};
  });
  Array in = Unwrap(client_->PutGlobal(all, ir::Literal::Create<float>({4, 2}, {1, 2, 3, 4, 5, 6, 7, 8})));
  for (int round = 0; round < 3; ++round) {
    std::vector<Array> out = Unwrap(psum({in}));
    std::vector<ir::Literal> shards = Unwrap(out[0].FetchShards());
    ASSERT_EQ(shards.size(), 4u);
    for (const ir::Literal& shard : shards) EXPECT_THAT(Floats(shard), ElementsAre(16.f, 20.f));
  }
  TraceRecorder trace;
  ASSERT_TRUE(stub_->FetchTrace(trace).ok());
  EXPECT_GT(trace.num_events(), 0u);
}

TEST_F(GrpcClusterTest, AWorkerThatGoesAwayIsRemovedAndTheOtherCarriesOn) {
  VirtualSlice all = Unwrap(client_->GetDevices(4));
  Array spread = Unwrap(client_->PutGlobal(all, ir::Literal::Create<float>({4}, {1, 2, 3, 4})));
  ASSERT_TRUE(spread.Await().ok());
  const HostId lost = workers_[1]->host();
  workers_[1]->Shutdown();  // stops serving and heartbeating
  // Reading an array with shards there fails at once, naming the host (and the failed call
  // tells the controller the host is gone, sooner than the missed heartbeats would).
  absl::StatusOr<std::vector<ir::Literal>> gone = spread.FetchShards();
  EXPECT_THAT(gone.status(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(gone.status().message()), HasSubstr(lost.DebugString()));
  ASSERT_TRUE(server_->WaitForHostLost(lost, absl::Seconds(20)).ok());
  EXPECT_EQ(server_->num_hosts(), 1);
  // The slice lost half its devices and nothing can replace them: running on it is an error.
  PmapFunction on_all = Scale(all, "on_all", 2.0);
  absl::StatusOr<std::vector<Array>> failed = on_all({spread});
  EXPECT_FALSE(failed.ok() && (*failed)[0].Await().ok());

  // The survivor still runs new work.
  VirtualSlice two = Unwrap(client_->GetDevices(2));
  Array x = Unwrap(client_->PutGlobal(two, ir::Literal::Create<float>({2}, {1, 2})));
  std::vector<Array> out = Unwrap(Scale(two, "double", 2.0)({x}));
  EXPECT_THAT(Floats(Unwrap(out[0].ToLiteral())), ElementsAre(2.f, 4.f));
  ClusterStatus status = stub_->Status();
  ASSERT_EQ(status.hosts.size(), 1u);
  EXPECT_EQ(status.hosts[0].host, workers_[0]->host());
  EXPECT_NE(status.hosts[0].host, lost);
}

// Two islands of worker servers whose pushes across islands are paced to a modelled DCN: a
// program moving an array from one island to the other waits at least the DCN latency.
TEST(GrpcIslandsTest, PushesBetweenIslandsPayTheDataCenterNetworkLatency) {
  ControllerServerOptions options;
  std::unique_ptr<ControllerServer> server = Unwrap(ControllerServer::Start(options));
  std::vector<std::unique_ptr<WorkerServer>> workers;
  constexpr int64_t kDcnLatencyUs = 200'000;
  for (int island = 0; island < 2; ++island) {
    WorkerServerOptions worker;
    worker.controller_address = server->address();
    worker.island = island;
    worker.num_devices = 1;
    worker.memory_per_device_bytes = int64_t{16} << 20;
    worker.dcn_latency_us = kDcnLatencyUs;
    worker.dcn_gbps = 10;
    workers.push_back(Unwrap(WorkerServer::Start(worker)));
  }
  ASSERT_TRUE(server->WaitForHosts(2, absl::Seconds(10)).ok());
  auto stub = Unwrap(GrpcControllerClient::Connect(server->address()));
  auto client = Unwrap(Client::Connect(*stub, "islands"));
  VirtualSlice a = Unwrap(client->MakeVirtualDeviceSet().AddSlice(SliceRequest{.num_devices = 1, .island = IslandId(0)}));
  VirtualSlice b = Unwrap(client->MakeVirtualDeviceSet().AddSlice(SliceRequest{.num_devices = 1, .island = IslandId(1)}));
  ASSERT_NE(a.island, b.island);
  auto twice = [](FunctionBuilder& fb, absl::Span<const Value> x) {
    return std::vector<Value>{fb.Multiply(x[0], fb.ScalarLike(fb.TypeOf(x[0]).dtype, 2.0))};
  };
  PmapFunction fa = client->Pmap("on_a", a, twice);
  PmapFunction fb = client->Pmap("on_b", b, twice);
  ProgramTracer t(*client, "across");
  Traced x = t.Input({{ir::DType::kF32, {4}}, a.id});
  Traced y = fb(t, fa(t, {x}))[0];  // island 0 -> island 1
  Program program = Unwrap(t.Build({y}));
  Array input = Unwrap(client->Put(a, {ir::Literal::Create<float>({4}, {1, 2, 3, 4})}));
  ASSERT_THAT(Unwrap(program.Run({input}))[0].Await(), IsOk());  // compiled and warm
  const absl::Time start = absl::Now();
  std::vector<Array> out = Unwrap(program.Run({input}));
  EXPECT_THAT(Floats(Unwrap(out[0].ToLiteral())), ElementsAre(4, 8, 12, 16));
  EXPECT_GE(absl::Now() - start, absl::Microseconds(kDcnLatencyUs));
  client.reset();
  stub.reset();
  server.reset();
  workers.clear();
}

}  // namespace
}  // namespace pw
