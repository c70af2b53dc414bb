// Tests of SimulatedNetwork and its decorators: per-link order, delays, shutdown in flight.
#include "pathways/cluster/simulated_network.h"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/clock.h"
#include "pathways/base/status_matchers.h"
#include "pathways/dataplane/in_process/in_process_data_plane.h"

namespace pw {
namespace {

using ::testing::HasSubstr;
using Link = SimulatedNetwork::Link;

TEST(NetworkModelTest, PushesAcrossIslandsPayTheDataCenterNetwork) {
  const NetworkModel model{.interconnect = {.ici = {.latency_nanos = 1'000, .bytes_per_second = 1e11},
                                            .dcn = {.latency_nanos = 50'000, .bytes_per_second = 1e9}}};
  EXPECT_EQ(model.PushLatencyNanos(false), 1'000);
  EXPECT_EQ(model.PushLatencyNanos(true), 50'000);
  EXPECT_EQ(model.PushOccupancyNanos(1'000'000, false), 10'000);     // 1 MB at 100 GB/s
  EXPECT_EQ(model.PushOccupancyNanos(1'000'000, true), 1'000'000);   // 1 MB at 1 GB/s
  const NetworkModel ici_only{.interconnect = {.ici = {.latency_nanos = 1'000}}};
  EXPECT_EQ(ici_only.PushLatencyNanos(true), 1'000);  // no DCN figures: as inside an island
  EXPECT_TRUE(NetworkModel{.interconnect = {.dcn = {.latency_nanos = 5}}}.models_transfers());
  EXPECT_FALSE(NetworkModel{.interconnect = {.dcn = {.bytes_per_second = -1}}}.Validate().ok());
  EXPECT_FALSE(NetworkModel{.interconnect = {.dcn = {.latency_nanos = -1}}}.Validate().ok());
}

TEST(SimulatedNetworkTest, KeepsOrderPerLinkUnderDelay) {
  SimulatedNetwork net;
  absl::Mutex mu;
  std::vector<int> a_to_b, b_to_a;
  std::atomic<int> left{2000};
  // Two senders per link, sending alternately with varying latencies: a later message never
  // overtakes an earlier one on its link.
  for (int i = 0; i < 1000; ++i) {
    net.Send(Link{0, 1}, /*latency_nanos=*/(i % 7) * 20'000, 0, [&, i] {
      absl::MutexLock lock(&mu);
      a_to_b.push_back(i);
      left.fetch_sub(1);
    });
    net.Send(Link{1, 0}, /*latency_nanos=*/((i + 3) % 5) * 30'000, 0, [&, i] {
      absl::MutexLock lock(&mu);
      b_to_a.push_back(i);
      left.fetch_sub(1);
    });
  }
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(+[](std::atomic<int>* n) { return n->load() == 0; }, &left));
  }
  // The counter moves after a delivery returns: join the timer thread before reading it.
  net.Shutdown();
  EXPECT_EQ(net.delivered(), 2000);
  EXPECT_EQ(net.dropped(), 0);
  absl::MutexLock lock(&mu);
  ASSERT_EQ(a_to_b.size(), 1000u);
  ASSERT_EQ(b_to_a.size(), 1000u);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(a_to_b[i], i);
    ASSERT_EQ(b_to_a[i], i);
  }
}

TEST(SimulatedNetworkTest, DeliversNoEarlierThanLatencyPlusOccupancy) {
  SimulatedNetwork net;
  constexpr int64_t kLatency = 2'000'000, kOccupancy = 3'000'000;
  std::vector<int64_t> arrived(3, 0);
  EventRef done = AsyncEvent::Create();
  const int64_t sent = MonotonicNanos();
  for (int i = 0; i < 3; ++i) {
    net.Send(Link{4, 5}, kLatency, kOccupancy, [&, i] {
      arrived[i] = MonotonicNanos();
      if (i == 2) done->SetReady();
    });
  }
  ASSERT_TRUE(done->Await().ok());
  // The link carries one message at a time: message i arrives after (i + 1) occupancies.
  for (int i = 0; i < 3; ++i) EXPECT_GE(arrived[i] - sent, kLatency + (i + 1) * kOccupancy);
  // The counters move after a delivery returns: join the timer thread before reading them.
  net.Shutdown();
  EXPECT_GE(net.late_max_nanos(), 0);
  EXPECT_THAT(net.DebugString(), HasSubstr("3 delivered"));
}

TEST(SimulatedNetworkTest, ShutdownDropsMessagesInFlightAndRefusesLaterOnes) {
  auto net = std::make_unique<SimulatedNetwork>();
  std::atomic<int> delivered{0}, dropped{0};
  for (int i = 0; i < 10; ++i) {
    net->Send(Link{0, 1}, /*latency_nanos=*/int64_t{3600} * 1'000'000'000, 0,
              [&] { delivered.fetch_add(1); }, [&] { dropped.fetch_add(1); });
  }
  EXPECT_EQ(net->in_flight(), 10);
  net->Shutdown();
  EXPECT_EQ(net->in_flight(), 0);
  EXPECT_EQ(delivered.load(), 0);
  EXPECT_EQ(dropped.load(), 10);
  net->Send(Link{0, 1}, 0, 0, [&] { delivered.fetch_add(1); }, [&] { dropped.fetch_add(1); });
  EXPECT_EQ(dropped.load(), 11);
  net.reset();  // a second shutdown (the destructor) is a no-op
  EXPECT_EQ(delivered.load(), 0);
}

// A receiver that records shards, for the data plane decorator.
class RecordingReceiver final : public ShardReceiver {
 public:
  absl::Status ReceiveShard(ArrayId array, int32_t shard, DeviceId, const ir::TensorType&,
                            const void* data, int64_t bytes) override {
    absl::MutexLock lock(&mu_);
    received_.push_back({array, std::string(static_cast<const char*>(data), bytes)});
    return absl::OkStatus();
  }
  void FailShard(ArrayId array, int32_t, const ir::TensorType&, absl::Status error) override {
    absl::MutexLock lock(&mu_);
    received_.push_back({array, "error: " + std::string(error.message())});
  }
  std::vector<std::pair<ArrayId, std::string>> received() {
    absl::MutexLock lock(&mu_);
    return received_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::pair<ArrayId, std::string>> received_;
};

TEST(DelayedDataPlaneTest, PushesArriveLaterInOrderAndErrorsTravelTheSameLink) {
  InProcessDataPlane plane;
  RecordingReceiver receiver;
  ASSERT_TRUE(plane.Register(HostId(1), &receiver).ok());
  {
    SimulatedNetwork net;
    DelayedDataPlane delayed(&plane, &net, HostId(0),
                             // 200 ms, so the first push is surely still on the wire when checked
                             // (even on a slowed-down machine); 1 us per byte.
                             NetworkModel{.interconnect = {.ici = {.latency_nanos = 200'000'000,
                                                                   .bytes_per_second = 4e6}}});
    const ir::TensorType type{ir::DType::kI32, {1}};
    const int64_t sent = MonotonicNanos();
    EventRef first = delayed.Push(HostId(1), ArrayId(10), 0, DeviceId(2), type, "abcd", 4);
    delayed.PushError(HostId(1), ArrayId(11), 0, DeviceId(2), type,
                      absl::InternalError("producer failed"));
    EventRef third = delayed.Push(HostId(1), ArrayId(12), 0, DeviceId(2), type, "efgh", 4);
    EXPECT_FALSE(first->IsAvailable());  // still on the wire
    ASSERT_TRUE(first->Await().ok());
    EXPECT_GE(MonotonicNanos() - sent, 200'000'000 + 4'000);
    ASSERT_TRUE(third->Await().ok());
    // Unreachable hosts fail as they would without the model, only later.
    EXPECT_THAT(delayed.Push(HostId(9), ArrayId(13), 0, DeviceId(2), type, "ijkl", 4) ->Await() ,
                StatusIs(absl::StatusCode::kUnavailable));
    net.Shutdown();
    EventRef after = delayed.Push(HostId(1), ArrayId(14), 0, DeviceId(2), type, "mnop", 4);
    ASSERT_TRUE(after->IsAvailable());
    EXPECT_THAT(after->status(), StatusIs(absl::StatusCode::kUnavailable));
    EXPECT_THAT(after->status().message(), HasSubstr("shut down"));
  }
  std::vector<std::pair<ArrayId, std::string>> got = receiver.received();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], std::make_pair(ArrayId(10), std::string("abcd")));
  EXPECT_EQ(got[1], std::make_pair(ArrayId(11), std::string("error: producer failed")));
  EXPECT_EQ(got[2], std::make_pair(ArrayId(12), std::string("efgh")));
  plane.Unregister(HostId(1));
}

TEST(NetworkModelTest, RejectsNegativeValuesNamingTheField) {
  EXPECT_THAT(NetworkModel{.control_latency_nanos = -1}.Validate().message(),
              HasSubstr("control_latency_nanos"));
  EXPECT_THAT(NetworkModel{.interconnect = {.ici = {.latency_nanos = -5}}}.Validate().message(),
              HasSubstr("ici.latency_nanos"));
  EXPECT_THAT(NetworkModel{.interconnect = {.ici = {.bytes_per_second = -1}}}.Validate().message(),
              HasSubstr("ici.bytes_per_second"));
  EXPECT_TRUE(NetworkModel{}.Validate().ok());
  EXPECT_FALSE(NetworkModel{}.models_control());
  EXPECT_FALSE(NetworkModel{}.models_transfers());
}

}  // namespace
}  // namespace pw
