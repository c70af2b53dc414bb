// The paper's scale on one machine: 512 simulated hosts x 4 simulated devices (2,048
// accelerators) on two shared threads, driven by the real controller, resource manager, gang
// scheduler, lowering and host executors, through a small program end to end: an SPMD step over
// every device (a scalar all-reduce then +1) called op by op, as one 128-step function, and as a
// program of 128 chained calls, and a chain across 512 hosts.
#include <cstdint>
#include <memory>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/client/client.h"
#include "pathways/cluster/local_cluster.h"
#include "tests/test_util.h"

namespace pw {
namespace {

using ir::FunctionBuilder;
using ir::Value;
using ::testing::HasSubstr;
using testing_util::Unwrap;

constexpr int64_t kHosts = 512;
constexpr int64_t kDevicesPerHost = 4;
constexpr int64_t kDevices = kHosts * kDevicesPerHost;

LocalClusterOptions ScaleOptions() {
  return LocalClusterOptions{
      .hosts_per_island = kHosts, .devices_per_host = kDevicesPerHost,
      .memory_per_device_bytes = int64_t{1} << 30, .device_kind = DeviceKind::kSim,
      .sim = SimDeviceOptions{.execute = false},
      .network = NetworkModel{.control_latency_nanos = 100'000},
      .shared_threads = 2};
}

std::vector<Value> Steps(FunctionBuilder& b, absl::Span<const Value> x, int64_t repeats) {
  Value v = x[0];
  for (int64_t i = 0; i < repeats; ++i) {
    v = b.Add(b.AllReduce(v, ir::ReduceKind::kSum), b.ConstantScalar(1.0f));
  }
  return {v};
}

int64_t CompletedKernels(LocalCluster& cluster) {
  int64_t n = 0;
  for (Device* d : cluster.devices()) n += static_cast<SimDevice*>(d)->skipped_kernels();
  return n;
}

TEST(ScaleTest, TwoThousandFortyEightSimulatedDevicesRunASmallProgramEndToEnd) {
  auto cluster = Unwrap(LocalCluster::Start(ScaleOptions()));
  ASSERT_EQ(cluster->num_hosts(), kHosts);
  ASSERT_EQ(cluster->devices().size(), static_cast<size_t>(kDevices));
  ASSERT_NE(cluster->shared_loop(), nullptr);
  EXPECT_EQ(cluster->shared_loop()->threads(), 2);
  auto client = Unwrap(Client::Connect(cluster->controller(), "scale"));
  VirtualSlice slice = Unwrap(client->GetDevices(kDevices));
  ASSERT_EQ(slice.devices.size(), static_cast<size_t>(kDevices));
  PmapFunction step = client->Pmap("step", slice, [](FunctionBuilder& b, absl::Span<const Value> x) {
    return Steps(b, x, 1);
  });
  PmapFunction fused = client->Pmap("fused", slice, [](FunctionBuilder& b, absl::Span<const Value> x) {
    return Steps(b, x, 128);
  });
  std::vector<ir::Literal> shards(kDevices, ir::Literal::Scalar<float>(0.0f));
  Array x = Unwrap(client->Put(slice, std::move(shards)));

  // Op by op: each call waits for the previous one's output.
  for (int i = 0; i < 3; ++i) {
    x = Unwrap(step({x}))[0];
    ASSERT_THAT(x.Await(), IsOk());
  }
  EXPECT_EQ(CompletedKernels(*cluster), 3 * kDevices);
  // Fused: one kernel of 128 steps per device.
  x = Unwrap(fused({x}))[0];
  ASSERT_THAT(x.Await(), IsOk());
  EXPECT_EQ(CompletedKernels(*cluster), 4 * kDevices);
  // Chained: one program of 128 calls, one message per host.
  ProgramTracer t(*client, "chain");
  Traced v = t.Input({{ir::DType::kF32, {}}, slice.id});
  for (int i = 0; i < 128; ++i) v = step(t, {v})[0];
  Program chain = Unwrap(t.Build({v}));
  std::vector<Array> out = Unwrap(chain.Run({x}));
  ASSERT_THAT(out[0].Await(), IsOk());
  EXPECT_EQ(CompletedKernels(*cluster), (4 + 128) * kDevices);

  // Every host reported its status; the modelled busy time covers every kernel.
  const ClusterStatus status = client->controller().Status();
  EXPECT_EQ(status.hosts.size(), static_cast<size_t>(kHosts));
  int64_t busy = 0;
  for (const HostStatus& h : status.hosts) {
    EXPECT_THAT(h.status, IsOk());
    for (const DeviceStatus& d : h.devices) busy += d.busy_nanos;
  }
  EXPECT_GT(busy, 0);
  EXPECT_EQ(busy, cluster->total_busy_nanos());
  // The simulator reports its own error: how late the timers of modelled ends fired.
  EXPECT_GT(cluster->shared_loop()->timer_slack_count(), 0);
}

TEST(ScaleTest, AChainAcrossFiveHundredTwelveHostsHandsItsValueHostToHost) {
  LocalClusterOptions options = ScaleOptions();
  options.devices_per_host = 1;
  auto cluster = Unwrap(LocalCluster::Start(options));
  auto client = Unwrap(Client::Connect(cluster->controller(), "chain"));
  ProgramTracer t(*client, "pipeline");
  std::vector<PmapFunction> stages;
  std::vector<VirtualSlice> slices;
  for (int64_t i = 0; i < kHosts; ++i) {
    slices.push_back(Unwrap(client->GetDevices(1)));
    stages.push_back(client->Pmap("stage", slices.back(), [](FunctionBuilder& b, absl::Span<const Value> x) {
      return std::vector<Value>{b.Add(x[0], b.ConstantScalar(1.0f))};
    }));
  }
  // Each stage on a host of its own.
  for (int64_t i = 1; i < kHosts; ++i) {
    ASSERT_NE(slices[i].devices[0], slices[i - 1].devices[0]);
  }
  Traced v = t.Input({{ir::DType::kF32, {16}}, slices[0].id});
  for (int64_t i = 0; i < kHosts; ++i) v = stages[i](t, {v})[0];
  Program program = Unwrap(t.Build({v}));
  std::vector<ir::Literal> input;
  input.push_back(Unwrap(ir::Literal::Create<float>(ir::Shape{16}, std::vector<float>(16, 0.0f))));
  Array x = Unwrap(client->Put(slices[0], std::move(input)));
  for (int run = 0; run < 2; ++run) {
    std::vector<Array> out = Unwrap(program.Run({x}));
    ASSERT_THAT(out[0].Await(), IsOk());
  }
  EXPECT_EQ(CompletedKernels(*cluster), 2 * kHosts);
}

TEST(ScaleTest, SharedThreadsAreRefusedForDevicesThatRunTheirKernels) {
  LocalClusterOptions options = ScaleOptions();
  options.hosts_per_island = 2;
  options.sim.execute = true;
  EXPECT_THAT(LocalCluster::Start(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("shared_threads needs sim.execute = false")));
  options.shared_threads = -1;
  EXPECT_THAT(LocalCluster::Start(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("shared_threads must be >= 0")));
}

}  // namespace
}  // namespace pw
