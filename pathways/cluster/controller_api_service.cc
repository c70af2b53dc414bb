// ControllerServer's ControllerApi service: every request validated (version first, then the
// caller's session, then each field, errors naming it) and forwarded to the Controller; array
// waits as callback calls. Shutdown, the trace and other clients' status need the operator.
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pathways/base/status.h"
#include "pathways/ir/serialization.h"
#include "pathways/cluster/controller_server_internal.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/wire/wire_convert.h"
#include "pathways/wire/wire_convert_internal.h"

namespace pw {
namespace {

namespace pwire = pathways::wire;
using grpc_transport::SetStatus;
using wire::internal::Nested;

using api_internal::Authorize;
using api_internal::ReadArrayRequest;
using api_internal::ReadClient;

// Whether the call carries the operator's credential.
bool IsOperator(const ControllerServer& server, const grpc::ServerContextBase* context) {
  return grpc_transport::NeedOperatorToken(context, server.operator_token(), "").ok();
}

absl::Status NeedOperator(const ControllerServer& server, const grpc::ServerContextBase* context,
                          std::string_view what) {
  return grpc_transport::NeedOperatorToken(context, server.operator_token(), what);
}

// Answers with `status` in the response body: the call itself succeeded.
template <typename Response>
grpc::Status Answer(Response& response, const absl::Status& status) {
  SetStatus(response, status);
  return grpc::Status::OK;
}

}  // namespace

uint64_t ControllerServer::PendingReactors::Add(Finish finish) {
  absl::Status closed;
  {
    absl::MutexLock lock(&mu_);
    if (closed_.ok()) {
      const uint64_t id = next_id_++;
      pending_.emplace(id, std::move(finish));
      return id;
    }
    closed = closed_;
  }
  finish(std::move(closed));
  return 0;
}

void ControllerServer::PendingReactors::Complete(uint64_t id, absl::Status status) {
  Finish finish;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    finish = std::move(it->second);
    pending_.erase(it);
  }
  finish(std::move(status));
}

void ControllerServer::PendingReactors::CloseAll(absl::Status status) {
  absl::flat_hash_map<uint64_t, Finish> pending;
  {
    absl::MutexLock lock(&mu_);
    if (closed_.ok()) closed_ = status;
    pending.swap(pending_);
  }
  for (auto& [id, finish] : pending) finish(status);
}

int64_t ControllerServer::PendingReactors::size() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(pending_.size());
}

grpc::Status ControllerServer::ApiService::Connect(grpc::ServerContext* context,
                                                   const pwire::ConnectRequest* request,
                                                   pwire::ConnectResponse* response) {
  if (absl::Status s = wire::CheckVersion(*request); !s.ok()) return Answer(*response, s);
  if (!SameSecret(request->cluster_token(), server_->cluster_token())) {
    return Answer(*response, absl::UnauthenticatedError(
                                 "Connect: wrong or missing cluster token (a client on the machine "
                                 "that ran `pw up` finds it in its state folder; elsewhere set "
                                 "PATHWAYS_TOKEN)"));
  }
  // An unset weight (an older client) is 1; the controller checks both bounds.
  const ConnectOptions options{.weight = request->weight() == 0 ? 1 : request->weight(),
                               .priority = request->priority()};
  absl::StatusOr<ClientId> client = server_->controller().Connect(request->client_name(), options);
  if (!client.ok()) return Answer(*response, client.status());
  absl::StatusOr<std::string> session = server_->sessions().Open(*client, absl::Now());
  if (!session.ok()) {
    server_->controller().Disconnect(*client);
    return Answer(*response, session.status());
  }
  response->set_client(client->value());
  response->set_session(*session);
  response->set_lease_millis(absl::ToInt64Milliseconds(server_->sessions().lease()));
  return Answer(*response, absl::OkStatus());
}

grpc::Status ControllerServer::ApiService::RenewLease(grpc::ServerContext* context,
                                                      const pwire::RenewLeaseRequest* request,
                                                      pwire::StatusResponse* response) {
  return Answer(*response, ReadClient(server_->sessions(), context, *request).status());
}

