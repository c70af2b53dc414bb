// GrpcControllerClient: ControllerApi calls, checked answers, futures resolved from callbacks.
#include "pathways/rpc/grpc_controller_client.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"
#include "pathways/ir/serialization.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/wire/wire_convert.h"

namespace pw {
namespace {

namespace pwire = pathways::wire;
using Async = pwire::ControllerApi::StubInterface::async_interface;

template <typename Request, typename Response>
struct AsyncCall {
  grpc::ClientContext context;
  Request request;
  Response response;
};

// The client a request is for, if it names one.
template <typename Request>
std::optional<ClientId> ClientOf(const Request& request) {
  if constexpr (requires { request.client(); }) {
    return ClientId(request.client());
  } else {
    return std::nullopt;
  }
}

// Starts an async unary call tracked by `calls`; `prepare(context)` adds its metadata;
// `done(grpc_status, response)` runs once.
template <typename Request, typename Response, typename Prepare, typename Start, typename Done>
void StartAsync(pwire::ControllerApi::Stub& stub,
                const std::shared_ptr<grpc_transport::CallTracker>& calls, Request request,
                Prepare prepare, Start start, Done done) {
  auto call = std::make_shared<AsyncCall<Request, Response>>();
  call->request = std::move(request);
  prepare(call->context);
  if (!calls->Begin(&call->context)) {
    done(grpc::Status(grpc::StatusCode::CANCELLED, "the controller client is closing"),
         call->response);
    return;
  }
  start(stub.async(), &call->context, &call->request, &call->response,
        [call, tracker = calls, done = std::move(done)](grpc::Status status) mutable {
          done(status, call->response);
          // The context holds a reference to the channel. Dropping it here, while the owner
          // still holds its own, keeps the channel's last release off this gRPC thread: a
          // channel destroyed on a callback thread can tear down that thread's own pool.
          tracker->Detach(&call->context);
          call.reset();
          tracker->Done();  // last: the owner may be destroyed right after
        });
}

pwire::ArrayRequest MakeArrayRequest(ClientId client, ArrayId array) {
  pwire::ArrayRequest request;
  request.set_version(wire::kWireVersion);
  request.set_client(client.value());
  request.set_array(array.value());
  return request;
}

}  // namespace

GrpcControllerClient::GrpcControllerClient(std::string address, Options options)
    : address_(std::move(address)),
      options_(std::move(options)),
      channel_(grpc_transport::MakeChannel(address_)),
      stub_(pwire::ControllerApi::NewStub(channel_)),
      calls_(std::make_shared<grpc_transport::CallTracker>()) {
  const ClusterCredentials found = FindClusterCredentials(address_);
  if (options_.credentials.cluster_token.empty()) options_.credentials.cluster_token = found.cluster_token;
  if (options_.credentials.operator_token.empty()) options_.credentials.operator_token = found.operator_token;
}

GrpcControllerClient::~GrpcControllerClient() {
  {
    absl::MutexLock lock(&sessions_mu_);
    stop_renewing_ = true;
    sessions_changed_.SignalAll();
  }
  closing_.store(true, std::memory_order_release);
  CloseSessions();
  calls_->CloseAndWait();  // cancels a renewal in flight too
  if (renewer_.joinable()) renewer_.join();
}

std::string GrpcControllerClient::SessionOf(ClientId client) const {
  absl::MutexLock lock(&sessions_mu_);
  auto it = sessions_.find(client);
  return it != sessions_.end() ? it->second : std::string();
}

void GrpcControllerClient::Authenticate(grpc::ClientContext& context,
                                        std::optional<ClientId> client) const {
  if (client.has_value()) {
    if (std::string session = SessionOf(*client); !session.empty()) {
      context.AddMetadata(grpc_transport::kSessionMetadata, session);
    }
  }
  if (!options_.credentials.operator_token.empty()) {
    context.AddMetadata(grpc_transport::kOperatorMetadata, options_.credentials.operator_token);
  }
}

void GrpcControllerClient::RenewLeases() {
  absl::MutexLock lock(&sessions_mu_);
  while (!stop_renewing_) {
    sessions_changed_.WaitWithTimeout(&sessions_mu_, lease_ / 4);
    if (stop_renewing_) break;
    std::vector<ClientId> clients;
    for (const auto& [client, session] : sessions_) clients.push_back(client);
    sessions_mu_.Unlock();
    for (ClientId client : clients) {
      pwire::RenewLeaseRequest request;
      request.set_version(wire::kWireVersion);
      request.set_client(client.value());
      pwire::StatusResponse response;
      absl::Status s = Call("RenewLease", &pwire::ControllerApi::Stub::RenewLease, request, response);
      if (!s.ok()) PW_LOG(WARNING) << "renewing the lease of " << client << ": " << s;
    }
    sessions_mu_.Lock();
  }
}

absl::StatusOr<std::unique_ptr<GrpcControllerClient>> GrpcControllerClient::Connect(
    std::string address, absl::Duration timeout) {
  return Connect(std::move(address), timeout, Options{});
}

absl::StatusOr<std::unique_ptr<GrpcControllerClient>> GrpcControllerClient::Connect(
    std::string address, absl::Duration timeout, Options options) {
  if (address.empty()) {
    return absl::InvalidArgumentError("GrpcControllerClient::Connect: empty controller address");
  }
  PW_RETURN_IF_ERROR(grpc_transport::CheckProcessTls());
  std::unique_ptr<GrpcControllerClient> client(
      new GrpcControllerClient(std::move(address), options));
  // Status is the cheapest call every controller answers; waiting for the channel to become
  // ready lets a launcher connect while the controller is still starting.
  pwire::ClusterStatusRequest request;
  request.set_version(wire::kWireVersion);
  pwire::ClusterStatusResponse response;
  grpc::ClientContext context;
  context.set_deadline(grpc_transport::DeadlineIn(timeout));
  context.set_wait_for_ready(true);
  const grpc::Status status = client->stub_->Status(&context, request, &response);
  if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
    // It answered, but cannot read this build's requests (another wire version).
    return absl::FailedPreconditionError(
        absl::StrCat("controller at ", client->address_, ": ", status.error_message()));
  }
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "no Pathways controller answers at ", client->address_, " within ",
        absl::FormatDuration(timeout), ": ", status.error_message()));
  }
  if (absl::Status s = wire::CheckVersion(response); !s.ok()) {
    return Annotate(s, absl::StrCat("controller at ", client->address_));
  }
  return client;
}

