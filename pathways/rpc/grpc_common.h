// What every gRPC piece of the transport shares: channels with the project's settings, the mapping
// of a failed call to an absl::Status naming the peer, and trace events on the wire.
#ifndef PATHWAYS_RPC_GRPC_COMMON_H_
#define PATHWAYS_RPC_GRPC_COMMON_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "pathways/base/trace.h"
#include "pathways/rpc/services.grpc.pb.h"
#include "pathways/rpc/services.pb.h"
#include "pathways/wire/wire_convert.h"

namespace pw::grpc_transport {

// Largest message either side accepts: a PutArray / FetchArray carries whole arrays.
inline constexpr int kMaxMessageBytes = 1 << 30;
// Poller threads a synchronous gRPC server keeps (ConfigureServer).
inline constexpr int kMaxSyncPollers = 8;
// Chunk size of a data-plane push (one ShardPushProto's bytes).
inline constexpr int64_t kPushChunkBytes = int64_t{1} << 20;
// At most this many commands (runs plus releases) in one WorkerCommandBatch: the sender splits
// longer queues, the worker refuses a longer batch (INVALID_ARGUMENT naming the count).
inline constexpr int kMaxCommandsPerBatch = 4096;
// gRPC metadata carrying a client's session token (ControllerApi calls after Connect) and the
// operator's credential (Shutdown, Trace, every client's status).
inline constexpr char kSessionMetadata[] = "pw-session";
inline constexpr char kOperatorMetadata[] = "pw-operator";
// The host whose run results a ControllerWorkers.ReportRuns stream carries (its id in decimal):
// the controller refuses results of any other host on it, and loses that host when the stream
// breaks (results it had sent may be gone with it).
inline constexpr char kReportHostMetadata[] = "pw-report-host";

// A channel to `address` ("host:port") with the limits above and keepalive pings, so a peer
// that vanishes is noticed by calls in flight. Its calls carry this process's operator token
// (SetProcessOperatorToken), unless they carry one of their own.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address);

// The operator token a cluster's own processes present to each other: pw-controller and
// pw-worker set it from their environment (PATHWAYS_OPERATOR_TOKEN), an in-process
// ControllerServer to its own. Empty (the default): calls carry none. Thread-safe.
void SetProcessOperatorToken(std::string token);
std::string ProcessOperatorToken();

// TLS on every gRPC channel and server of this process, from PEM files: `cert` and `key` are
// what this process's servers present, `ca` what channels trust a server's certificate by.
// Clients need only `ca`; servers need `cert` and `key`. Read once, at the first channel or
// server, from $PATHWAYS_TLS_CERT, $PATHWAYS_TLS_KEY and $PATHWAYS_TLS_CA (unset: plaintext), so
// every process of a cluster, and every client, started with them speaks TLS. No process falls
// back to plaintext when a file cannot be read (CheckProcessTls says which).
// Clients authenticate with their tokens, not with certificates.
struct TlsFiles {
  std::string cert;
  std::string key;
  std::string ca;
};
// The files in use (empty: plaintext).
TlsFiles ProcessTls();
// INVALID_ARGUMENT naming the variable and file when one cannot be read, or only one of cert
// and key is set. Servers and clients check it before they listen or connect.
absl::Status CheckProcessTls();

// The value of metadata `key` a call carries (empty: none).
std::string ClientMetadata(const grpc::ServerContextBase* context, std::string_view key);
// OK when the call carries `token` as its operator credential; PERMISSION_DENIED naming `what`
// otherwise. An empty `token` requires nothing.
absl::Status NeedOperatorToken(const grpc::ServerContextBase* context, const std::string& token,
                               std::string_view what);

// Server-side settings matching MakeChannel (message sizes); `builder` listens on `address`
// and reports the port it bound in `*bound_port` once started.
void ConfigureServer(grpc::ServerBuilder& builder, const std::string& address, int* bound_port);

// The host part of a listen address ("10.0.0.5:0" -> "10.0.0.5", "[::1]:0" -> "[::1]"), with a
// wildcard ("0.0.0.0", "[::]", "*", none) as 127.0.0.1: where peers on this machine reach it.
std::string ReachableHost(std::string_view listen_address);
// "127.0.0.1:0" + port 4242 -> "127.0.0.1:4242" (the address peers dial).
std::string WithPort(std::string_view listen_address, int port);

// A call that failed at the gRPC level, as the runtime reports it: UNAVAILABLE (or
// DEADLINE_EXCEEDED / INVALID_ARGUMENT as gRPC says) "<what> to <peer>: <grpc message>".
absl::Status FromGrpc(const grpc::Status& status, std::string_view what, std::string_view peer);
// An absl::Status as a gRPC status, for answering a call that is malformed as a whole.
grpc::Status ToGrpc(const absl::Status& status);

// The response's status: the gRPC status if the call failed, otherwise version + StatusProto.
template <typename Response>
absl::Status CallStatus(const grpc::Status& grpc_status, const Response& response,
                        std::string_view what, std::string_view peer) {
  if (!grpc_status.ok()) return FromGrpc(grpc_status, what, peer);
  return wire::ResponseStatus(response);
}

// Fills the version and status of a response.
template <typename Response>
void SetStatus(Response& response, const absl::Status& status) {
  response.set_version(wire::kWireVersion);
  *response.mutable_status() = wire::ToProto(status);
}

// Trace events on the wire. `lane_names` are the recorder's process and thread names.
void ToProto(const TraceRecorder& recorder, pathways::wire::TraceResponse& response);
// Adds the response's events and lane names to `recorder` (which must be started).
absl::Status MergeInto(const pathways::wire::TraceResponse& response, TraceRecorder& recorder);

}  // namespace pw::grpc_transport

#endif  // PATHWAYS_RPC_GRPC_COMMON_H_