grpc::Status ControllerServer::ApiService::Disconnect(grpc::ServerContext* context,
                                                      const pwire::DisconnectRequest* request,
                                                      pwire::StatusResponse* response) {
  absl::StatusOr<ClientId> client = ReadClient(server_->sessions(), context, *request);
  if (client.ok()) {
    server_->sessions().Close(*client);
    EndSessionsOf(*client, absl::UnauthenticatedError(
                               absl::StrCat(client->DebugString(), " disconnected")));
    server_->controller().Disconnect(*client);
  }
  return Answer(*response, client.status());
}

grpc::Status ControllerServer::ApiService::AllocateSlice(
    grpc::ServerContext* context, const pwire::AllocateSliceRequest* request,
    pwire::AllocateSliceResponse* response) {
  absl::StatusOr<ClientId> client = ReadClient(server_->sessions(), context, *request);
  if (!client.ok()) return Answer(*response, client.status());
  absl::StatusOr<SliceRequest> slice_request = wire::FromProto(request->request());
  if (!slice_request.ok()) {
    return Answer(*response, Nested(slice_request.status(), "AllocateSliceRequest", "request"));
  }
  absl::StatusOr<VirtualSlice> slice =
      server_->controller().AllocateSlice(*client, *std::move(slice_request));
  if (slice.ok()) *response->mutable_slice() = wire::ToProto(*slice);
  return Answer(*response, slice.status());
}

grpc::Status ControllerServer::ApiService::RepairSlice(grpc::ServerContext* context,
                                                       const pwire::RepairSliceRequest* request,
                                                       pwire::AllocateSliceResponse* response) {
  absl::StatusOr<ClientId> client = ReadClient(server_->sessions(), context, *request);
  if (!client.ok()) return Answer(*response, client.status());
  absl::StatusOr<SliceId> slice =
      wire::IdFromProto<SliceId>(request->slice(), "RepairSliceRequest", "slice");
  if (!slice.ok()) return Answer(*response, slice.status());
  absl::StatusOr<VirtualSlice> repaired = server_->controller().RepairSlice(*client, *slice);
  if (repaired.ok()) *response->mutable_slice() = wire::ToProto(*repaired);
  return Answer(*response, repaired.status());
}

grpc::Status ControllerServer::ApiService::ReleaseSlice(grpc::ServerContext* context,
                                                        const pwire::ReleaseSliceRequest* request,
                                                        pwire::StatusResponse* response) {
  absl::StatusOr<ClientId> client = ReadClient(server_->sessions(), context, *request);
  if (!client.ok()) return Answer(*response, client.status());
  absl::StatusOr<SliceId> slice =
      wire::IdFromProto<SliceId>(request->slice(), "ReleaseSliceRequest", "slice");
  if (!slice.ok()) return Answer(*response, slice.status());
  return Answer(*response, server_->controller().ReleaseSlice(*client, *slice));
}

grpc::Status ControllerServer::ApiService::RegisterFunction(
    grpc::ServerContext* context, const pwire::RegisterFunctionRequest* request,
    pwire::RegisterFunctionResponse* response) {
  absl::StatusOr<ClientId> client = ReadClient(server_->sessions(), context, *request);
  if (!client.ok()) return Answer(*response, client.status());
  absl::StatusOr<ir::Function> function = ir::FromProto(request->function());
  if (!function.ok()) {
    return Answer(*response, Nested(function.status(), "RegisterFunctionRequest", "function"));
  }
  absl::StatusOr<FunctionId> id =
      server_->controller().RegisterFunction(*client, *std::move(function));
  if (id.ok()) response->set_function(id->value());
  return Answer(*response, id.status());
}

grpc::Status ControllerServer::ApiService::RegisterProgram(
    grpc::ServerContext* context, const pwire::RegisterProgramRequest* request,
    pwire::RegisterProgramResponse* response) {
  absl::StatusOr<ClientId> client = ReadClient(server_->sessions(), context, *request);
  if (!client.ok()) return Answer(*response, client.status());
  absl::StatusOr<ProgramDef> program = wire::FromProto(request->program());
  if (!program.ok()) {
    return Answer(*response, Nested(program.status(), "RegisterProgramRequest", "program"));
  }
  absl::StatusOr<ProgramId> id = server_->controller().RegisterProgram(*client, *std::move(program));
  if (id.ok()) response->set_program(id->value());
  return Answer(*response, id.status());
}