absl::Status GrpcControllerClient::Failed(const grpc::Status& status, std::string_view what) const {
  absl::Status error =
      grpc_transport::FromGrpc(status, what, absl::StrCat("controller at ", address_));
  // A call the server dropped (it shut down or vanished) is an unreachable controller; only the
  // calls this client cancels itself stay CANCELLED.
  if (error.code() == absl::StatusCode::kCancelled && !closing_.load(std::memory_order_acquire)) {
    return absl::UnavailableError(error.message());
  }
  return error;
}

template <typename Request, typename Response, typename Method>
absl::Status GrpcControllerClient::Call(std::string_view what, Method method,
                                        const Request& request, Response& response,
                                        absl::Duration extra) const {
  grpc::ClientContext context;
  context.set_deadline(grpc_transport::DeadlineIn(options_.call_timeout + extra));
  Authenticate(context, ClientOf(request));
  if (!calls_->Begin(&context)) {
    return absl::CancelledError(absl::StrCat(ToAbsl(what), ": the controller client is closing"));
  }
  const grpc::Status status = (stub_.get()->*method)(&context, request, &response);
  calls_->End(&context);
  if (!status.ok()) return Failed(status, what);
  return wire::ResponseStatus(response);
}

absl::StatusOr<ClientId> GrpcControllerClient::ConnectClient(std::string client_name,
                                                             ConnectOptions options) {
  // Checked here too: on the wire a weight of 0 means "not set" (1).
  PW_RETURN_IF_ERROR(ValidateConnectOptions(options));
  pwire::ConnectRequest request;
  request.set_version(wire::kWireVersion);
  request.set_client_name(std::move(client_name));
  request.set_weight(options.weight);
  request.set_priority(options.priority);
  request.set_cluster_token(options_.credentials.cluster_token);
  pwire::ConnectResponse response;
  PW_RETURN_IF_ERROR(Call("Connect", &pwire::ControllerApi::Stub::Connect, request, response));
  PW_ASSIGN_OR_RETURN(ClientId client,
                      wire::IdFromProto<ClientId>(response.client(), "ConnectResponse", "client"));
  // A lease of a millisecond up to a day; a session token of 16 to 256 bytes.
  if (response.lease_millis() < 1 || response.lease_millis() > 86'400'000 ||
      response.session().size() < 16 || response.session().size() > 256) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ConnectResponse from controller at ", address_, ": lease_millis ", response.lease_millis(),
        " or a session token of ", response.session().size(), " bytes is out of bounds"));
  }
  absl::MutexLock lock(&sessions_mu_);
  sessions_[client] = response.session();
  lease_ = std::min(lease_, absl::Milliseconds(response.lease_millis()));
  if (!renewer_.joinable()) renewer_ = std::thread([this] { RenewLeases(); });
  sessions_changed_.SignalAll();
  return client;
}

