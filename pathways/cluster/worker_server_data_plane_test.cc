// The gRPC data plane between WorkerServers (two in one process over loopback): multi-chunk
// odd-sized shards landing intact, the producer's error and the receiver's verdict reaching the
// other side, and unreachable or unknown peers named in UNAVAILABLE errors.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/cluster/worker_server.h"
#include "pathways/cluster/worker_test_util.h"
#include "pathways/dataplane/grpc/grpc_data_plane.h"

namespace pw {
namespace {

using ::pw::worker_testing::FakeController;
using ::pw::worker_testing::WorkerClient;
using ::testing::HasSubstr;

// Two workers (host 0: devices 0, 1; host 1: devices 2, 3) and a data plane of our own that
// resolves hosts through the fake controller's addresses.
class GrpcDataPlaneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 2; ++i) {
      auto worker = WorkerServer::Start(
          WorkerServerOptions{.controller_address = controller_.address(), .trace = false});
      ASSERT_TRUE(worker.ok()) << worker.status();
      workers_.push_back(*std::move(worker));
    }
    ASSERT_EQ(workers_[1]->host(), HostId(1));
  }

  std::unique_ptr<GrpcDataPlane> MakePlane(int64_t chunk_bytes = grpc_transport::kPushChunkBytes) {
    return std::make_unique<GrpcDataPlane>(GrpcDataPlaneOptions{
        .name = "test sender",
        .resolve = [this](HostId host) -> absl::StatusOr<std::string> {
          if (host.value() < 0 || host.value() >= static_cast<int64_t>(workers_.size())) {
            return absl::NotFoundError(absl::StrCat("no such host ", host.value()));
          }
          return workers_[host.value()]->address();
        },
        .chunk_bytes = chunk_bytes});
  }

  // Fetches a shard from host 1, retrying while the shard is not known there yet.
  absl::StatusOr<ir::Literal> FetchFromHost1(ArrayId array) {
    WorkerClient client(workers_[1]->address());
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    for (;;) {
      absl::StatusOr<ir::Literal> got = client.FetchShard(array, 0, 0)->AwaitValue();
      if (!absl::IsNotFound(got.status()) || absl::Now() > give_up) return got;
      absl::SleepFor(absl::Milliseconds(5));
    }
  }

  FakeController controller_;
  std::vector<std::unique_ptr<WorkerServer>> workers_;
};

std::string Pattern(int64_t bytes) {
  std::string data(static_cast<size_t>(bytes), '\0');
  uint64_t x = 12345;
  for (char& c : data) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    c = static_cast<char>((x >> 62) & 1);  // bools: 0 or 1, position dependent
  }
  return data;
}

TEST_F(GrpcDataPlaneTest, MultiChunkOddSizedShardLandsIntactWithOneCopy) {
  const int64_t bytes = 2 * grpc_transport::kPushChunkBytes + 12345;  // three chunks, odd size
  const std::string data = Pattern(bytes);
  const ir::TensorType type{ir::DType::kBool, ir::Shape({bytes})};
  std::unique_ptr<GrpcDataPlane> plane = MakePlane();
  EventRef pushed = plane->Push(HostId(1), ArrayId(900), 0, DeviceId(3), type, data.data(), bytes);
  ASSERT_TRUE(pushed->Await().ok()) << pushed->status();
  absl::StatusOr<ir::Literal> got = FetchFromHost1(ArrayId(900));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->bytes() == data) << "the received shard differs";

  const GrpcDataPlane::Stats sent = plane->stats();
  EXPECT_EQ(sent.chunks, 3);
  EXPECT_EQ(sent.payload_bytes, bytes);
  EXPECT_EQ(sent.copied_bytes, 0);
  const WorkerServer::ReceivedStats received = workers_[1]->received_stats();
  EXPECT_EQ(received.received_bytes, bytes);
  EXPECT_EQ(received.copied_bytes, bytes);  // once, into the device buffer

  // Small chunks: many messages, still intact.
  std::unique_ptr<GrpcDataPlane> fine = MakePlane(/*chunk_bytes=*/1000);
  const int64_t small = 10 * 1000 + 7;
  const std::string small_data = Pattern(small);
  pushed = fine->Push(HostId(1), ArrayId(901), 0, DeviceId(2),
                      ir::TensorType{ir::DType::kBool, ir::Shape({small})}, small_data.data(),
                      small);
  ASSERT_TRUE(pushed->Await().ok()) << pushed->status();
  got = FetchFromHost1(ArrayId(901));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->bytes() == small_data);
  EXPECT_EQ(fine->stats().chunks, 11);
}

TEST_F(GrpcDataPlaneTest, ProducerErrorAndReceiverVerdictCrossTheWire) {
  std::unique_ptr<GrpcDataPlane> plane = MakePlane();
  const ir::TensorType type{ir::DType::kF32, ir::Shape({4})};
  plane->PushError(HostId(1), ArrayId(910), 0, DeviceId(2), type,
                   absl::ResourceExhaustedError("producer ran out of memory"));
  absl::StatusOr<ir::Literal> got = FetchFromHost1(ArrayId(910));
  EXPECT_THAT(got.status(), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(std::string(got.status().message()), HasSubstr("producer ran out of memory"));

  // The receiver refuses a device it does not have: the sender's event says why.
  const float values[4] = {1, 2, 3, 4};
  EventRef pushed = plane->Push(HostId(1), ArrayId(911), 0, DeviceId(0), type, values, 16);
  const absl::Status& refused = pushed->Await();
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(refused.message()), HasSubstr("device:0"));
  // A shard already produced.
  ASSERT_TRUE(plane->Push(HostId(1), ArrayId(912), 0, DeviceId(2), type, values, 16)->Await().ok());
  EXPECT_THAT(plane->Push(HostId(1), ArrayId(912), 0, DeviceId(2), type, values, 16)->Await(),
              StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST_F(GrpcDataPlaneTest, UnreachableOrUnknownPeerIsUnavailableNamingIt) {
  // An address nobody listens on: a worker that went away.
  const std::string gone = workers_[1]->address();
  workers_[1]->Shutdown();
  std::unique_ptr<GrpcDataPlane> plane = MakePlane();
  const float values[4] = {1, 2, 3, 4};
  const ir::TensorType type{ir::DType::kF32, ir::Shape({4})};
  const absl::Status lost =
      plane->Push(HostId(1), ArrayId(920), 0, DeviceId(2), type, values, 16)->Await();
  EXPECT_THAT(lost, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(lost.message()), HasSubstr("host:1"));
  EXPECT_THAT(std::string(lost.message()), HasSubstr(gone));

  const absl::Status unknown =
      plane->Push(HostId(7), ArrayId(921), 0, DeviceId(2), type, values, 16)->Await();
  EXPECT_THAT(unknown, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("host:7"));

  plane->Shutdown();
  const absl::Status after =
      plane->Push(HostId(0), ArrayId(922), 0, DeviceId(0), type, values, 16)->Await();
  EXPECT_THAT(after, StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace pw