grpc::Status ControllerServer::ApiService::PutArray(grpc::ServerContext* context,
                                                    const pwire::PutArrayRequest* request,
                                                    pwire::ArrayInfoResponse* response) {
  absl::StatusOr<ClientId> client = ReadClient(server_->sessions(), context, *request);
  if (!client.ok()) return Answer(*response, client.status());
  absl::StatusOr<SliceId> slice =
      wire::IdFromProto<SliceId>(request->slice(), "PutArrayRequest", "slice");
  if (!slice.ok()) return Answer(*response, slice.status());
  std::vector<ir::Literal> shards;
  shards.reserve(request->shards_size());
  for (int i = 0; i < request->shards_size(); ++i) {
    absl::StatusOr<ir::Literal> shard = wire::FromProto(request->shards(i));
    if (!shard.ok()) {
      return Answer(*response, Nested(shard.status(), "PutArrayRequest",
                                      absl::StrCat("shards[", i, "]")));
    }
    shards.push_back(*std::move(shard));
  }
  absl::StatusOr<Sharding> sharding = wire::FromProto(request->sharding());
  if (!sharding.ok()) {
    return Answer(*response, Nested(sharding.status(), "PutArrayRequest", "sharding"));
  }
  absl::StatusOr<ArrayInfo> info =
      server_->controller().PutArray(*client, *slice, std::move(shards), *std::move(sharding));
  if (info.ok()) *response->mutable_array() = wire::ToProto(*info);
  return Answer(*response, info.status());
}

grpc::Status ControllerServer::ApiService::Run(grpc::ServerContext* context,
                                               const pwire::RunRequest* request,
                                               pwire::RunResponse* response) {
  absl::StatusOr<ClientId> client = ReadClient(server_->sessions(), context, *request);
  if (!client.ok()) return Answer(*response, client.status());
  ServeRun(*client, *request, *response);
  return grpc::Status::OK;
}

void ControllerServer::ApiService::ServeRun(ClientId client, const pwire::RunRequest& request,
                                            pwire::RunResponse& response) {
  absl::StatusOr<ProgramId> program =
      wire::IdFromProto<ProgramId>(request.program(), "RunRequest", "program");
  if (!program.ok()) {
    SetStatus(response, program.status());
    return;
  }
  std::vector<ArrayId> inputs;
  inputs.reserve(request.inputs_size());
  for (int i = 0; i < request.inputs_size(); ++i) {
    absl::StatusOr<ArrayId> input =
        wire::IdFromProto<ArrayId>(request.inputs(i), "RunRequest", absl::StrCat("inputs[", i, "]"));
    if (!input.ok()) {
      SetStatus(response, input.status());
      return;
    }
    inputs.push_back(*input);
  }
  if (request.mode() > static_cast<uint32_t>(DispatchMode::kSequential)) {
    SetStatus(response, wire::internal::Invalid("RunRequest", "mode", "unknown dispatch mode ",
                                                request.mode()));
    return;
  }
  RunOptions options;
  options.mode = static_cast<DispatchMode>(request.mode());
  if (request.has_deadline()) {
    options.deadline = absl::Now() + absl::Nanoseconds(request.deadline_left_nanos());
  }
  absl::StatusOr<RunResult> result = server_->controller().Run(client, *program, inputs, options);
  if (result.ok()) *response.mutable_result() = wire::ToProto(*result);
  SetStatus(response, result.status());
}

grpc::Status ControllerServer::ApiService::CancelRun(grpc::ServerContext* context,
                                                     const pwire::CancelRunRequest* request,
                                                     pwire::StatusResponse* response) {
  absl::StatusOr<ClientId> client = ReadClient(server_->sessions(), context, *request);
  if (!client.ok()) return Answer(*response, client.status());
  absl::StatusOr<RunId> run = wire::IdFromProto<RunId>(request->run(), "CancelRunRequest", "run");
  if (!run.ok()) return Answer(*response, run.status());
  return Answer(*response, server_->controller().CancelRun(*client, *run));
}