void GrpcControllerClient::Disconnect(ClientId client) {
  WaitForReleases();
  CloseSessions(client);  // its calls are over; the controller would end it at Disconnect
  pwire::DisconnectRequest request;
  request.set_version(wire::kWireVersion);
  request.set_client(client.value());
  pwire::StatusResponse response;
  absl::Status s = Call("Disconnect", &pwire::ControllerApi::Stub::Disconnect, request, response);
  if (!s.ok()) PW_LOG(WARNING) << "Disconnect(" << client << "): " << s;
  absl::MutexLock lock(&sessions_mu_);
  sessions_.erase(client);
}

absl::StatusOr<VirtualSlice> GrpcControllerClient::AllocateSlice(ClientId client,
                                                                 SliceRequest slice_request) {
  WaitForReleases();
  pwire::AllocateSliceRequest request;
  request.set_version(wire::kWireVersion);
  request.set_client(client.value());
  *request.mutable_request() = wire::ToProto(slice_request);
  pwire::AllocateSliceResponse response;
  PW_RETURN_IF_ERROR(
      Call("AllocateSlice", &pwire::ControllerApi::Stub::AllocateSlice, request, response));
  return wire::FromProto(response.slice());
}

absl::StatusOr<VirtualSlice> GrpcControllerClient::RepairSlice(ClientId client, SliceId slice) {
  WaitForReleases();
  pwire::RepairSliceRequest request;
  request.set_version(wire::kWireVersion);
  request.set_client(client.value());
  request.set_slice(slice.value());
  pwire::AllocateSliceResponse response;
  PW_RETURN_IF_ERROR(Call("RepairSlice", &pwire::ControllerApi::Stub::RepairSlice, request, response));
  return wire::FromProto(response.slice());
}

absl::Status GrpcControllerClient::ReleaseSlice(ClientId client, SliceId slice) {
  WaitForReleases();
  pwire::ReleaseSliceRequest request;
  request.set_version(wire::kWireVersion);
  request.set_client(client.value());
  request.set_slice(slice.value());
  pwire::StatusResponse response;
  return Call("ReleaseSlice", &pwire::ControllerApi::Stub::ReleaseSlice, request, response);
}

absl::StatusOr<FunctionId> GrpcControllerClient::RegisterFunction(ClientId client,
                                                                  ir::Function function) {
  pwire::RegisterFunctionRequest request;
  request.set_version(wire::kWireVersion);
  request.set_client(client.value());
  *request.mutable_function() = ir::ToProto(function);
  pwire::RegisterFunctionResponse response;
  PW_RETURN_IF_ERROR(
      Call("RegisterFunction", &pwire::ControllerApi::Stub::RegisterFunction, request, response));
  return wire::IdFromProto<FunctionId>(response.function(), "RegisterFunctionResponse",
                                       "function");
}

absl::StatusOr<ProgramId> GrpcControllerClient::RegisterProgram(ClientId client,
                                                                ProgramDef program) {
  pwire::RegisterProgramRequest request;
  request.set_version(wire::kWireVersion);
  request.set_client(client.value());
  *request.mutable_program() = wire::ToProto(program);
  pwire::RegisterProgramResponse response;
  PW_RETURN_IF_ERROR(
      Call("RegisterProgram", &pwire::ControllerApi::Stub::RegisterProgram, request, response));
  return wire::IdFromProto<ProgramId>(response.program(), "RegisterProgramResponse", "program");
}

