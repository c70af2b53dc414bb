// The bytes of a DataPlane.Push message (ShardPushProto) built and read without copying the
// chunk: the sender's message points at the shard's memory, the receiver copies the chunk once,
// straight from gRPC's receive buffers into the destination.
//
// The encoding is ordinary ShardPushProto wire format (any protobuf reader parses it): the header
// fields, then field `chunk` whose bytes are a gRPC slice over the caller's memory. The reader
// accepts the fields in any order.
#ifndef PATHWAYS_DATAPLANE_GRPC_SHARD_PUSH_CODEC_H_
#define PATHWAYS_DATAPLANE_GRPC_SHARD_PUSH_CODEC_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/support/byte_buffer.h"
#include "pathways/wire/wire_convert.h"

namespace pw::grpc_transport {

// The full name gRPC routes DataPlane.Push by.
inline constexpr char kPushMethod[] = "/pathways.wire.DataPlane/Push";

// Chunk [offset, offset + bytes) of a shard whose bytes are at `data`. The message references
// `data` (no copy): gRPC calls `release(user)` once it no longer needs the memory, which may be
// after the call finished, on one of gRPC's internal threads. Not called when bytes == 0.
grpc::ByteBuffer EncodeChunk(const wire::ShardPushHeader& header, int64_t offset, const char* data,
                             int64_t bytes, void (*release)(void*), void* user);
// The producer's error instead of the data.
grpc::ByteBuffer EncodeError(const wire::ShardPushHeader& header, const absl::Status& error);

// A received message: the validated header (wire::FromProto's checks), and either the error or
// where the chunk lies in the message.
struct DecodedPush {
  wire::ShardPushHeader header;
  absl::Status error;        // not OK for an error push
  int64_t offset = 0;        // the chunk's place in the shard
  int64_t size = 0;          // its length
  int64_t position = 0;      // where its bytes start in the message
};
// INVALID_ARGUMENT naming the field for a malformed message, a chunk outside the shard, or a
// message with both a chunk and an error (or two chunks). Does not copy the chunk.
absl::StatusOr<DecodedPush> DecodePush(grpc::ByteBuffer& message);
// Copies the chunk of a message DecodePush accepted to `dest` (push.size bytes).
absl::Status CopyChunk(grpc::ByteBuffer& message, const DecodedPush& push, char* dest);

}  // namespace pw::grpc_transport

#endif  // PATHWAYS_DATAPLANE_GRPC_SHARD_PUSH_CODEC_H_
