// The DataPlane conformance suite (see data_plane_conformance.h).
#include "pathways/dataplane/data_plane_conformance.h"

#include <algorithm>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "pathways/base/async_value.h"
#include "pathways/base/status_matchers.h"

namespace pw::data_plane_testing {

// ---- RecordingReceiver ----------------------------------------------------------------------

class RecordingReceiver::InPlace final : public IncomingShard {
 public:
  InPlace(RecordingReceiver* receiver, Key key, int64_t bytes)
      : receiver_(receiver), key_(key), bytes_(static_cast<size_t>(bytes), '\0') {}
  ~InPlace() override {
    if (!finished_) {
      receiver_->Record(key_, absl::CancelledError("the push ended before the shard was complete"),
                        "");
    }
  }
  char* data() override { return bytes_.data(); }
  absl::Status Finish(absl::Status status) override {
    finished_ = true;
    receiver_->Record(key_, std::move(status), std::move(bytes_));
    return absl::OkStatus();
  }

 private:
  RecordingReceiver* const receiver_;
  const Key key_;
  std::string bytes_;
  bool finished_ = false;
};

void RecordingReceiver::Preallocate(ArrayId array, int32_t shard) {
  absl::MutexLock lock(&mu_);
  preallocated_[{array.value(), shard}] = true;
}

void RecordingReceiver::Refuse(ArrayId array, absl::Status error) {
  absl::MutexLock lock(&mu_);
  refused_[array.value()] = std::move(error);
}

void RecordingReceiver::Block() {
  absl::MutexLock lock(&mu_);
  blocked_ = true;
}

void RecordingReceiver::Unblock() {
  absl::MutexLock lock(&mu_);
  blocked_ = false;
}

bool RecordingReceiver::AwaitBegun(int n, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return begun_ >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

absl::Status RecordingReceiver::Await(ArrayId array, int32_t shard, absl::Duration timeout) {
  const Key key{array.value(), shard};
  absl::MutexLock lock(&mu_);
  auto arrived = [this, key]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_.contains(key); };
  if (!mu_.AwaitWithTimeout(absl::Condition(&arrived), timeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat(array.DebugString(), " shard ", shard, " never arrived"));
  }
  return done_[key].status;
}

std::string RecordingReceiver::Bytes(ArrayId array, int32_t shard) {
  absl::MutexLock lock(&mu_);
  auto it = done_.find(Key{array.value(), shard});
  return it == done_.end() ? std::string() : it->second.bytes;
}

std::vector<RecordingReceiver::Key> RecordingReceiver::Order() {
  absl::MutexLock lock(&mu_);
  return order_;
}

void RecordingReceiver::Record(Key key, absl::Status status, std::string bytes) {
  absl::MutexLock lock(&mu_);
  done_.try_emplace(key, Outcome{std::move(status), std::move(bytes)});
}

absl::Status RecordingReceiver::ReceiveShard(ArrayId array, int32_t shard, DeviceId,
                                             const ir::TensorType& type, const void* data,
                                             int64_t bytes) {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = refused_.find(array.value()); it != refused_.end()) return it->second;
    // The in-process plane calls this directly; the staged path after BeginReceiveShard.
    const Key key{array.value(), shard};
    if (std::find(order_.begin(), order_.end(), key) == order_.end()) order_.push_back(key);
  }
  if (bytes != type.byte_size()) {
    return absl::InvalidArgumentError(absl::StrCat("size mismatch: ", bytes, " bytes for ",
                                                   type.DebugString()));
  }
  Record({array.value(), shard}, absl::OkStatus(),
         std::string(static_cast<const char*>(data), static_cast<size_t>(bytes)));
  return absl::OkStatus();
}

void RecordingReceiver::FailShard(ArrayId array, int32_t shard, const ir::TensorType&,
                                  absl::Status error) {
  Record({array.value(), shard}, std::move(error), "");
}

absl::StatusOr<std::unique_ptr<IncomingShard>> RecordingReceiver::BeginReceiveShard(
    ArrayId array, int32_t shard, DeviceId device, const ir::TensorType& type) {
  const Key key{array.value(), shard};
  bool in_place = false;
  {
    absl::MutexLock lock(&mu_);
    order_.push_back(key);
    ++begun_;
    auto unblocked = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !blocked_; };
    mu_.Await(absl::Condition(&unblocked));
    if (auto it = refused_.find(array.value()); it != refused_.end()) return it->second;
    in_place = preallocated_.contains(key);
  }
  if (in_place) return std::make_unique<InPlace>(this, key, type.byte_size());
  return ShardReceiver::BeginReceiveShard(array, shard, device, type);
}

// ---- the suite --------------------------------------------------------------------------------

void DataPlaneConformanceTest::AddHosts(int n) {
  for (int i = 0; i < n; ++i) {
    receivers_.push_back(std::make_unique<RecordingReceiver>());
    harness_->AddHost(HostId(i), receivers_.back().get());
  }
}

