// Tests for the data plane across processes (here: two WorkerServers in one process over loopback
// gRPC): chunk messages that any protobuf reader parses and a reader that never copies them twice,
// multi-chunk odd-sized shards landing intact, the producer's error and the receiver's verdict
// reaching the other side, and unreachable or unknown peers named in UNAVAILABLE errors.
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/transport/data_plane_service.h"
#include "pathways/transport/grpc_data_plane.h"
#include "pathways/transport/shard_push_codec.h"
#include "pathways/transport/wire.pb.h"
#include "pathways/transport/worker_server.h"
#include "pathways/transport/worker_test_util.h"

namespace pw {
namespace {

using ::pw::worker_testing::FakeController;
using ::pw::worker_testing::WorkerClient;
using ::testing::HasSubstr;

std::string Flatten(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  std::string out;
  for (const grpc::Slice& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

grpc::ByteBuffer FromBytes(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

wire::ShardPushHeader Header(int64_t bytes) {
  return wire::ShardPushHeader{ArrayId(5), 1, DeviceId(3),
                               ir::TensorType{ir::DType::kBool, ir::Shape({bytes})}};
}

TEST(ShardPushCodecTest, ChunkReferencesTheCallersBytesAndParsesAsShardPushProto) {
  const std::string data = "0123456789";
  static int released = 0;
  released = 0;
  {
    grpc::ByteBuffer message = grpc_transport::EncodeChunk(
        Header(100), 40, data.data(), static_cast<int64_t>(data.size()),
        +[](void* user) { ++*static_cast<int*>(user); }, &released);
    // Any protobuf reader sees an ordinary chunk.
    pathways::wire::ShardPushProto parsed;
    ASSERT_TRUE(parsed.ParseFromString(Flatten(message)));
    EXPECT_EQ(parsed.chunk(), data);
    EXPECT_EQ(parsed.offset(), 40);
    EXPECT_EQ(parsed.array(), 5);
    // The reader finds the chunk without copying it, then copies it once.
    absl::StatusOr<grpc_transport::DecodedPush> push = grpc_transport::DecodePush(message);
    ASSERT_TRUE(push.ok()) << push.status();
    EXPECT_EQ(push->offset, 40);
    EXPECT_EQ(push->size, 10);
    EXPECT_EQ(push->header.array, ArrayId(5));
    EXPECT_EQ(push->header.device, DeviceId(3));
    std::string copy(10, '\0');
    ASSERT_TRUE(grpc_transport::CopyChunk(message, *push, copy.data()).ok());
    EXPECT_EQ(copy, data);
    EXPECT_EQ(released, 0);
  }
  EXPECT_EQ(released, 1);  // gRPC let go of the caller's memory with the message
}

TEST(ShardPushCodecTest, ReaderAcceptsStandardSerializationAndRejectsMalformedMessages) {
  // Protobuf writes `chunk` before `offset`; the reader takes fields in any order.
  wire::ShardPushHeader header = Header(16);
  pathways::wire::ShardPushProto standard = wire::ChunkToProto(header, 12, "abcd", 4);
  grpc::ByteBuffer message = FromBytes(standard.SerializeAsString());
  absl::StatusOr<grpc_transport::DecodedPush> push = grpc_transport::DecodePush(message);
  ASSERT_TRUE(push.ok()) << push.status();
  EXPECT_EQ(push->offset, 12);
  EXPECT_EQ(push->size, 4);

  grpc::ByteBuffer error = grpc_transport::EncodeError(header, absl::InternalError("boom"));
  push = grpc_transport::DecodePush(error);
  ASSERT_TRUE(push.ok()) << push.status();
  EXPECT_EQ(push->error, absl::InternalError("boom"));

  // Past the end of the shard.
  pathways::wire::ShardPushProto outside = wire::ChunkToProto(header, 14, "abcd", 4);
  message = FromBytes(outside.SerializeAsString());
  EXPECT_THAT(std::string(grpc_transport::DecodePush(message).status().message()),
              HasSubstr("outside the shard"));
  // Both a chunk and an error.
  std::string both = standard.SerializeAsString() +
                     wire::ErrorToProto(header, absl::InternalError("x")).SerializeAsString();
  message = FromBytes(both);
  EXPECT_EQ(grpc_transport::DecodePush(message).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Truncated.
  std::string cut = standard.SerializeAsString();
  cut.resize(cut.size() - 3);
  message = FromBytes(cut);
  EXPECT_EQ(grpc_transport::DecodePush(message).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Another wire version.
  standard.set_version(wire::kWireVersion + 1);
  message = FromBytes(standard.SerializeAsString());
  EXPECT_EQ(grpc_transport::DecodePush(message).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // Garbage never crashes.
  std::mt19937 rng(7);
  const std::string valid = wire::ChunkToProto(header, 0, "abcdefgh", 8).SerializeAsString();
  for (int i = 0; i < 2000; ++i) {
    std::string bytes = valid;
    for (int k = 0; k < 3; ++k) bytes[rng() % bytes.size()] = static_cast<char>(rng());
    bytes.resize(rng() % (bytes.size() + 1));
    grpc::ByteBuffer fuzzed = FromBytes(bytes);
    absl::StatusOr<grpc_transport::DecodedPush> got = grpc_transport::DecodePush(fuzzed);
    if (got.ok() && got->error.ok()) {
      std::string sink(static_cast<size_t>(got->size), '\0');
      EXPECT_TRUE(grpc_transport::CopyChunk(fuzzed, *got, sink.data()).ok());
    }
  }
}

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
  EXPECT_EQ(got.status().code(), absl::StatusCode::kResourceExhausted) << got.status();
  EXPECT_THAT(std::string(got.status().message()), HasSubstr("producer ran out of memory"));

  // The receiver refuses a device it does not have: the sender's event says why.
  const float values[4] = {1, 2, 3, 4};
  EventRef pushed = plane->Push(HostId(1), ArrayId(911), 0, DeviceId(0), type, values, 16);
  const absl::Status& refused = pushed->Await();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << refused;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("device:0"));
  // A shard already produced.
  ASSERT_TRUE(plane->Push(HostId(1), ArrayId(912), 0, DeviceId(2), type, values, 16)->Await().ok());
  EXPECT_EQ(plane->Push(HostId(1), ArrayId(912), 0, DeviceId(2), type, values, 16)->Await().code(),
            absl::StatusCode::kAlreadyExists);
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
  EXPECT_EQ(lost.code(), absl::StatusCode::kUnavailable) << lost;
  EXPECT_THAT(std::string(lost.message()), HasSubstr("host:1"));
  EXPECT_THAT(std::string(lost.message()), HasSubstr(gone));

  const absl::Status unknown =
      plane->Push(HostId(7), ArrayId(921), 0, DeviceId(2), type, values, 16)->Await();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kUnavailable) << unknown;
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("host:7"));

  plane->Shutdown();
  const absl::Status after =
      plane->Push(HostId(0), ArrayId(922), 0, DeviceId(0), type, values, 16)->Await();
  EXPECT_EQ(after.code(), absl::StatusCode::kUnavailable) << after;
}

}  // namespace
}  // namespace pw
