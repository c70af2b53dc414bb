// Tests for InProcessDataPlane: pushes reach the registered receiver, unknown hosts are
// UNAVAILABLE, errors are forwarded, registration is unique.
#include "pathways/dataplane/in_process/in_process_data_plane.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"

namespace pw {
namespace {

using ::testing::HasSubstr;

class FakeReceiver final : public ShardReceiver {
 public:
  absl::Status ReceiveShard(ArrayId array, int32_t shard, DeviceId device,
                            const ir::TensorType& type, const void* data,
                            int64_t bytes) override {
    received.assign(static_cast<const char*>(data), bytes);
    last_array = array;
    return next_status;
  }
  void FailShard(ArrayId array, int32_t shard, const ir::TensorType& type,
                 absl::Status error) override {
    failed = error;
  }
  std::string received;
  ArrayId last_array;
  absl::Status next_status;
  absl::Status failed;
};

const ir::TensorType kBytes{ir::DType::kF32, {1}};

TEST(InProcessDataPlaneTest, PushCallsTheRegisteredReceiver) {
  InProcessDataPlane plane;
  FakeReceiver receiver;
  ASSERT_TRUE(plane.Register(HostId(1), &receiver).ok());
  EXPECT_THAT(plane.Register(HostId(1), &receiver), StatusIs(absl::StatusCode::kAlreadyExists));
  EventRef done = plane.Push(HostId(1), ArrayId(4), 0, DeviceId(2), kBytes, "abcd", 4);
  ASSERT_TRUE(done->IsAvailable());
  EXPECT_TRUE(done->status().ok());
  EXPECT_EQ(receiver.received, "abcd");
  EXPECT_EQ(receiver.last_array, ArrayId(4));
  receiver.next_status = absl::ResourceExhaustedError("receiver full");
  EXPECT_THAT(plane.Push(HostId(1), ArrayId(5), 0, DeviceId(2), kBytes, "efgh", 4)->status(),
              StatusIs(absl::StatusCode::kResourceExhausted));
  plane.PushError(HostId(1), ArrayId(6), 0, DeviceId(2), kBytes, absl::InternalError("boom"));
  EXPECT_THAT(std::string(receiver.failed.message()), HasSubstr("boom"));
  EXPECT_EQ(plane.pushes(), 3);
}

TEST(InProcessDataPlaneTest, UnknownOrUnregisteredHostIsUnavailable) {
  InProcessDataPlane plane;
  FakeReceiver receiver;
  ASSERT_TRUE(plane.Register(HostId(1), &receiver).ok());
  plane.Unregister(HostId(1));
  EventRef done = plane.Push(HostId(1), ArrayId(4), 0, DeviceId(2), kBytes, "abcd", 4);
  ASSERT_TRUE(done->IsAvailable());
  EXPECT_THAT(done->status(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(done->status().message()), HasSubstr("host:1"));
  EXPECT_TRUE(receiver.received.empty());
  plane.PushError(HostId(7), ArrayId(6), 0, DeviceId(2), kBytes, absl::InternalError("dropped"));
}

}  // namespace
}  // namespace pw