absl::StatusOr<ArrayInfo> GrpcControllerClient::PutArray(ClientId client, SliceId slice,
                                                         std::vector<ir::Literal> shards,
                                                         Sharding sharding) {
  WaitForReleases();
  pwire::PutArrayRequest request;
  request.set_version(wire::kWireVersion);
  request.set_client(client.value());
  request.set_slice(slice.value());
  *request.mutable_sharding() = wire::ToProto(sharding);
  int64_t bytes = 0;
  for (const ir::Literal& shard : shards) {
    *request.add_shards() = wire::ToProto(shard);
    bytes += shard.type().byte_size();
  }
  shards.clear();
  pwire::ArrayInfoResponse response;
  // The data crosses twice (client -> controller -> hosts): a second per 100 MB each way.
  PW_RETURN_IF_ERROR(Call("PutArray", &pwire::ControllerApi::Stub::PutArray, request, response,
                          absl::Seconds(2 * (bytes / (100 << 20)))));
  return wire::FromProto(response.array());
}

absl::Status GrpcControllerClient::CancelRun(ClientId client, RunId run) {
  pwire::CancelRunRequest request;
  request.set_version(wire::kWireVersion);
  request.set_client(client.value());
  request.set_run(run.value());
  pwire::StatusResponse response;
  return Call("CancelRun", &pwire::ControllerApi::Stub::CancelRun, request, response);
}

absl::StatusOr<RunResult> GrpcControllerClient::RunControl(ClientId client,
                                                           ControlRequest control,
                                                           absl::Span<const ArrayId> inputs) {
  pwire::RunControlRequest request;
  request.set_version(wire::kWireVersion);
  request.set_client(client.value());
  request.set_kind(static_cast<uint32_t>(control.kind));
  for (ProgramId program : control.programs) request.add_programs(program.value());
  request.set_max_iterations(control.max_iterations);
  for (ArrayId input : inputs) request.add_inputs(input.value());
  pwire::RunResponse response;
  PW_RETURN_IF_ERROR(
      Call("RunControl", &pwire::ControllerApi::Stub::RunControl, request, response));
  return wire::FromProto(response.result());
}

template <typename Request, typename Start>
EventRef GrpcControllerClient::StatusCall(Request request, std::string what, Start start) {
  EventRef event = AsyncEvent::Create();
  const std::optional<ClientId> client = ClientOf(request);
  StartAsync<Request, pwire::StatusResponse>(
      *stub_, calls_, std::move(request),
      [this, client](grpc::ClientContext& context) { Authenticate(context, client); }, std::move(start),
      [this, event, what = std::move(what)](const grpc::Status& status,
                                            pwire::StatusResponse& response) {
        if (!status.ok()) {
          event->SetError(Failed(status, what));
          return;
        }
        // The controller's answer, e.g. the array's own error naming the node that failed.
        event->SetStatus(wire::ResponseStatus(response));
      });
  return event;
}

AsyncValueRef<std::vector<ir::Literal>> GrpcControllerClient::FetchArray(ClientId client,
                                                                         ArrayId array) {
  auto result = MakeAsyncValue<std::vector<ir::Literal>>();
  std::string what = absl::StrCat("FetchArray(", array.DebugString(), ")");
  StartAsync<pwire::ArrayRequest, pwire::FetchArrayResponse>(
      *stub_, calls_, MakeArrayRequest(client, array),
      [this, client](grpc::ClientContext& context) { Authenticate(context, client); },
      [](Async* async, grpc::ClientContext* context, const pwire::ArrayRequest* request,
         pwire::FetchArrayResponse* response, std::function<void(grpc::Status)> done) {
        async->FetchArray(context, request, response, std::move(done));
      },
      [this, result, what = std::move(what)](const grpc::Status& status,
                                             pwire::FetchArrayResponse& response) {
        if (!status.ok()) {
          result->SetError(Failed(status, what));
          return;
        }
        if (absl::Status s = wire::ResponseStatus(response); !s.ok()) {
          result->SetError(std::move(s));
          return;
        }
        std::vector<ir::Literal> shards;
        shards.reserve(response.shards_size());
        for (int i = 0; i < response.shards_size(); ++i) {
          absl::StatusOr<ir::Literal> shard = wire::FromProto(std::move(*response.mutable_shards(i)));
          if (!shard.ok()) {
            result->SetError(Annotate(shard.status(), absl::StrCat(
                "FetchArrayResponse.shards[", i, "] from controller at ", address_)));
            return;
          }
          shards.push_back(*std::move(shard));
        }
        result->SetValue(std::move(shards));
      });
  return result;
}