namespace {

using ::testing::HasSubstr;

std::string Pattern(int64_t bytes, uint64_t seed) {
  std::string data(static_cast<size_t>(bytes), '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (char& c : data) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    c = static_cast<char>(x >> 56);
  }
  return data;
}

ir::TensorType Bytes(int64_t n) { return ir::TensorType{ir::DType::kBool, ir::Shape({n})}; }

TEST_P(DataPlaneConformanceTest, BytesArriveIntactPreallocatedOrNot) {
  AddHosts(2);
  const std::vector<int64_t> sizes = {0, 1, 4097, (int64_t{3} << 20) + 5};
  std::vector<std::string> data;
  data.reserve(2 * sizes.size());  // the pushes reference the strings: no reallocation
  std::vector<EventRef> events;
  int64_t array = 100;
  for (int64_t size : sizes) {
    for (bool preallocated : {true, false}) {
      data.push_back(Pattern(size, static_cast<uint64_t>(array)));
      if (preallocated) receiver(1).Preallocate(ArrayId(array), 0);
      events.push_back(harness_->plane().Push(HostId(1), ArrayId(array), 0, DeviceId(2),
                                              Bytes(size), data.back().data(), size));
      ++array;
    }
  }
  for (size_t i = 0; i < events.size(); ++i) {
    const ArrayId id(100 + static_cast<int64_t>(i));
    EXPECT_TRUE(events[i]->Await().ok()) << id << ": " << events[i]->status();
    ASSERT_TRUE(receiver(1).Await(id, 0).ok()) << id;
    EXPECT_TRUE(receiver(1).Bytes(id, 0) == data[i]) << id << " arrived damaged";
  }
}

TEST_P(DataPlaneConformanceTest, ManyConcurrentPushesToSeveralHostsAllLand) {
  constexpr int kHosts = 3, kThreads = 4, kPerThread = 40;
  AddHosts(kHosts);
  std::vector<std::string> data(kThreads * kPerThread);
  for (size_t i = 0; i < data.size(); ++i) data[i] = Pattern(1 + 997 * (i % 70), i);
  std::vector<EventRef> events(data.size());
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kPerThread; ++k) {
        const int i = t * kPerThread + k;
        const int64_t size = static_cast<int64_t>(data[i].size());
        events[i] = harness_->plane().Push(HostId(i % kHosts), ArrayId(1000 + i), i % 2,
                                           DeviceId(0), Bytes(size), data[i].data(), size);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (size_t i = 0; i < data.size(); ++i) {
    const ArrayId id(1000 + static_cast<int64_t>(i));
    ASSERT_TRUE(events[i]->Await().ok()) << id << ": " << events[i]->status();
    RecordingReceiver& r = receiver(static_cast<int>(i % kHosts));
    ASSERT_TRUE(r.Await(id, static_cast<int32_t>(i % 2)).ok());
    EXPECT_TRUE(r.Bytes(id, static_cast<int32_t>(i % 2)) == data[i]) << id;
  }
}

TEST_P(DataPlaneConformanceTest, ReceiverErrorReachesTheSendersEvent) {
  AddHosts(2);
  receiver(1).Refuse(ArrayId(7), absl::InvalidArgumentError("type mismatch: expected f32[4]"));
  receiver(1).Refuse(ArrayId(8), absl::ResourceExhaustedError("no memory left on device:2"));
  const std::string data = Pattern(64, 1);
  const absl::Status mismatch =
      harness_->plane().Push(HostId(1), ArrayId(7), 0, DeviceId(2), Bytes(64), data.data(), 64)
          ->Await();
  EXPECT_THAT(mismatch, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(mismatch.message()), HasSubstr("type mismatch: expected f32[4]"));
  const absl::Status full =
      harness_->plane().Push(HostId(1), ArrayId(8), 0, DeviceId(2), Bytes(64), data.data(), 64)
          ->Await();
  EXPECT_THAT(full, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(std::string(full.message()), HasSubstr("no memory left on device:2"));
  // The connection survives a refused push.
  EXPECT_TRUE(
      harness_->plane().Push(HostId(1), ArrayId(9), 0, DeviceId(2), Bytes(64), data.data(), 64)
          ->Await()
          .ok());
}

TEST_P(DataPlaneConformanceTest, UnknownOrUnreachableHostIsUnavailableNamingIt) {
  AddHosts(2);
  const std::string data = Pattern(16, 2);
  const absl::Status unknown =
      harness_->plane().Push(HostId(7), ArrayId(1), 0, DeviceId(0), Bytes(16), data.data(), 16)
          ->Await();
  EXPECT_THAT(unknown, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("host:7"));

  const std::string address = harness_->Address(HostId(1));
  harness_->KillHost(HostId(1));
  const absl::Status gone =
      harness_->plane().Push(HostId(1), ArrayId(2), 0, DeviceId(2), Bytes(16), data.data(), 16)
          ->Await();
  EXPECT_THAT(gone, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(gone.message()), HasSubstr("host:1"));
  EXPECT_THAT(std::string(gone.message()), HasSubstr(address));
  // Other hosts are not affected.
  EXPECT_TRUE(
      harness_->plane().Push(HostId(0), ArrayId(3), 0, DeviceId(0), Bytes(16), data.data(), 16)
          ->Await()
          .ok());
}

TEST_P(DataPlaneConformanceTest, ReceiverDyingMidTransferFailsBothSides) {
  if (!harness_->crosses_processes()) GTEST_SKIP() << "a push is one call: nothing to interrupt";
  if (const std::string why = harness_->mid_transfer_exemption(); !why.empty()) {
    GTEST_SKIP() << why;
  }
  AddHosts(2);
  receiver(1).Block();
  receiver(1).Preallocate(ArrayId(50), 0);
  const int64_t size = int64_t{32} << 20;  // more than the sockets buffer
  const std::string data = Pattern(size, 3);
  EventRef pushed =
      harness_->plane().Push(HostId(1), ArrayId(50), 0, DeviceId(2), Bytes(size), data.data(), size);
  ASSERT_TRUE(receiver(1).AwaitBegun(1, absl::Seconds(30)));
  // The receiver is inside BeginReceiveShard, the payload not read yet: the host dies.
  std::thread kill([this] { harness_->KillHost(HostId(1)); });
  // The sender learns before the stuck receiver returns (bounded, in case it does not).
  auto failed = std::make_shared<absl::Notification>();
  pushed->AndThen([failed](const absl::Status&) { failed->Notify(); });
  (void)failed->WaitForNotificationWithTimeout(absl::Seconds(20));
  receiver(1).Unblock();
  kill.join();
  const absl::Status sent = pushed->Await();
  EXPECT_FALSE(sent.ok());
  EXPECT_THAT(std::string(sent.message()), HasSubstr("host:1")) << sent;
  const absl::Status received = receiver(1).Await(ArrayId(50), 0);
  EXPECT_FALSE(received.ok()) << "the receiver kept a shard it got in part";
  EXPECT_NE(received.code(), absl::StatusCode::kDeadlineExceeded) << received;
}

TEST_P(DataPlaneConformanceTest, PushErrorArrivesAsTheShardsError) {
  AddHosts(2);
  harness_->plane().PushError(HostId(1), ArrayId(60), 3, DeviceId(2), Bytes(8),
                              absl::InternalError("the producer exploded"));
  const absl::Status got = receiver(1).Await(ArrayId(60), 3);
  EXPECT_THAT(got, StatusIs(absl::StatusCode::kInternal));
  EXPECT_THAT(std::string(got.message()), HasSubstr("the producer exploded"));
}

TEST_P(DataPlaneConformanceTest, ShutdownWithPushesInFlightDoesNotHang) {
  if (const std::string why = harness_->mid_transfer_exemption(); !why.empty()) {
    GTEST_SKIP() << why;
  }
  AddHosts(2);
  // One push stuck in a receiver (host 1; only one: a gRPC receiver blocks a server thread per
  // call), others on their way to host 0.
  receiver(1).Block();
  const int64_t size = int64_t{4} << 20;
  const std::string data = Pattern(size, 4);
  std::vector<EventRef> events;
  events.push_back(harness_->plane().Push(HostId(1), ArrayId(70), 0, DeviceId(0), Bytes(size),
                                          data.data(), size));
  for (int i = 1; i < 6; ++i) {
    events.push_back(harness_->plane().Push(HostId(0), ArrayId(70 + i), 0, DeviceId(0),
                                            Bytes(size), data.data(), size));
  }
  if (harness_->crosses_processes()) ASSERT_TRUE(receiver(1).AwaitBegun(1, absl::Seconds(30)));
  // Shutdown must not wait for the stuck receiver.
  absl::Notification shut;
  std::thread shutdown([&] {
    harness_->ShutdownPlane();
    shut.Notify();
  });
  EXPECT_TRUE(shut.WaitForNotificationWithTimeout(absl::Seconds(10)))
      << "Shutdown waited for a receiver stuck in BeginReceiveShard";
  receiver(1).Unblock();
  shutdown.join();
  for (EventRef& e : events) (void)e->Await();  // every event is set
  if (harness_->crosses_processes()) {
    const absl::Status after =
        harness_->plane().Push(HostId(0), ArrayId(80), 0, DeviceId(0), Bytes(16), data.data(), 16)
            ->Await();
    EXPECT_THAT(after, StatusIs(absl::StatusCode::kUnavailable));
  }
}

}  // namespace
void HostDirectory::Set(HostId host, std::string address) {
  absl::MutexLock lock(&mu_);
  addresses_[host] = std::move(address);
}

std::string HostDirectory::Get(HostId host) {
  absl::MutexLock lock(&mu_);
  auto it = addresses_.find(host);
  return it == addresses_.end() ? std::string() : it->second;
}

HostResolver HostDirectory::resolver() {
  return [this](HostId host) -> absl::StatusOr<std::string> {
    std::string address = Get(host);
    if (address.empty()) return absl::NotFoundError(absl::StrCat("no such host ", host.value()));
    return address;
  };
}

}  // namespace pw::data_plane_testing
