// DataPlane.Push messages without chunk copies.
#include "pathways/dataplane/grpc/shard_push_codec.h"

#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "grpcpp/support/slice.h"
#include "pathways/base/status.h"
#include "pathways/wire/wire.pb.h"

namespace pw::grpc_transport {

namespace {
using google::protobuf::internal::WireFormatLite;

constexpr int kChunkField = pathways::wire::ShardPushProto::kChunkFieldNumber;

pathways::wire::ShardPushProto HeaderProto(const wire::ShardPushHeader& h) {
  pathways::wire::ShardPushProto p;
  p.set_version(wire::kWireVersion);
  p.set_array(h.array.value());
  p.set_shard(h.shard);
  p.set_device(h.device.value());
  *p.mutable_type() = wire::ToProto(h.type);
  return p;
}

grpc::ByteBuffer FromString(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

absl::Status Malformed(std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("ShardPushProto: ", ToAbsl(what)));
}
}  // namespace

grpc::ByteBuffer EncodeChunk(const wire::ShardPushHeader& header, int64_t offset, const char* data,
                             int64_t bytes, void (*release)(void*), void* user) {
  pathways::wire::ShardPushProto p = HeaderProto(header);
  p.set_offset(offset);
  std::string head;
  p.SerializeToString(&head);
  // Field `chunk`: tag and length here, the bytes in their own slice.
  {
    google::protobuf::io::StringOutputStream stream(&head);
    google::protobuf::io::CodedOutputStream out(&stream);
    WireFormatLite::WriteTag(kChunkField, WireFormatLite::WIRETYPE_LENGTH_DELIMITED, &out);
    out.WriteVarint32(static_cast<uint32_t>(bytes));
  }
  if (bytes == 0) return FromString(head);
  grpc::Slice slices[2] = {
      grpc::Slice(head),
      // gRPC never writes through the pointer; the slice type is just not const-aware.
      grpc::Slice(const_cast<char*>(data), static_cast<size_t>(bytes), release, user)};
  return grpc::ByteBuffer(slices, 2);
}

grpc::ByteBuffer EncodeError(const wire::ShardPushHeader& header, const absl::Status& error) {
  pathways::wire::ShardPushProto p = HeaderProto(header);
  *p.mutable_error() = wire::ToProto(error);
  return FromString(p.SerializeAsString());
}

absl::StatusOr<DecodedPush> DecodePush(grpc::ByteBuffer& message) {
  // Pass over the message: every field but `chunk` is re-serialized into `head` (a few dozen
  // bytes); `chunk` is skipped, remembering where it lies.
  std::string head;
  bool has_chunk = false;
  int64_t chunk_position = 0;
  int64_t chunk_size = 0;
  {
    grpc::ProtoBufferReader reader(&message);
    google::protobuf::io::CodedInputStream in(&reader);
    in.SetTotalBytesLimit(std::numeric_limits<int>::max());
    google::protobuf::io::StringOutputStream head_stream(&head);
    google::protobuf::io::CodedOutputStream head_out(&head_stream);
    for (uint32_t tag = in.ReadTag(); tag != 0; tag = in.ReadTag()) {
      if (WireFormatLite::GetTagFieldNumber(tag) == kChunkField &&
          WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
        if (has_chunk) return Malformed("chunk: the field appears twice");
        uint32_t size = 0;
        if (!in.ReadVarint32(&size)) return Malformed("chunk: truncated length");
        has_chunk = true;
        chunk_position = in.CurrentPosition();
        chunk_size = size;
        if (!in.Skip(static_cast<int>(size))) {
          return Malformed(absl::StrCat("chunk: ", size, " bytes announced, the message ends first"));
        }
        continue;
      }
      if (!WireFormatLite::SkipField(&in, tag, &head_out)) {
        return Malformed(absl::StrCat("field ", WireFormatLite::GetTagFieldNumber(tag),
                                      " is malformed or truncated"));
      }
    }
    if (!in.ConsumedEntireMessage()) return Malformed("malformed field tag");
  }
  pathways::wire::ShardPushProto header;
  if (!header.ParseFromString(head)) return Malformed("the header fields do not parse");
  if (has_chunk) {
    if (header.has_error()) return Malformed("payload: both a chunk and an error");
    header.set_chunk("");  // validated with its real size below
  }
  PW_ASSIGN_OR_RETURN(wire::ShardPush push, wire::FromProto(header));
  DecodedPush out;
  out.header = push.header;
  if (!has_chunk) {
    out.error = std::move(push.error);
    return out;
  }
  const int64_t total = push.header.type.byte_size();
  if (chunk_size > total - push.offset) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ShardPushProto.chunk: bytes [", push.offset, ", ", push.offset, " + ", chunk_size,
        ") outside the shard's ", total, " bytes of ", push.header.type.DebugString()));
  }
  out.offset = push.offset;
  out.size = chunk_size;
  out.position = chunk_position;
  return out;
}

absl::Status CopyChunk(grpc::ByteBuffer& message, const DecodedPush& push, char* dest) {
  grpc::ProtoBufferReader reader(&message);
  if (!reader.Skip(static_cast<int>(push.position))) return Malformed("chunk: message too short");
  int64_t left = push.size;
  const void* data = nullptr;
  int size = 0;
  while (left > 0 && reader.Next(&data, &size)) {
    const int64_t n = std::min<int64_t>(left, size);
    std::memcpy(dest, data, static_cast<size_t>(n));
    dest += n;
    left -= n;
  }
  if (left != 0) return Malformed("chunk: message too short");
  return absl::OkStatus();
}

}  // namespace pw::grpc_transport
