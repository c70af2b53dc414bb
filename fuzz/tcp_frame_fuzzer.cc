// libFuzzer target: the TCP data plane's byte stream as a receiver reads it — a hello, then
// frames (a fixed prefix, a meta of the stated length, a payload) whose metas are decoded as
// the listener decodes them. Any prefix, length or meta must give a value or a clean error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/quiet_protobuf.h"
#include "pathways/dataplane/tcp/tcp_frames.h"
#include "pathways/wire/wire.pb.h"
#include "pathways/wire/wire_convert.h"

namespace tcp = pw::tcp_transport;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* p = reinterpret_cast<const char*>(data);
  if (size < tcp::kHelloBytes) return 0;
  (void)tcp::CheckHello(tcp::DecodeHello(p), "fuzz");
  size_t at = tcp::kHelloBytes;
  while (size - at >= tcp::kPrefixBytes) {
    absl::StatusOr<tcp::Prefix> prefix = tcp::DecodePrefix(p + at, "fuzz");
    at += tcp::kPrefixBytes;
    if (!prefix.ok() || prefix->meta_bytes > size - at) return 0;
    const std::string meta(p + at, prefix->meta_bytes);
    at += prefix->meta_bytes;
    if (prefix->kind == tcp::FrameKind::kVerdict) {
      pathways::wire::StatusProto status;
      if (status.ParseFromString(meta)) (void)pw::wire::FromProto(status);
      continue;
    }
    pathways::wire::ShardPushProto push;
    if (!push.ParseFromString(meta)) return 0;
    (void)pw::wire::FromProto(push);
    // Accepted or refused, the frame's payload is read (a refused one discarded), as the
    // receiver does, and the stream goes on.
    if (prefix->payload_bytes > size - at) return 0;
    at += prefix->payload_bytes;
  }
  return 0;
}
