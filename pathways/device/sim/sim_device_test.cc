// Tests for SimDevice: the Device conformance suite, plus modelled time, execute = false and
// the performance model.
#include "pathways/device/sim/sim_device.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/device/device_conformance.h"

namespace pw {
namespace {

using ::testing::HasSubstr;

struct SimDeviceFactory {
  static constexpr std::string_view kKind = "sim";
  static std::unique_ptr<Device> Make(int64_t id, int64_t host, int64_t capacity,
                                      TraceRecorder* trace) {
    return std::make_unique<SimDevice>(SimDeviceOptions{
        .id = DeviceId(id), .host = HostId(host), .memory_capacity_bytes = capacity,
        .trace = trace});
  }
};

}  // namespace

namespace device_conformance {
INSTANTIATE_TYPED_TEST_SUITE_P(Sim, DeviceConformanceTest, SimDeviceFactory);
}  // namespace device_conformance

namespace {

SimDeviceOptions Fixed(int64_t kernel_nanos, bool execute = true) {
  return SimDeviceOptions{.id = DeviceId(0), .host = HostId(0), .model = {.kernel_nanos = kernel_nanos},
                          .execute = execute, .timeline_capacity = 64};
}

StreamWork Kernel(std::string name, absl::AnyInvocable<absl::Status()> fn,
                  std::vector<EventRef> wait_for = {}) {
  return StreamWork{.name = std::move(name), .wait_for = std::move(wait_for), .fn = std::move(fn),
                    .cost = WorkCost{.flops = 1e6}};
}

TEST(SimPerformanceModelTest, RooflinePlusCollectivesPlusLaunchOverhead) {
  SimPerformanceModel m{.peak_flops_per_second = 1e12, .memory_bytes_per_second = 1e11,
                        .launch_overhead_nanos = 1000};
  m.interconnect.ici = {.latency_nanos = 2'000, .bytes_per_second = 1e10};
  // Compute bound: 1e9 flops / 1e12 = 1 ms; 1e6 bytes / 1e11 = 10 us.
  EXPECT_EQ(m.KernelNanos(WorkCost{.flops = 1e9, .bytes_accessed = 1e6}), 1'000'000 + 1000);
  // Memory bound: 1e8 bytes / 1e11 = 1 ms.
  EXPECT_EQ(m.KernelNanos(WorkCost{.flops = 1e3, .bytes_accessed = 1e8}), 1'000'000 + 1000);
  // Ring bytes alone cross one ICI link: 1e6 bytes / 1e10 = 100 us.
  EXPECT_EQ(m.KernelNanos(WorkCost{.collective_bytes = 1e6, .collective_participants = 4}),
            100'000 + 1000);
  // Listed collectives take the interconnect model's time: a ring all-reduce of 4e6 bytes over
  // 4 devices is 6 steps of (2 us + 1e6 bytes / 1e10 = 100 us) = 612 us.
  WorkCost all_reduce{.collective_bytes = 6e6, .collective_participants = 4};
  all_reduce.collectives = {{CollectiveKind::kAllReduce, 4, 1, 4e6}};
  EXPECT_EQ(m.KernelNanos(all_reduce), 612'000 + 1000);
  m.kernel_nanos = 100'000;
  EXPECT_EQ(m.KernelNanos(WorkCost{.flops = 1e15}), 100'000);
}

TEST(SimDeviceTest, BackToBackKernelsTakeExactlyTheirModelledTimeOnTheDeviceTimeline) {
  // 20 ms: long enough that the stream thread, even slowed down (sanitizers, busy cores), is
  // early for the next deadline and sleeps.
  constexpr int64_t kKernel = 20'000'000;
  SimDevice device(Fixed(kKernel));
  std::atomic<int> ran{0};
  EventRef gate = AsyncEvent::Create();  // every kernel is queued before the first may start
  EventRef last;
  for (int i = 0; i < 5; ++i) {
    last = device.Enqueue(Kernel(
        "k" + std::to_string(i),
        [&] {
          ran.fetch_add(1);
          return absl::OkStatus();
        },
        i == 0 ? std::vector<EventRef>{gate} : std::vector<EventRef>{}));
  }
  gate->SetReady();
  ASSERT_TRUE(last->Await().ok());
  EXPECT_EQ(ran.load(), 5);
  std::vector<SimDevice::ItemTiming> t = device.timeline();
  ASSERT_EQ(t.size(), 5u);
  for (size_t i = 0; i < t.size(); ++i) {
    EXPECT_EQ(t[i].name, "k" + std::to_string(i));
    EXPECT_TRUE(t[i].kernel);
    EXPECT_TRUE(t[i].ran);
    EXPECT_EQ(t[i].end_nanos - t[i].start_nanos, kKernel);  // fn is far shorter than 20 ms
    EXPECT_GE(t[i].done_nanos, t[i].end_nanos);            // never completes early
    if (i > 0) {
      EXPECT_EQ(t[i].start_nanos, t[i - 1].end_nanos);  // the stream is in order
    }
  }
  EXPECT_EQ(device.busy_nanos(), 5 * kKernel);
  EXPECT_GT(device.wake_slack_count(), 0);  // slept through modelled time (not spun)
  EXPECT_GE(device.wake_slack_max_nanos(), 0);
}

TEST(SimDeviceTest, AKernelSlowerThanItsModelEndsWhenItsFnReturns) {
  SimDevice device(Fixed(/*kernel_nanos=*/1000));
  ASSERT_TRUE(device
                  .Enqueue(Kernel("slow",
                                  [] {
                                    std::this_thread::sleep_for(std::chrono::milliseconds(5));
                                    return absl::OkStatus();
                                  }))
                  ->Await()
                  .ok());
  std::vector<SimDevice::ItemTiming> t = device.timeline();
  ASSERT_EQ(t.size(), 1u);
  EXPECT_GE(t[0].end_nanos - t[0].start_nanos, 5'000'000);
  EXPECT_GE(device.busy_nanos(), 5'000'000);
}

TEST(SimDeviceTest, ExecuteFalseSkipsKernelsButRunsRuntimeWork) {
  SimDevice device(Fixed(/*kernel_nanos=*/50'000, /*execute=*/false));
  std::atomic<int> kernels{0}, runtime{0};
  for (int i = 0; i < 3; ++i) {
    device.Enqueue(Kernel("kernel", [&] {
      kernels.fetch_add(1);
      return absl::OkStatus();
    }));
    device.Enqueue(StreamWork{.name = "copy", .fn = [&] {
                                runtime.fetch_add(1);
                                return absl::OkStatus();
                              }});
  }
  ASSERT_TRUE(device.Synchronize().ok());
  EXPECT_EQ(kernels.load(), 0);
  EXPECT_EQ(runtime.load(), 3);
  EXPECT_EQ(device.skipped_kernels(), 3);
  EXPECT_EQ(device.completed(), 6);
  EXPECT_GE(device.busy_nanos(), 3 * 50'000);  // skipped kernels still take modelled time
  for (const SimDevice::ItemTiming& t : device.timeline()) {
    EXPECT_EQ(t.ran, !t.kernel);
    if (t.kernel) {
      EXPECT_EQ(t.end_nanos - t.start_nanos, 50'000);
    }
  }
  EXPECT_THAT(device.DebugString(), HasSubstr("not executing"));
}

TEST(SimDeviceTest, ErrorsPropagateThroughModelledKernels) {
  SimDevice device(Fixed(/*kernel_nanos=*/1'000'000));
  EventRef failed = device.Enqueue(
      Kernel("bad", [] { return absl::InvalidArgumentError("shape mismatch in dot.1"); }));
  bool dependent_ran = false;
  EventRef dependent = device.Enqueue(Kernel(
      "dependent",
      [&] {
        dependent_ran = true;
        return absl::OkStatus();
      },
      {failed}));
  EventRef later = device.Enqueue(Kernel("later", [] { return absl::OkStatus(); }));
  EXPECT_EQ(failed->Await().message(), "shape mismatch in dot.1");
  EXPECT_EQ(dependent->Await().message(), "shape mismatch in dot.1");
  EXPECT_TRUE(later->Await().ok());
  EXPECT_FALSE(dependent_ran);
  // A skipped item takes no device time: only "bad" and "later" were busy.
  EXPECT_EQ(device.busy_nanos(), 2 * 1'000'000);
}

TEST(SimDeviceTest, AKernelWaitingForAnEventStartsWhenTheEventIsSet) {
  SimDevice device(Fixed(/*kernel_nanos=*/1'000'000));
  EventRef gate = AsyncEvent::Create();
  EventRef done = device.Enqueue(Kernel("gated", [] { return absl::OkStatus(); }, {gate}));
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
  const int64_t set_at = MonotonicNanos();
  gate->SetReady();
  ASSERT_TRUE(done->Await().ok());
  std::vector<SimDevice::ItemTiming> t = device.timeline();
  ASSERT_EQ(t.size(), 1u);
  EXPECT_GE(t[0].start_nanos, set_at);
  EXPECT_EQ(t[0].end_nanos - t[0].start_nanos, 1'000'000);
}

TEST(SimDeviceTest, DestructionCutsALongKernelShortAndFailsWaitingWork) {
  EventRef never = AsyncEvent::Create();
  EventRef running, stuck;
  {
    SimDevice device(Fixed(/*kernel_nanos=*/int64_t{3600} * 1'000'000'000));  // an hour
    running = device.Enqueue(Kernel("hour", [] { return absl::OkStatus(); }));
    stuck = device.Enqueue(Kernel("stuck", [] { return absl::OkStatus(); }, {never}));
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_TRUE(running->IsAvailable());
  EXPECT_TRUE(running->status().ok());
  ASSERT_TRUE(stuck->IsAvailable());
  EXPECT_THAT(stuck->status(), StatusIs(absl::StatusCode::kAborted));
  never->SetReady();
}

// Resident memory of this process, from /proc/self/statm (pages).
int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

TEST(SimDeviceTest, TimingModeAccountsMoreMemoryThanTheHostHasWithoutCommittingIt) {
  constexpr int64_t kGiB = int64_t{1} << 30;
  // Twice the RAM of any machine this runs on: 4 TiB of capacity, 3 TiB allocated.
  SimDeviceOptions options = Fixed(1'000);
  options.execute = false;
  options.memory_capacity_bytes = 4096 * kGiB;
  SimDevice device(options);
  EXPECT_FALSE(device.memory().host_backed());
  const int64_t resident_before = ResidentBytes();
  std::vector<DeviceBuffer> buffers;
  for (int i = 0; i < 24; ++i) {
    absl::StatusOr<DeviceBuffer> b = device.Allocate(128 * kGiB);
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_FALSE(b->host_backed());
    buffers.push_back(*std::move(b));
  }
  EXPECT_EQ(device.memory().bytes_in_use(), 24 * 128 * kGiB);
  EXPECT_EQ(device.memory().peak_bytes_in_use(), 24 * 128 * kGiB);
  // Writable (a stand-in for what a kernel or a copy would write): one page commits.
  std::memset(buffers.back().data(), 1, 4096);
  EXPECT_LT(ResidentBytes() - resident_before, int64_t{64} << 20);
  // Past capacity is still out of memory, naming the device.
  absl::StatusOr<DeviceBuffer> too_much = device.Allocate(1025 * kGiB);
  EXPECT_THAT(too_much.status(), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(too_much.status().message(), HasSubstr("out of memory on device"));
  buffers.clear();
  EXPECT_EQ(device.memory().bytes_in_use(), 0);
  EXPECT_EQ(device.memory().num_allocations(), 0);
}

TEST(SimDeviceTest, ExecutingDevicesBackTheirMemory) {
  SimDevice device(Fixed(1'000, /*execute=*/true));
  EXPECT_TRUE(device.memory().host_backed());
  absl::StatusOr<DeviceBuffer> b = device.Allocate(1024);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->host_backed());
}

}  // namespace
}  // namespace pw
