// The in-process cluster on simulated devices behind a modelled network: same results as
// without the model, errors still reach the client, shutdown with messages in flight. And
// worker processes on simulated devices (pw-worker --device-kind sim).
#include <memory>
#include <set>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/clock.h"
#include "pathways/base/status_matchers.h"
#include "pathways/client/client.h"
#include "pathways/rpc/grpc_controller_client.h"
#include "pathways/cluster/local_cluster.h"
#include "pathways/cluster/process_cluster.h"
#include "tests/test_util.h"

namespace pw {
namespace {

using testing_util::Unwrap;
using ::testing::HasSubstr;
using ir::FunctionBuilder;
using ir::Value;

constexpr int64_t kControlLatency = 500'000;  // 0.5 ms one way

LocalClusterOptions SimCluster(int64_t hosts, bool execute) {
  return LocalClusterOptions{
      .hosts_per_island = hosts, .devices_per_host = 1, .memory_per_device_bytes = 16 << 20,
      .device_kind = DeviceKind::kSim,
      .sim = SimDeviceOptions{.model = {.kernel_nanos = 100'000}, .execute = execute},
      .network = NetworkModel{.control_latency_nanos = kControlLatency,
                              .interconnect = {.ici = {.latency_nanos = 5'000,
                                                       .bytes_per_second = 50e9}}}};
}

// A chain of `stages` functions (x -> 2x + 1), stage i on its own host.
Program Chain(Client& client, int64_t stages, std::vector<VirtualSlice>& slices) {
  ProgramTracer t(client, "chain");
  std::vector<PmapFunction> fns;
  for (int64_t i = 0; i < stages; ++i) {
    slices.push_back(Unwrap(client.GetDevices(1)));
    fns.push_back(client.Pmap("stage", slices.back(), [](FunctionBuilder& b, absl::Span<const Value> x) {
      return std::vector<Value>{b.Add(b.Multiply(x[0], b.ConstantScalar(2.0f)), b.ConstantScalar(1.0f))};
    }));
  }
  Traced v = t.Input({{ir::DType::kF32, {4}}, slices[0].id});
  for (int64_t i = 0; i < stages; ++i) v = fns[i](t, {v})[0];
  return Unwrap(t.Build({v}));
}

TEST(SimulatedClusterTest, ParallelAndSequentialGiveTheRightValuesOnSimDevicesAndPayTheLatency) {
  constexpr int64_t kStages = 4;
  auto cluster = Unwrap(LocalCluster::Start(SimCluster(kStages, /*execute=*/true)));
  ASSERT_NE(cluster->network(), nullptr);
  for (Device* d : cluster->devices()) EXPECT_EQ(d->kind(), "sim");
  auto client = Unwrap(Client::Connect(cluster->controller(), "chain"));
  std::vector<VirtualSlice> slices;
  Program program = Chain(*client, kStages, slices);
  Array x = Unwrap(client->Put(slices[0], {ir::Literal::Create<float>({4}, {0, 1, 2, 3})}));
  std::vector<std::vector<float>> results;
  for (DispatchMode mode : {DispatchMode::kParallel, DispatchMode::kSequential}) {
    const int64_t start = MonotonicNanos();
    Array out = Unwrap(program.Run({x}, {.mode = mode}))[0];
    ir::Literal l = Unwrap(out.ToLiteral());
    const int64_t elapsed = MonotonicNanos() - start;
    results.emplace_back(l.data<float>().begin(), l.data<float>().end());
    // At least one control round trip (run out, report back); sequential pays one per stage.
    EXPECT_GE(elapsed, (mode == DispatchMode::kParallel ? 2 : 2 * kStages) * kControlLatency)
        << DispatchModeName(mode);
  }
  // x -> 2x + 1 four times: 16x + 15.
  EXPECT_THAT(results[0], ::testing::ElementsAre(15, 31, 47, 63));
  EXPECT_EQ(results[0], results[1]);
  EXPECT_GT(cluster->network()->delivered(), 0);
  EXPECT_GE(cluster->total_busy_nanos(), 2 * kStages * 100'000);  // modelled kernel time
}

TEST(SimulatedClusterTest, WorkerProcessesOnSimDevicesRunTheChainInModelledTime) {
  constexpr int64_t kStages = 3;
  constexpr int64_t kKernelMicros = 2'000;
  auto processes = Unwrap(ProcessCluster::Start({.hosts_per_island = kStages,
                                                 .devices_per_host = 1,
                                                 .memory_per_device_bytes = 16 << 20,
                                                 .trace = false,
                                                 .device_kind = DeviceKind::kSim,
                                                 .sim_kernel_us = kKernelMicros}));
  auto stub = Unwrap(GrpcControllerClient::Connect(processes->address()));
  auto client = Unwrap(Client::Connect(*stub, "sim-processes"));
  std::vector<VirtualSlice> slices;
  Program program = Chain(*client, kStages, slices);
  Array x = Unwrap(client->Put(slices[0], {ir::Literal::Create<float>({4}, {0, 1, 2, 3})}));
  ir::Literal out = Unwrap(Unwrap(program.Run({x}))[0].ToLiteral());
  // x -> 2x + 1 three times: 8x + 7, computed (the kernels still run).
  EXPECT_THAT(std::vector<float>(out.data<float>().begin(), out.data<float>().end()),
              ::testing::ElementsAre(7, 15, 23, 31));
  const ClusterStatus status = Unwrap(stub->StatusOrError());
  ASSERT_EQ(status.hosts.size(), static_cast<size_t>(kStages));
  for (const HostStatus& host : status.hosts) {
    ASSERT_EQ(host.devices.size(), 1u) << host.host;
    EXPECT_EQ(host.devices[0].kind, "sim") << host.host;
    // Busy time is the modelled kernel time (its stage, plus the input's put on host 0).
    EXPECT_GE(host.devices[0].busy_nanos, kKernelMicros * 1000) << host.host;
  }
}

// A few pw-worker processes stand for many hosts (pw-worker --hosts): 2 processes x 16 hosts x 4
// simulated devices, every host joined on its own, their dispatch and devices on one thread per
// process, run an SPMD step over all 128 devices op by op and fused.
TEST(SimulatedClusterTest, WorkerProcessesEachServeManySimulatedHosts) {
  constexpr int64_t kHosts = 32;
  constexpr int64_t kPerWorker = 16;
  constexpr int64_t kDevicesPerHost = 4;
  constexpr int64_t kDevices = kHosts * kDevicesPerHost;
  constexpr int64_t kKernelMicros = 100;
  auto processes = Unwrap(ProcessCluster::Start({.hosts_per_island = kHosts,
                                                 .devices_per_host = kDevicesPerHost,
                                                 .hosts_per_worker = kPerWorker,
                                                 .worker_threads = 1,
                                                 .memory_per_device_bytes = 16 << 20,
                                                 .trace = false,
                                                 .device_kind = DeviceKind::kSim,
                                                 .sim_kernel_us = kKernelMicros,
                                                 .sim_skip_compute = true,
                                                 // 32 hosts on a loaded 2-core machine: a
                                                 // heartbeat may come late.
                                                 .heartbeat_timeout = absl::Seconds(10)}));
  ASSERT_EQ(processes->worker_pids().size(), static_cast<size_t>(kHosts / kPerWorker));
  std::set<int64_t> served;
  for (const std::vector<int64_t>& hosts : processes->worker_hosts()) {
    EXPECT_EQ(hosts.size(), static_cast<size_t>(kPerWorker));
    served.insert(hosts.begin(), hosts.end());
  }
  EXPECT_EQ(served.size(), static_cast<size_t>(kHosts));  // every host joined on its own
  EXPECT_EQ(Unwrap(processes->WorkerIndexOf(processes->worker_hosts()[1][7])), 1);

  auto stub = Unwrap(GrpcControllerClient::Connect(processes->address()));
  auto client = Unwrap(Client::Connect(*stub, "many-hosts"));
  VirtualSlice slice = Unwrap(client->GetDevices(kDevices));
  auto step = [](int64_t repeats) {
    return [repeats](FunctionBuilder& b, absl::Span<const Value> x) -> std::vector<Value> {
      Value v = x[0];
      for (int64_t i = 0; i < repeats; ++i) {
        v = b.Add(b.AllReduce(v, ir::ReduceKind::kSum), b.ConstantScalar(1.0f));
      }
      return {v};
    };
  };
  PmapFunction op = client->Pmap("step", slice, step(1));
  PmapFunction fused = client->Pmap("fused", slice, step(16));
  Array x = Unwrap(client->Put(slice, std::vector<ir::Literal>(kDevices, ir::Literal::Scalar(0.0f))));
  for (int i = 0; i < 3; ++i) {
    x = Unwrap(op({x}))[0];
    ASSERT_THAT(x.Await(), IsOk());
  }
  x = Unwrap(fused({x}))[0];
  ASSERT_THAT(x.Await(), IsOk());

  const ClusterStatus status = Unwrap(stub->StatusOrError());
  ASSERT_EQ(status.hosts.size(), static_cast<size_t>(kHosts));
  std::set<int64_t> reported;
  for (const HostStatus& host : status.hosts) {
    reported.insert(host.host.value());
    ASSERT_EQ(host.devices.size(), static_cast<size_t>(kDevicesPerHost)) << host.host;
    for (const DeviceStatus& device : host.devices) {
      EXPECT_EQ(device.kind, "sim") << host.host;
      // Four kernels of kKernelMicros each (their modelled time), nothing computed.
      EXPECT_GE(device.busy_nanos, 4 * kKernelMicros * 1000) << host.host;
    }
  }
  EXPECT_EQ(reported, served);
}

TEST(SimulatedClusterTest, ManyHostsPerWorkerNeedSimulatedDevicesThatSkipKernels) {
  absl::StatusOr<std::unique_ptr<ProcessCluster>> cpu =
      ProcessCluster::Start({.hosts_per_island = 4, .hosts_per_worker = 2});
  EXPECT_THAT(cpu.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(cpu.status().message()), HasSubstr("sim_skip_compute"));
  absl::StatusOr<std::unique_ptr<ProcessCluster>> uneven = ProcessCluster::Start(
      {.hosts_per_island = 4, .hosts_per_worker = 3, .device_kind = DeviceKind::kSim,
       .sim_skip_compute = true});
  EXPECT_THAT(uneven.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(uneven.status().message()), HasSubstr("must divide hosts_per_island"));
}

TEST(SimulatedClusterTest, WorkerProcessesRejectSimOptionsWithoutSimDevices) {
  absl::StatusOr<std::unique_ptr<ProcessCluster>> cpu_with_sim =
      ProcessCluster::Start({.hosts_per_island = 1, .sim_kernel_us = 100});
  EXPECT_THAT(cpu_with_sim.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(cpu_with_sim.status().message()), HasSubstr("sim_kernel_us"));
}

TEST(SimulatedClusterTest, ExecutorsHandKernelsTheirCostSoExecuteFalseSkipsThem) {
  constexpr int64_t kStages = 3;
  auto cluster = Unwrap(LocalCluster::Start(SimCluster(kStages, /*execute=*/false)));
  auto client = Unwrap(Client::Connect(cluster->controller(), "skip"));
  std::vector<VirtualSlice> slices;
  Program program = Chain(*client, kStages, slices);
  Array x = Unwrap(client->Put(slices[0], {ir::Literal::Create<float>({4}, {0, 1, 2, 3})}));
  ASSERT_TRUE(Unwrap(program.Run({x}))[0].Await().ok());
  for (Device* d : cluster->devices()) {
    auto* sim = dynamic_cast<SimDevice*>(d);
    ASSERT_NE(sim, nullptr);
    EXPECT_EQ(sim->skipped_kernels(), 1) << sim->DebugString();  // one stage per device
    EXPECT_GE(sim->busy_nanos(), 100'000);                       // its modelled time
  }
}

TEST(SimulatedClusterTest, AStepErrorReachesTheClientThroughTheDelayedReport) {
  auto cluster = Unwrap(LocalCluster::Start(SimCluster(2, /*execute=*/false)));
  auto client = Unwrap(Client::Connect(cluster->controller(), "oom"));
  VirtualSlice s = Unwrap(client->GetDevices(1));
  constexpr int64_t kBig = 16 << 20;  // f32[kBig] is 4x a device's memory
  PmapFunction big = client->Pmap("big", s, [](FunctionBuilder& b, absl::Span<const Value> x) {
    return std::vector<Value>{b.Add(b.Iota({ir::DType::kF32, {kBig}}, 0), x[0])};
  });
  ProgramTracer t(*client, "oom");
  Traced huge = big(t, {t.Input({{ir::DType::kF32, {1}}, s.id})})[0];
  Program p = Unwrap(t.Build({huge}));
  Array x = Unwrap(client->Put(s, {ir::Literal::Create<float>({1}, {1})}));
  for (DispatchMode mode : {DispatchMode::kParallel, DispatchMode::kSequential}) {
    const absl::Status status = Unwrap(p.Run({x}, {.mode = mode}))[0].Await();
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kResourceExhausted));
    EXPECT_THAT(std::string(status.message()), HasSubstr("node 'big'"));
  }
}

TEST(SimulatedClusterTest, ShutsDownWithRunsAndPushesStillInFlight) {
  constexpr int64_t kStages = 3;
  LocalClusterOptions options = SimCluster(kStages, /*execute=*/false);
  options.network.control_latency_nanos = 20'000'000;  // 20 ms: runs are on the wire at exit
  options.network.interconnect.ici.latency_nanos = 20'000'000;
  auto cluster = Unwrap(LocalCluster::Start(options));
  {
    auto client = Unwrap(Client::Connect(cluster->controller(), "inflight"));
    std::vector<VirtualSlice> slices;
    Program program = Chain(*client, kStages, slices);
    Array x = Unwrap(client->Put(slices[0], {ir::Literal::Create<float>({4}, {0, 1, 2, 3})}));
    for (int i = 0; i < 4; ++i) Unwrap(program.Run({x}));  // not awaited
  }
  EXPECT_GT(cluster->network()->in_flight(), 0);
  cluster.reset();  // must neither hang nor touch freed executors
}

TEST(SimulatedClusterTest, RejectsAnUnknownDeviceKindAndNegativeLatencies) {
  EXPECT_THAT(ParseDeviceKind("tpu").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'tpu' (known: cpu, sim)")));
  absl::StatusOr<std::unique_ptr<LocalCluster>> bad = LocalCluster::Start({.network = {.control_latency_nanos = -1}});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("control_latency_nanos"));
  // No model, no timer thread.
  auto plain = Unwrap(LocalCluster::Start({}));
  EXPECT_EQ(plain->network(), nullptr);
}

}  // namespace
}  // namespace pw