grpc::Status ControllerServer::ApiService::RunControl(grpc::ServerContext* context,
                                                      const pwire::RunControlRequest* request,
                                                      pwire::RunResponse* response) {
  constexpr std::string_view kMsg = "RunControlRequest";
  absl::StatusOr<ClientId> client = ReadClient(server_->sessions(), context, *request);
  if (!client.ok()) return Answer(*response, client.status());
  if (request->kind() > static_cast<uint32_t>(ControlRequest::Kind::kWhile)) {
    return Answer(*response, wire::internal::Invalid(kMsg, "kind", "unknown kind ", request->kind()));
  }
  if (request->programs_size() > kMaxControlPrograms) {
    return Answer(*response, wire::internal::Invalid(kMsg, "programs", request->programs_size(),
                                                     " programs (at most ", kMaxControlPrograms,
                                                     ")"));
  }
  ControlRequest control;
  control.kind = static_cast<ControlRequest::Kind>(request->kind());
  control.max_iterations = request->max_iterations();
  for (int i = 0; i < request->programs_size(); ++i) {
    absl::StatusOr<ProgramId> program =
        wire::IdFromProto<ProgramId>(request->programs(i), kMsg, absl::StrCat("programs[", i, "]"));
    if (!program.ok()) return Answer(*response, program.status());
    control.programs.push_back(*program);
  }
  std::vector<ArrayId> inputs;
  inputs.reserve(request->inputs_size());
  for (int i = 0; i < request->inputs_size(); ++i) {
    absl::StatusOr<ArrayId> input =
        wire::IdFromProto<ArrayId>(request->inputs(i), kMsg, absl::StrCat("inputs[", i, "]"));
    if (!input.ok()) return Answer(*response, input.status());
    inputs.push_back(*input);
  }
  absl::StatusOr<RunResult> result =
      server_->controller().RunControl(*client, std::move(control), inputs);
  if (result.ok()) *response->mutable_result() = wire::ToProto(*result);
  return Answer(*response, result.status());
}

