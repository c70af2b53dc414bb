// Shared gRPC settings and conversions.
#include "pathways/rpc/grpc_common.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/support/client_interceptor.h"
#include "pathways/base/logging.h"
#include "pathways/base/secret.h"
#include "pathways/base/status.h"

namespace pw::grpc_transport {
namespace {

struct ProcessToken {
  absl::Mutex mu;
  std::string token ABSL_GUARDED_BY(mu);
};

ProcessToken& TheProcessToken() {
  static ProcessToken* token = new ProcessToken;  // never destroyed: channels outlive main
  return *token;
}

// Adds the process's operator token to a call's metadata, unless the call carries one.
class OperatorTokenInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit OperatorTokenInterceptor(std::string token) : token_(std::move(token)) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      std::multimap<std::string, std::string>* metadata = methods->GetSendInitialMetadata();
      if (metadata->find(kOperatorMetadata) == metadata->end()) {
        metadata->emplace(kOperatorMetadata, token_);
      }
    }
    methods->Proceed();
  }

 private:
  const std::string token_;
};

class OperatorTokenInterceptorFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateClientInterceptor(grpc::experimental::ClientRpcInfo*) override {
    std::string token = ProcessOperatorToken();
    return token.empty() ? nullptr : new OperatorTokenInterceptor(std::move(token));
  }
};

}  // namespace

namespace {

struct TlsPem {
  TlsFiles files;
  std::string cert, key, ca;
  absl::Status status;  // the first file that could not be read
};

std::string ReadPem(const char* variable, const std::string& path, absl::Status* status) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream text;
  text << f.rdbuf();
  if ((!f || text.str().empty()) && status->ok()) {
    *status = absl::InvalidArgumentError(
        absl::StrCat("$", variable, ": cannot read the PEM file '", path, "'"));
  }
  return text.str();
}

const TlsPem& Tls() {
  static const TlsPem* tls = [] {
    auto* t = new TlsPem;  // never destroyed: channels outlive main
    auto env = [](const char* name) {
      const char* v = std::getenv(name);
      return v != nullptr ? std::string(v) : std::string();
    };
    t->files = {env("PATHWAYS_TLS_CERT"), env("PATHWAYS_TLS_KEY"), env("PATHWAYS_TLS_CA")};
    if (!t->files.cert.empty()) t->cert = ReadPem("PATHWAYS_TLS_CERT", t->files.cert, &t->status);
    if (!t->files.key.empty()) t->key = ReadPem("PATHWAYS_TLS_KEY", t->files.key, &t->status);
    if (!t->files.ca.empty()) t->ca = ReadPem("PATHWAYS_TLS_CA", t->files.ca, &t->status);
    if (t->status.ok() && t->cert.empty() != t->key.empty()) {
      t->status = absl::InvalidArgumentError(
          "TLS: $PATHWAYS_TLS_CERT and $PATHWAYS_TLS_KEY are set together (a server presents both)");
    }
    return t;
  }();
  return *tls;
}

}  // namespace

TlsFiles ProcessTls() { return Tls().files; }

absl::Status CheckProcessTls() { return Tls().status; }

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  // Pings on idle connections find a vanished peer; calls in flight then fail UNAVAILABLE.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 1000);
  // A peer that does not ack a ping within 5 s is gone; shorter timeouts broke healthy
  // connections on a loaded 2-core machine (SIGKILLed peers are noticed at once: the kernel
  // closes their sockets; a stopped one by heartbeats).
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Reconnect quickly to a peer that restarts (the default backoff grows to minutes).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // Each channel gets its own connection: many channels to one peer do not share a TCP stream.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<OperatorTokenInterceptorFactory>());
  const TlsPem& tls = Tls();
  // A broken TLS setting never falls back to plaintext: its handshakes fail (and the callers
  // that can report it, CheckProcessTls, do).
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      tls.files.ca.empty() && tls.status.ok()
          ? grpc::InsecureChannelCredentials()
          : grpc::SslCredentials(grpc::SslCredentialsOptions{.pem_root_certs = tls.ca});
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      address, credentials, args, std::move(interceptors));
}

void SetProcessOperatorToken(std::string token) {
  ProcessToken& t = TheProcessToken();
  absl::MutexLock lock(&t.mu);
  t.token = std::move(token);
}

std::string ProcessOperatorToken() {
  ProcessToken& t = TheProcessToken();
  absl::MutexLock lock(&t.mu);
  return t.token;
}

std::string ClientMetadata(const grpc::ServerContextBase* context, std::string_view key) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
  return it == metadata.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

absl::Status NeedOperatorToken(const grpc::ServerContextBase* context, const std::string& token,
                               std::string_view what) {
  if (token.empty()) return absl::OkStatus();
  const std::string given = ClientMetadata(context, kOperatorMetadata);
  if (!given.empty() && SameSecret(given, token)) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      std::string(what), " needs the cluster's operator credential (its own processes get it from "
      "PATHWAYS_OPERATOR_TOKEN; `pw` from the state folder of `pw up`)"));
}