absl::Status GrpcControllerClient::ReleaseArray(ClientId client, ArrayId array) {
  pwire::StatusResponse response;
  return Call("ReleaseArray", &pwire::ControllerApi::Stub::ReleaseArray,
              MakeArrayRequest(client, array), response);
}

EventRef GrpcControllerClient::SaveCheckpoint(ClientId client, SaveCheckpointRequest request) {
  std::string what = absl::StrCat("SaveCheckpoint(", request.directory.substr(0, 256), ")");
  return StatusCall(wire::ToProto(client, request), std::move(what),
                    [](Async* async, grpc::ClientContext* context,
                       const pwire::SaveCheckpointRequest* request, pwire::StatusResponse* response,
                       std::function<void(grpc::Status)> done) {
                      async->SaveCheckpoint(context, request, response, std::move(done));
                    });
}

absl::StatusOr<RestoredCheckpoint> GrpcControllerClient::RestoreCheckpoint(
    ClientId client, RestoreCheckpointRequest request) {
  WaitForReleases();
  pwire::RestoreCheckpointResponse response;
  PW_RETURN_IF_ERROR(Call("RestoreCheckpoint", &pwire::ControllerApi::Stub::RestoreCheckpoint,
                          wire::ToProto(client, request), response, absl::Minutes(10)));
  RestoredCheckpoint restored;
  restored.metadata = response.metadata();
  for (int i = 0; i < response.arrays_size(); ++i) {
    absl::StatusOr<ArrayInfo> info = wire::FromProto(response.arrays(i));
    if (!info.ok()) {
      return Annotate(info.status(), absl::StrCat("RestoreCheckpointResponse.arrays[", i,
                                                  "] from controller at ", address_));
    }
    restored.arrays.push_back(*std::move(info));
  }
  return restored;
}

absl::StatusOr<ClusterStatus> GrpcControllerClient::StatusOrError() const {
  WaitForReleases();
  pwire::ClusterStatusRequest request;
  request.set_version(wire::kWireVersion);
  pwire::ClusterStatusResponse response;
  grpc::ClientContext context;
  context.set_deadline(grpc_transport::DeadlineIn(options_.call_timeout));
  // With one of this object's sessions a tenant sees its own client (and with the operator's
  // credential, every client).
  {
    absl::MutexLock lock(&sessions_mu_);
    if (!sessions_.empty()) context.AddMetadata(grpc_transport::kSessionMetadata, sessions_.begin()->second);
  }
  Authenticate(context, std::nullopt);
  if (!calls_->Begin(&context)) {
    return absl::CancelledError("Status: the controller client is closing");
  }
  const grpc::Status status = stub_->Status(&context, request, &response);
  calls_->End(&context);
  if (!status.ok()) return Failed(status, "Status");
  PW_RETURN_IF_ERROR(wire::CheckVersion(response));
  return wire::FromProto(response.status());
}

ClusterStatus GrpcControllerClient::Status() const {
  absl::StatusOr<ClusterStatus> status = StatusOrError();
  if (!status.ok()) {
    PW_LOG(WARNING) << "Status: " << status.status();
    return ClusterStatus{};
  }
  return *std::move(status);
}

absl::Status GrpcControllerClient::FetchTrace(TraceRecorder& into) {
  pwire::TraceRequest request;
  request.set_version(wire::kWireVersion);
  pwire::TraceResponse response;
  PW_RETURN_IF_ERROR(Call("Trace", &pwire::ControllerApi::Stub::Trace, request, response));
  if (!into.enabled()) into.Start();
  absl::Status merged = grpc_transport::MergeInto(response, into);
  return merged.ok() ? merged : Annotate(merged, absl::StrCat("Trace from controller at ", address_));
}

absl::Status GrpcControllerClient::Shutdown() {
  pwire::ShutdownRequest request;
  request.set_version(wire::kWireVersion);
  pwire::StatusResponse response;
  return Call("Shutdown", &pwire::ControllerApi::Stub::Shutdown, request, response);
}

std::string GrpcControllerClient::DebugString() const {
  return absl::StrCat("GrpcControllerClient{", address_, " in_flight=", calls_->in_flight(), "}");
}

}  // namespace pw