grpc::ServerUnaryReactor* ControllerServer::ApiService::AwaitArray(
    grpc::CallbackServerContext* context, const pwire::ArrayRequest* request,
    pwire::StatusResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<std::pair<ClientId, ArrayId>> ids = ReadArrayRequest(server_->sessions(), context, *request);
  if (!ids.ok()) {
    SetStatus(*response, ids.status());
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  AnswerWhenAvailable(reactor, response, server_->controller().AwaitArray(ids->first, ids->second));
  return reactor;
}

void ControllerServer::ApiService::AnswerWhenAvailable(grpc::ServerUnaryReactor* reactor,
                                                       pwire::StatusResponse* response,
                                                       const EventRef& event) {
  const uint64_t id = server_->pending_->Add([reactor, response](absl::Status status) {
    SetStatus(*response, status);
    reactor->Finish(grpc::Status::OK);
  });
  if (id != 0) {
    event->AndThen([pending = server_->pending_, id](const absl::Status& status) {
      pending->Complete(id, status);
    });
  }
}

grpc::ServerUnaryReactor* ControllerServer::ApiService::SaveCheckpoint(
    grpc::CallbackServerContext* context, const pwire::SaveCheckpointRequest* request,
    pwire::StatusResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto decoded = wire::FromProto(*request);
  absl::Status authorized =
      decoded.ok() ? Authorize(server_->sessions(), context, decoded->first).status() : decoded.status();
  if (!authorized.ok()) {
    SetStatus(*response, authorized);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  AnswerWhenAvailable(reactor, response, server_->controller().SaveCheckpoint(
                                             decoded->first, std::move(decoded->second)));
  return reactor;
}

grpc::Status ControllerServer::ApiService::RestoreCheckpoint(
    grpc::ServerContext* context, const pwire::RestoreCheckpointRequest* request,
    pwire::RestoreCheckpointResponse* response) {
  auto decoded = wire::FromProto(*request);
  if (!decoded.ok()) return Answer(*response, decoded.status());
  if (absl::Status s = Authorize(server_->sessions(), context, decoded->first).status(); !s.ok()) {
    return Answer(*response, s);
  }
  absl::StatusOr<RestoredCheckpoint> restored =
      server_->controller().RestoreCheckpoint(decoded->first, std::move(decoded->second));
  if (restored.ok()) {
    for (const ArrayInfo& info : restored->arrays) *response->add_arrays() = wire::ToProto(info);
    response->set_metadata(restored->metadata);
  }
  return Answer(*response, restored.status());
}

grpc::ServerUnaryReactor* ControllerServer::ApiService::FetchArray(
    grpc::CallbackServerContext* context, const pwire::ArrayRequest* request,
    pwire::FetchArrayResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<std::pair<ClientId, ArrayId>> ids = ReadArrayRequest(server_->sessions(), context, *request);
  if (!ids.ok()) {
    SetStatus(*response, ids.status());
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  AsyncValueRef<std::vector<ir::Literal>> fetched =
      server_->controller().FetchArray(ids->first, ids->second);
  const uint64_t id = server_->pending_->Add([reactor, response, fetched](absl::Status status) {
    // OK comes only from the future itself, so its value is there.
    if (status.ok()) {
      for (const ir::Literal& shard : fetched->value()) *response->add_shards() = wire::ToProto(shard);
    }
    SetStatus(*response, status);
    reactor->Finish(grpc::Status::OK);
  });
  if (id != 0) {
    fetched->AndThen([pending = server_->pending_, id](const absl::Status& status) {
      pending->Complete(id, status);
    });
  }
  return reactor;
}

grpc::Status ControllerServer::ApiService::ReleaseArray(grpc::ServerContext* context,
                                                        const pwire::ArrayRequest* request,
                                                        pwire::StatusResponse* response) {
  absl::StatusOr<std::pair<ClientId, ArrayId>> ids = ReadArrayRequest(server_->sessions(), context, *request);
  if (!ids.ok()) return Answer(*response, ids.status());
  return Answer(*response, server_->controller().ReleaseArray(ids->first, ids->second));
}

grpc::Status ControllerServer::ApiService::Status(grpc::ServerContext* context,
                                                  const pwire::ClusterStatusRequest* request,
                                                  pwire::ClusterStatusResponse* response) {
  // The response has no status field: a request this build cannot read fails the call itself.
  if (absl::Status s = wire::CheckVersion(*request); !s.ok()) return grpc_transport::ToGrpc(s);
  response->set_version(wire::kWireVersion);
  ClusterStatus status = server_->controller().Status();
  if (!IsOperator(*server_, context)) {
    // A tenant sees the cluster's shape and its own client and slices, nobody else's.
    absl::StatusOr<ClientId> caller = server_->sessions().Find(
        grpc_transport::ClientMetadata(context, grpc_transport::kSessionMetadata), absl::Now());
    std::erase_if(status.clients, [&](const ClientStatus& c) { return !caller.ok() || c.id != *caller; });
    std::erase_if(status.slices, [&](const VirtualSlice& s) { return !caller.ok() || s.client != *caller; });
  }
  const absl::Time now = absl::Now();
  for (ClientStatus& c : status.clients) {
    const absl::Duration age = server_->sessions().LeaseAge(c.id, now);
    c.lease_age_millis = age < absl::ZeroDuration() ? -1 : absl::ToInt64Milliseconds(age);
  }
  *response->mutable_status() = wire::ToProto(status);
  return grpc::Status::OK;
}

grpc::Status ControllerServer::ApiService::Trace(grpc::ServerContext* context,
                                                 const pwire::TraceRequest* request,
                                                 pwire::TraceResponse* response) {
  if (absl::Status s = wire::CheckVersion(*request); !s.ok()) return Answer(*response, s);
  // Every client's runs are in it.
  if (absl::Status s = NeedOperator(*server_, context, "Trace"); !s.ok()) return Answer(*response, s);
  TraceRecorder merged;
  merged.Start();
  server_->CollectTrace(merged);
  grpc_transport::ToProto(merged, *response);  // sets version and an OK status
  return grpc::Status::OK;
}

grpc::Status ControllerServer::ApiService::Shutdown(grpc::ServerContext* context,
                                                    const pwire::ShutdownRequest* request,
                                                    pwire::StatusResponse* response) {
  if (absl::Status s = wire::CheckVersion(*request); !s.ok()) return Answer(*response, s);
  if (absl::Status s = NeedOperator(*server_, context, "Shutdown"); !s.ok()) return Answer(*response, s);
  server_->RequestShutdown();
  return Answer(*response, absl::OkStatus());
}

}  // namespace pw
