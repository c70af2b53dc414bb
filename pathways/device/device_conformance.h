// The Device contract (pathways/device/device.h) as a typed test suite: every backend runs it.
// A backend's test instantiates it with a factory type providing
//   static constexpr std::string_view kKind;
//   static std::unique_ptr<Device> Make(int64_t id, int64_t host, int64_t capacity,
//                                       TraceRecorder* trace);
// e.g. INSTANTIATE_TYPED_TEST_SUITE_P(Cpu, DeviceConformanceTest, CpuDeviceFactory).
#ifndef PATHWAYS_DEVICE_DEVICE_CONFORMANCE_H_
#define PATHWAYS_DEVICE_DEVICE_CONFORMANCE_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/base/trace.h"
#include "pathways/device/device.h"

namespace pw::device_conformance {

using ::testing::HasSubstr;

inline StreamWork Work(std::string name, absl::AnyInvocable<absl::Status()> fn,
                       std::vector<EventRef> wait_for = {}) {
  return StreamWork{.name = std::move(name), .wait_for = std::move(wait_for), .fn = std::move(fn)};
}

template <typename Factory>
class DeviceConformanceTest : public ::testing::Test {
 protected:
  std::unique_ptr<Device> Make(int64_t id, int64_t host = 0, int64_t capacity = 1 << 20,
                               TraceRecorder* trace = nullptr) {
    return Factory::Make(id, host, capacity, trace);
  }
};

TYPED_TEST_SUITE_P(DeviceConformanceTest);

TYPED_TEST_P(DeviceConformanceTest, IdentityAndDebugString) {
  auto owned = this->Make(3, /*host=*/1);
  Device& device = *owned;
  EXPECT_EQ(device.id(), DeviceId(3));
  EXPECT_EQ(device.host(), HostId(1));
  EXPECT_EQ(device.kind(), TypeParam::kKind);
  EXPECT_THAT(device.DebugString(), HasSubstr("device:3"));
  EXPECT_THAT(device.DebugString(), HasSubstr("host:1"));
}

TYPED_TEST_P(DeviceConformanceTest, RunsItemsFromSeveralThreadsInEnqueueOrder) {
  auto owned = this->Make(0);
  Device& device = *owned;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  absl::Mutex order_mu;  // makes the ticket order equal to the Enqueue order
  int64_t next_ticket = 0;
  std::vector<int64_t> ran;  // touched only by the stream thread until Synchronize
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        absl::MutexLock lock(&order_mu);
        int64_t ticket = next_ticket++;
        device.Enqueue(Work("item", [&ran, ticket] {
          ran.push_back(ticket);
          return absl::OkStatus();
        }));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(device.Synchronize().ok());
  ASSERT_EQ(ran.size(), kThreads * kPerThread);
  for (int64_t i = 0; i < static_cast<int64_t>(ran.size()); ++i) ASSERT_EQ(ran[i], i);
  EXPECT_EQ(device.completed(), kThreads * kPerThread);
}

TYPED_TEST_P(DeviceConformanceTest, WaitsForEventSetLaterFromAnotherThreadAndBlocksLaterItems) {
  auto owned = this->Make(0);
  Device& device = *owned;
  EventRef gate = AsyncEvent::Create();
  std::atomic<bool> gate_set{false};
  std::vector<std::string> ran;
  EventRef first = device.Enqueue(Work(
      "first",
      [&] {
        EXPECT_TRUE(gate_set.load());
        ran.push_back("first");
        return absl::OkStatus();
      },
      {gate}));
  EventRef second = device.Enqueue(Work("second", [&] {
    ran.push_back("second");
    return absl::OkStatus();
  }));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));  // well past the idle poll
  EXPECT_FALSE(first->IsAvailable());
  EXPECT_FALSE(second->IsAvailable());
  std::thread setter([&] {
    gate_set.store(true);
    gate->SetReady();
  });
  EXPECT_TRUE(second->Await().ok());
  EXPECT_TRUE(first->IsAvailable());
  EXPECT_TRUE(first->status().ok());
  EXPECT_THAT(ran, testing::ElementsAre("first", "second"));
  setter.join();
}

