// The byte layout of the TCP data plane (TcpDataPlane -> TcpShardListener): a handshake each way,
// then frames — pushes and producer errors towards the receiver, verdicts back.
//
// Every integer is little-endian. A connection starts with a Hello from each side:
//   Hello  = magic u32 ("PWDP") | wire version u32 | host id i64 (-1: not known yet)
//            | credential, 64 bytes (the cluster's operator token, zero-padded)       80 bytes
// then frames, each a fixed prefix, a protobuf meta and (push only) the raw shard bytes:
//   Prefix = kind u32 | meta length u32 | push id u64 | payload length u64              24 bytes
//   kPush:    meta = ShardPushProto with an empty chunk (array, shard, device, type); the payload
//             is the shard's type.byte_size() bytes, sent straight from the device buffer.
//   kError:   meta = ShardPushProto carrying the producer's error; no payload.
//   kVerdict: meta = StatusProto, the receiver's answer to push `push id`; push id 0 answers the
//             connection itself (a refused handshake), after which the receiver closes it.
// The receiver answers every kPush and kError in the order it got them.
#ifndef PATHWAYS_DATAPLANE_TCP_TCP_FRAMES_H_
#define PATHWAYS_DATAPLANE_TCP_TCP_FRAMES_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pathways/base/ids.h"

namespace pw::tcp_transport {

inline constexpr uint32_t kMagic = 0x50445750;  // "PWDP" in memory order
// The version of this byte layout; bump on any change a peer of the previous version would
// misread. (Independent of wire::kWireVersion, which versions the protobuf metas inside.)
inline constexpr uint32_t kTcpWireVersion = 2;
inline constexpr size_t kCredentialBytes = 64;
// Magic, version and host: enough to tell a stranger (an HTTP client, another protocol) at once.
inline constexpr size_t kHelloFixedBytes = 16;
inline constexpr size_t kHelloBytes = kHelloFixedBytes + kCredentialBytes;
inline constexpr size_t kPrefixBytes = 24;
// Largest meta a reader accepts (a type's shape is a few dozen bytes).
inline constexpr uint32_t kMaxMetaBytes = 1 << 20;

enum class FrameKind : uint32_t { kPush = 1, kError = 2, kVerdict = 3 };

struct Hello {
  uint32_t magic = kMagic;
  uint32_t version = kTcpWireVersion;
  int64_t host = -1;
  // What the sender presents (at most kCredentialBytes; longer is cut). The receiver presents
  // nothing.
  std::string credential;
};

struct Prefix {
  FrameKind kind = FrameKind::kPush;
  uint32_t meta_bytes = 0;
  uint64_t push_id = 0;
  uint64_t payload_bytes = 0;
};

std::string EncodeHello(const Hello& hello);
// The bytes read as a Hello (no check): kHelloBytes of them, or kHelloFixedBytes with
// `fixed_only` (the credential is then empty).
Hello DecodeHello(const char* bytes, bool fixed_only = false);
// FAILED_PRECONDITION naming `who` ("host:1 at 127.0.0.1:4000") when `hello` is not from a
// Pathways TCP data plane of this wire version; PERMISSION_DENIED when `required` is not empty
// and the hello does not present it (only the cluster's own hosts may push).
absl::Status CheckHello(const Hello& hello, std::string_view who, const std::string& required = "");

void AppendPrefix(const Prefix& prefix, std::string* out);
// INVALID_ARGUMENT naming `who` for an unknown kind or a meta longer than kMaxMetaBytes.
absl::StatusOr<Prefix> DecodePrefix(const char* bytes, std::string_view who);

// Socket helpers shared by both sides.
// A non-blocking TCP socket connecting to "host:port" (getaddrinfo; may block on DNS). The
// connection completes later (EPOLLOUT, then SocketError). UNAVAILABLE naming the address.
absl::StatusOr<int> StartConnect(const std::string& address);
// A non-blocking listening socket on "host:port" (port 0: any free one); `*bound` gets
// "host:<port bound>". INVALID_ARGUMENT naming the address when it cannot listen there.
absl::StatusOr<int> Listen(const std::string& address, std::string* bound);
// O_NONBLOCK and TCP_NODELAY (small frames leave at once).
void ConfigureSocket(int fd);
// The pending error of a socket (SO_ERROR), 0 if none.
int SocketError(int fd);

}  // namespace pw::tcp_transport

#endif  // PATHWAYS_DATAPLANE_TCP_TCP_FRAMES_H_