void ConfigureServer(grpc::ServerBuilder& builder, const std::string& address, int* bound_port) {
  const TlsPem& tls = Tls();
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  PW_CHECK(tls.status.ok()) << tls.status << " (servers call CheckProcessTls before they listen)";
  if (!tls.cert.empty()) {
    grpc::SslServerCredentialsOptions options;
    options.pem_key_cert_pairs.push_back({tls.key, tls.cert});
    options.pem_root_certs = tls.ca;
    credentials = grpc::SslServerCredentials(options);
  }
  builder.AddListeningPort(address, credentials, bound_port);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 500);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  // Synchronous methods are served by gRPC's poller threads. With the default of at most 2
  // pollers, every burst of calls (a run's reports, pushes, the next runs) spawned threads that
  // exited right after: hundreds of thread creations a second under load. Idle pollers block in
  // the completion queue, so keeping a few costs nothing.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, kMaxSyncPollers);
}

std::string ReachableHost(std::string_view listen_address) {
  std::string_view host = listen_address;
  const size_t colon = host.rfind(':');
  if (colon != std::string_view::npos) host = host.substr(0, colon);
  if (host.empty() || host == "0.0.0.0" || host == "[::]" || host == "::" || host == "*") {
    return "127.0.0.1";
  }
  return std::string(host);
}

std::string WithPort(std::string_view listen_address, int port) {
  return absl::StrCat(ReachableHost(listen_address), ":", port);
}

absl::Status FromGrpc(const grpc::Status& status, std::string_view what, std::string_view peer) {
  if (status.ok()) return absl::OkStatus();
  absl::StatusCode code = absl::StatusCode::kUnavailable;
  switch (status.error_code()) {
    case grpc::StatusCode::DEADLINE_EXCEEDED: code = absl::StatusCode::kDeadlineExceeded; break;
    case grpc::StatusCode::INVALID_ARGUMENT: code = absl::StatusCode::kInvalidArgument; break;
    case grpc::StatusCode::FAILED_PRECONDITION: code = absl::StatusCode::kFailedPrecondition; break;
    case grpc::StatusCode::UNIMPLEMENTED: code = absl::StatusCode::kUnimplemented; break;
    case grpc::StatusCode::CANCELLED: code = absl::StatusCode::kCancelled; break;
    case grpc::StatusCode::RESOURCE_EXHAUSTED: code = absl::StatusCode::kResourceExhausted; break;
    default: break;
  }
  return absl::Status(code, absl::StrCat(ToAbsl(what), " to ", ToAbsl(peer), ": ", status.error_message()));
}

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

namespace {
pathways::wire::TraceEventProto EventToProto(const TraceEvent& e) {
  pathways::wire::TraceEventProto p;
  p.set_name(e.name);
  p.set_category(e.category);
  p.set_pid(e.pid);
  p.set_tid(e.tid);
  p.set_start_ns(e.start_ns);
  p.set_dur_ns(e.dur_ns);
  for (const auto& [k, v] : e.args) {
    p.add_arg_keys(k);
    p.add_arg_values(v);
  }
  return p;
}

absl::StatusOr<TraceEvent> EventFromProto(const pathways::wire::TraceEventProto& p) {
  if (p.arg_keys_size() != p.arg_values_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("TraceEventProto.arg_values: ", p.arg_values_size(), " values for ",
                     p.arg_keys_size(), " keys"));
  }
  TraceEvent e;
  e.name = p.name();
  e.category = p.category();
  e.pid = p.pid();
  e.tid = p.tid();
  e.start_ns = p.start_ns();
  e.dur_ns = p.dur_ns();
  for (int i = 0; i < p.arg_keys_size(); ++i) e.args.emplace_back(p.arg_keys(i), p.arg_values(i));
  return e;
}
}  // namespace

void ToProto(const TraceRecorder& recorder, pathways::wire::TraceResponse& response) {
  response.set_version(wire::kWireVersion);
  *response.mutable_status() = wire::ToProto(absl::OkStatus());
  for (const TraceEvent& e : recorder.Events()) *response.add_events() = EventToProto(e);
  for (const TraceEvent& e : recorder.LaneNames()) *response.add_lane_names() = EventToProto(e);
}

absl::Status MergeInto(const pathways::wire::TraceResponse& response, TraceRecorder& recorder) {
  for (const auto& p : response.lane_names()) {
    absl::StatusOr<TraceEvent> e = EventFromProto(p);
    if (!e.ok()) return e.status();
    recorder.AddLaneName(*std::move(e));
  }
  for (const auto& p : response.events()) {
    absl::StatusOr<TraceEvent> e = EventFromProto(p);
    if (!e.ok()) return e.status();
    recorder.Record(*std::move(e));
  }
  return absl::OkStatus();
}

}  // namespace pw::grpc_transport