TYPED_TEST_P(DeviceConformanceTest, FailedWaitEventSkipsFnAndPassesTheSameStatusThenLaterWorkRuns) {
  auto owned = this->Make(0);
  Device& device = *owned;
  EventRef failed_later = AsyncEvent::Create();
  bool skipped_ran = false;
  bool later_ran = false;
  EventRef skipped = device.Enqueue(Work(
      "skipped",
      [&] {
        skipped_ran = true;
        return absl::OkStatus();
      },
      {AsyncEvent::CreateReady(), failed_later, AsyncEvent::Create()}));
  EventRef later = device.Enqueue(Work("later", [&] {
    later_ran = true;
    return absl::OkStatus();
  }));
  failed_later->SetError(absl::ResourceExhaustedError("out of memory on device:5 for add.2"));
  ASSERT_FALSE(skipped->Await().ok());
  EXPECT_THAT(skipped->status(), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(skipped->status().message(), "out of memory on device:5 for add.2");
  EXPECT_TRUE(later->Await().ok());
  EXPECT_FALSE(skipped_ran);
  EXPECT_TRUE(later_ran);
  EXPECT_EQ(device.completed(), 2);
}

TYPED_TEST_P(DeviceConformanceTest, FirstFailedEventInWaitOrderWins) {
  auto owned = this->Make(0);
  Device& device = *owned;
  EventRef a = AsyncEvent::CreateError(absl::InternalError("a failed"));
  EventRef b = AsyncEvent::CreateError(absl::CancelledError("b failed"));
  EventRef done = device.Enqueue(Work("x", [] { return absl::OkStatus(); }, {a, b}));
  EXPECT_EQ(done->Await().message(), "a failed");
}

TYPED_TEST_P(DeviceConformanceTest, FnErrorFailsItsEventAndLaterWorkStillRuns) {
  auto owned = this->Make(0);
  Device& device = *owned;
  EventRef bad = device.Enqueue(
      Work("bad", [] { return absl::InvalidArgumentError("shape mismatch in dot.1"); }));
  std::atomic<bool> ran{false};
  EventRef good = device.Enqueue(Work("good", [&] {
    ran = true;
    return absl::OkStatus();
  }));
  EXPECT_THAT(bad->Await(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(bad->status().message(), "shape mismatch in dot.1");
  EXPECT_TRUE(good->Await().ok());
  EXPECT_TRUE(ran.load());
}

TYPED_TEST_P(DeviceConformanceTest, EmptyFnIsAStreamMarker) {
  auto owned = this->Make(0);
  Device& device = *owned;
  EventRef gate = AsyncEvent::Create();
  EventRef marker = device.Enqueue(StreamWork{.name = "marker", .wait_for = {gate}});
  gate->SetReady();
  EXPECT_TRUE(marker->Await().ok());
}

TYPED_TEST_P(DeviceConformanceTest, SynchronizeWaitsForEverythingEnqueuedBefore) {
  auto owned = this->Make(0);
  Device& device = *owned;
  std::atomic<int> done{0};
  for (int i = 0; i < 10; ++i) {
    device.Enqueue(Work("sleep", [&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      done.fetch_add(1);
      return absl::OkStatus();
    }));
  }
  ASSERT_TRUE(device.Synchronize().ok());
  EXPECT_EQ(done.load(), 10);
  EXPECT_EQ(device.completed(), 10);  // the internal marker is not counted
}

TYPED_TEST_P(DeviceConformanceTest, BusyTimeGrowsByTheWorkDuration) {
  auto owned = this->Make(0);
  Device& device = *owned;
  EXPECT_EQ(device.busy_nanos(), 0);
  const int64_t before = device.busy_nanos();
  device.Enqueue(Work("spin", [] {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
    while (std::chrono::steady_clock::now() < end) {
    }
    return absl::OkStatus();
  }));
  ASSERT_TRUE(device.Synchronize().ok());
  const int64_t busy = device.busy_nanos() - before;
  EXPECT_GE(busy, 20'000'000);
  EXPECT_LT(busy, 200'000'000);
  // Idle time (waiting for a gate) does not count as busy.
  EventRef gate = AsyncEvent::Create();
  device.Enqueue(Work("cheap", [] { return absl::OkStatus(); }, {gate}));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  gate->SetReady();
  ASSERT_TRUE(device.Synchronize().ok());
  EXPECT_LT(device.busy_nanos() - before - busy, 10'000'000);
}

TYPED_TEST_P(DeviceConformanceTest, OutOfMemoryIsResourceExhaustedNamingTheDevice) {
  auto owned = this->Make(9, /*host=*/0, /*capacity=*/4096);
  Device& device = *owned;
  absl::StatusOr<DeviceBuffer> a = device.Allocate(4000);
  ASSERT_TRUE(a.ok());
  absl::StatusOr<DeviceBuffer> b = device.Allocate(200);
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(b.status(), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(b.status().message(), HasSubstr("device:9"));
  EXPECT_THAT(b.status().message(), HasSubstr("200 bytes"));
  EXPECT_THAT(b.status().message(), HasSubstr("4000 bytes"));
  EXPECT_THAT(b.status().message(), HasSubstr("4096 bytes"));
  EXPECT_EQ(device.memory().bytes_in_use(), 4000);
  a->Reset();
  EXPECT_EQ(device.memory().bytes_in_use(), 0);
}

TYPED_TEST_P(DeviceConformanceTest, BufferCapturedByWorkIsReleasedWhenItsEventIsReady) {
  auto owned = this->Make(0);
  Device& device = *owned;
  absl::StatusOr<DeviceBuffer> buffer = device.Allocate(1024);
  ASSERT_TRUE(buffer.ok());
  EventRef done = device.Enqueue(Work("use", [b = std::move(*buffer)] {
    static_cast<char*>(b.data())[0] = 1;
    return absl::OkStatus();
  }));
  ASSERT_TRUE(done->Await().ok());
  EXPECT_EQ(device.memory().bytes_in_use(), 0);
}

TYPED_TEST_P(DeviceConformanceTest, DestructionWithWorkWaitingOnANeverSetEventDoesNotHang) {
  EventRef never = AsyncEvent::Create();
  EventRef stuck;
  EventRef behind;
  bool stuck_ran = false;
  bool behind_ran = false;
  {
    auto owned = this->Make(4);
  Device& device = *owned;
    stuck = device.Enqueue(Work(
        "stuck",
        [&] {
          stuck_ran = true;
          return absl::OkStatus();
        },
        {never}));
    behind = device.Enqueue(Work("behind", [&] {
      behind_ran = true;
      return absl::OkStatus();
    }));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(stuck->IsAvailable());
  EXPECT_THAT(stuck->status(), StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(stuck->status().message(), HasSubstr("device destroyed"));
  EXPECT_THAT(stuck->status().message(), HasSubstr("stuck"));
  ASSERT_TRUE(behind->IsAvailable());
  EXPECT_TRUE(behind->status().ok());  // drained: its waits were satisfied
  EXPECT_FALSE(stuck_ran);
  EXPECT_TRUE(behind_ran);
  never->SetReady();  // the device's callback on this event must not touch the dead device
}

TYPED_TEST_P(DeviceConformanceTest, EightDevicesInOneProcessChainedAcrossDevices) {
  std::vector<std::unique_ptr<Device>> devices;
  for (int i = 0; i < 8; ++i) devices.push_back(this->Make(i));
  constexpr int kRounds = 50;
  std::vector<int64_t> counts(8, 0);
  std::vector<int64_t> log;  // appended in dependency order: device 0,1,...,7 per round
  absl::Mutex log_mu;
  EventRef prev = AsyncEvent::CreateReady();
  for (int r = 0; r < kRounds; ++r) {
    for (int d = 0; d < 8; ++d) {
      prev = devices[d]->Enqueue(Work(
          "step",
          [&, d] {
            ++counts[d];
            absl::MutexLock lock(&log_mu);
            log.push_back(d);
            return absl::OkStatus();
          },
          {prev}));
    }
  }
  ASSERT_TRUE(prev->Await().ok());
  for (auto& device : devices) ASSERT_TRUE(device->Synchronize().ok());
  for (int d = 0; d < 8; ++d) {
    EXPECT_EQ(counts[d], kRounds);
    EXPECT_EQ(devices[d]->completed(), kRounds);
  }
  absl::MutexLock lock(&log_mu);
  ASSERT_EQ(log.size(), 8 * kRounds);
  for (size_t i = 0; i < log.size(); ++i) ASSERT_EQ(log[i], static_cast<int64_t>(i % 8));
}

TYPED_TEST_P(DeviceConformanceTest, RecordsOneExecuteTraceEventPerItemOnTheDeviceLane) {
  TraceRecorder trace;
  trace.Start();
  {
    auto owned = this->Make(2, /*host=*/5, /*capacity=*/1 << 20, &trace);
    Device& device = *owned;
    for (int i = 0; i < 3; ++i) {
      device.Enqueue(Work("matmul." + std::to_string(i), [] { return absl::OkStatus(); }));
    }
    device.Enqueue(Work("skipped", [] { return absl::OkStatus(); },
                        {AsyncEvent::CreateError(absl::InternalError("upstream"))}));
    ASSERT_TRUE(device.Synchronize().ok());
  }
  std::vector<TraceEvent> events = trace.TakeEvents();
  ASSERT_EQ(events.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(events[i].name, "matmul." + std::to_string(i));
    EXPECT_EQ(events[i].category, "execute");
    EXPECT_EQ(events[i].pid, 5);
    EXPECT_EQ(events[i].tid, 2);
  }
  EXPECT_THAT(trace.ToJson(), HasSubstr("device 2 (" + std::string(TypeParam::kKind) + ")"));
}

REGISTER_TYPED_TEST_SUITE_P(DeviceConformanceTest,
                            IdentityAndDebugString,
                            RunsItemsFromSeveralThreadsInEnqueueOrder,
                            WaitsForEventSetLaterFromAnotherThreadAndBlocksLaterItems,
                            FailedWaitEventSkipsFnAndPassesTheSameStatusThenLaterWorkRuns,
                            FirstFailedEventInWaitOrderWins,
                            FnErrorFailsItsEventAndLaterWorkStillRuns,
                            EmptyFnIsAStreamMarker,
                            SynchronizeWaitsForEverythingEnqueuedBefore,
                            BusyTimeGrowsByTheWorkDuration,
                            OutOfMemoryIsResourceExhaustedNamingTheDevice,
                            BufferCapturedByWorkIsReleasedWhenItsEventIsReady,
                            DestructionWithWorkWaitingOnANeverSetEventDoesNotHang,
                            EightDevicesInOneProcessChainedAcrossDevices,
                            RecordsOneExecuteTraceEventPerItemOnTheDeviceLane);

}  // namespace pw::device_conformance

#endif  // PATHWAYS_DEVICE_DEVICE_CONFORMANCE_H_
