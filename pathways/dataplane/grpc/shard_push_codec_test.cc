// Tests for the gRPC data plane's chunk codec: chunk messages that any protobuf reader parses, a
// reader that never copies them twice, and malformed messages refused without a crash.
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/dataplane/grpc/shard_push_codec.h"
#include "pathways/wire/wire.pb.h"

namespace pw {
namespace {

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
  EXPECT_THAT(grpc_transport::DecodePush(message).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // Truncated.
  std::string cut = standard.SerializeAsString();
  cut.resize(cut.size() - 3);
  message = FromBytes(cut);
  EXPECT_THAT(grpc_transport::DecodePush(message).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // Another wire version.
  standard.set_version(wire::kWireVersion + 1);
  message = FromBytes(standard.SerializeAsString());
  EXPECT_THAT(grpc_transport::DecodePush(message).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
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

}  // namespace
}  // namespace pw
