// WorkerServiceImpl: the Worker service over a host's WorkerService.
#include "pathways/rpc/worker_service_impl.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"
#include "pathways/ir/ir.pb.h"
#include "pathways/ir/serialization.h"
#include "pathways/rpc/grpc_common.h"

namespace pw {

namespace {
using grpc_transport::SetStatus;

// A status the controller sends (a loss's reason, what shards or a run fail with) into `out`;
// INVALID_ARGUMENT naming `field` when it does not decode.
absl::Status ReadPeerStatus(const pathways::wire::StatusProto& proto, const std::string& field,
                            absl::Status& out) {
  absl::StatusOr<wire::PeerStatus> decoded = wire::FromProto(proto);
  if (!decoded.ok()) return Annotate(decoded.status(), field);
  out = std::move(decoded->status);
  return absl::OkStatus();
}

template <typename Response>
void Answer(grpc::ServerUnaryReactor* reactor, Response* response, const absl::Status& status) {
  SetStatus(*response, status);
  reactor->Finish(grpc::Status::OK);
}

// Answers PERMISSION_DENIED and returns true when the call lacks the cluster's operator token.
template <typename Response>
bool Refused(const grpc::CallbackServerContext* context, const std::string& token,
             grpc::ServerUnaryReactor* reactor, Response* response) {
  absl::Status s = grpc_transport::NeedOperatorToken(context, token, "a worker's command");
  if (s.ok()) return false;
  Answer(reactor, response, s);
  return true;
}
}  // namespace

struct WorkerServiceImpl::PendingRun {
  pathways::wire::HostRunProto bindings;  // the request without its program
  std::optional<wire::ReceivedHostProgram> program;
};

struct WorkerServiceImpl::PendingFetch {
  grpc::ServerUnaryReactor* reactor = nullptr;
  pathways::wire::FetchShardResponse* response = nullptr;
  std::atomic<bool> answered{false};
};

WorkerServiceImpl::WorkerServiceImpl(WorkerServiceImplOptions options)
    : options_(std::move(options)) {}

WorkerServiceImpl::~WorkerServiceImpl() {
  Stop(absl::CancelledError(absl::StrCat(options_.name, ": the worker service was destroyed")));
}

void WorkerServiceImpl::SetBackend(WorkerBackend backend) {
  PW_CHECK(backend.worker != nullptr && backend.observer != nullptr);
  {
    absl::MutexLock lock(&mu_);
    if (decided_) return;
    decided_ = true;
    backend_ = backend;
  }
  ready_->SetReady();
}

void WorkerServiceImpl::Stop(absl::Status reason) {
  if (reason.ok()) reason = absl::UnavailableError(absl::StrCat(options_.name, " is stopping"));
  bool never_ready = false;
  absl::flat_hash_set<std::shared_ptr<PendingFetch>> fetches;
  absl::flat_hash_set<std::shared_ptr<CommandReader>> streams;
  {
    absl::MutexLock lock(&mu_);
    if (!stopped_.has_value()) stopped_ = reason;
    reason = *stopped_;
    never_ready = !decided_;
    decided_ = true;
    fetches.swap(fetches_);
    streams = std::move(streams_);
    streams_.clear();
  }
  if (never_ready) ready_->SetError(reason);
  sequencer_.Stop(reason);
  for (const auto& fetch : fetches) FinishFetch(fetch, reason, nullptr);
  EndStreams(streams, reason);
}

template <typename Response>
void WorkerServiceImpl::WhenReady(grpc::ServerUnaryReactor* reactor, Response* response,
                                  absl::AnyInvocable<void()> fn) {
  ready_->AndThen([reactor, response, fn = std::move(fn)](const absl::Status& ready) mutable {
    if (!ready.ok()) {
      Answer(reactor, response, ready);
      return;
    }
    fn();
  });
}

int64_t WorkerServiceImpl::num_programs() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(programs_.size());
}

// ---- Runs and releases (from the Commands stream, worker_command_stream.cc) -----------------

absl::Status WorkerServiceImpl::ApplyBatch(const pathways::wire::WorkerCommandBatch& batch) {
  absl::Status error = wire::CheckVersion(batch);
  const int64_t commands = int64_t{batch.runs_size()} + batch.releases_size();
  if (error.ok() && commands > grpc_transport::kMaxCommandsPerBatch) {
    error = absl::InvalidArgumentError(
        absl::StrCat("WorkerCommandBatch: ", commands, " commands (at most ",
                     grpc_transport::kMaxCommandsPerBatch, " per batch)"));
  }
  for (int i = 0; error.ok() && i < batch.runs_size(); ++i) {
    error = Annotate(QueueRun(batch.runs(i)), absl::StrCat("WorkerCommandBatch.runs[", i, "]"));
  }
  for (int i = 0; error.ok() && i < batch.releases_size(); ++i) {
    error = Annotate(QueueRelease(batch.releases(i)),
                     absl::StrCat("WorkerCommandBatch.releases[", i, "]"));
  }
  if (!error.ok() && commands <= grpc_transport::kMaxCommandsPerBatch) {
    // The stream ends with the error, but the batch's seqs still count (a seq already applied
    // or waiting is refused here and changes nothing), or a FetchShard numbered after them
    // would wait forever.
    for (const auto& run : batch.runs()) {
      if (run.seq() != 0) (void)sequencer_.Submit(run.seq(), [](const absl::Status&) {});
    }
    for (const auto& release : batch.releases()) {
      if (release.seq() != 0) (void)sequencer_.Submit(release.seq(), [](const absl::Status&) {});
    }
  }
  return error;
}

absl::Status WorkerServiceImpl::QueueRun(const pathways::wire::HostRunProto& request) {
  // Errors found here end the stream (the run is not dispatched and never reported); errors
  // found at the run's turn are reported as its HostRunResult.
  auto run = std::make_unique<PendingRun>();
  PW_RETURN_IF_ERROR(wire::CheckVersion(request));
  if (request.has_program()) {
    absl::StatusOr<wire::ReceivedHostProgram> program = wire::FromProto(request.program());
    if (!program.ok()) return Annotate(program.status(), "HostRunProto.program");
    if (program->key != request.program_key()) {
      return absl::InvalidArgumentError(absl::StrCat("HostRunProto.program: its key ",
                                                     program->key, " differs from program_key ",
                                                     request.program_key()));
    }
    if (program->host != backend_.host) {
      return absl::InvalidArgumentError(
          absl::StrCat("HostRunProto.program: a part of ", program->host.DebugString(),
                       " sent to ", backend_.host.DebugString()));
    }
    run->program = *std::move(program);
  }
  pathways::wire::HostRunProto& b = run->bindings;
  b.set_version(request.version());
  b.set_run(request.run());
  b.set_client(request.client());
  b.set_program_key(request.program_key());
  *b.mutable_value_arrays() = request.value_arrays();
  b.set_gang_base(request.gang_base());
  b.set_mode(request.mode());
  b.set_stage(request.stage());
  b.set_seq(request.seq());
  *b.mutable_forget_program_keys() = request.forget_program_keys();
  return sequencer_.Submit(request.seq(), [this, run = std::move(run)](const absl::Status& turn) {
    if (turn.ok()) ApplyRun(*run);
  });
}

absl::Status WorkerServiceImpl::QueueRelease(const pathways::wire::ReleaseRequest& request) {
  PW_RETURN_IF_ERROR(wire::CheckVersion(request));
  std::vector<ArrayId> arrays;
  arrays.reserve(request.arrays_size());
  for (int i = 0; i < request.arrays_size(); ++i) {
    PW_RETURN_IF_ERROR(
        wire::CheckId(request.arrays(i), "ReleaseRequest", absl::StrCat("arrays[", i, "]")));
    arrays.push_back(ArrayId(request.arrays(i)));
  }
  return sequencer_.Submit(request.seq(),
                           [this, arrays = std::move(arrays)](const absl::Status& turn) {
                             if (turn.ok()) backend_.worker->Release(arrays);
                           });
}

void WorkerServiceImpl::ApplyRun(PendingRun& run) {
  const uint64_t key = run.bindings.program_key();
  std::optional<wire::ReceivedHostProgram> program;
  {
    absl::MutexLock lock(&mu_);
    if (run.program.has_value()) programs_[key] = *run.program;
    if (auto it = programs_.find(key); it != programs_.end()) program = it->second;
    for (uint64_t gone : run.bindings.forget_program_keys()) programs_.erase(gone);
  }
  if (!program.has_value()) {
    ReportFailedRun(run, absl::FailedPreconditionError(absl::StrCat(
                             "HostRunProto.program_key: ", backend_.host.DebugString(),
                             " holds no host program under key ", key,
                             " (the run named it without sending it first)")));
    return;
  }
  absl::StatusOr<HostRun> host_run = wire::FromProto(run.bindings, *program);
  if (!host_run.ok()) {
    ReportFailedRun(run, host_run.status());
    return;
  }
  backend_.worker->Run(*std::move(host_run));
}

void WorkerServiceImpl::ReportFailedRun(const PendingRun& run, absl::Status error) {
  if (run.bindings.run() < 0) {
    PW_LOG(WARNING) << backend_.host << ": dropping a run with negative id "
                    << run.bindings.run() << ": " << error;
    return;
  }
  HostRunResult result;
  result.host = backend_.host;
  result.run = RunId(run.bindings.run());
  result.stage = run.bindings.stage();
  result.status = std::move(error);
  backend_.observer->OnHostRunDone(std::move(result));
}

// ---- FetchShard ------------------------------------------------------------------------------

grpc::ServerUnaryReactor* WorkerServiceImpl::FetchShard(
    grpc::CallbackServerContext* context, const pathways::wire::FetchShardRequest* request,
    pathways::wire::FetchShardResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (Refused(context, options_.operator_token, reactor, response)) return reactor;
  WhenReady(reactor, response, [this, reactor, request, response] {
    constexpr std::string_view kMsg = "FetchShardRequest";
    absl::Status error = wire::CheckVersion(*request);
    if (error.ok()) error = wire::CheckId(request->array(), kMsg, "array");
    if (error.ok() && (request->shard() < 0 || request->shard() >= ir::kMaxShards)) {
      error = absl::InvalidArgumentError(absl::StrCat("FetchShardRequest.shard: shard ",
                                                      request->shard(), " out of range [0, ",
                                                      ir::kMaxShards, ")"));
    }
    if (error.ok() && !request->save_path().empty()) {
      error = checkpoint::CheckPath(request->save_path(), "FetchShardRequest.save_path");
    }
    if (!error.ok()) {
      if (request->seq() != 0) (void)sequencer_.Submit(request->seq(), [](const absl::Status&) {});
      Answer(reactor, response, error);
      return;
    }
    auto fetch = std::make_shared<PendingFetch>();
    fetch->reactor = reactor;
    fetch->response = response;
    {
      absl::MutexLock lock(&mu_);
      if (stopped_.has_value()) error = *stopped_;
      else fetches_.insert(fetch);
    }
    if (!error.ok()) {
      Answer(reactor, response, error);
      return;
    }
    const ArrayId array(request->array());
    const int32_t shard = request->shard();
    const absl::Status queued = sequencer_.Submit(
        request->seq(),
        [this, fetch, array, shard, save_path = request->save_path()](const absl::Status& turn) {
          if (turn.ok() && !save_path.empty()) {
            StartSave(fetch, array, shard, save_path);
          } else if (turn.ok()) {
            StartFetch(fetch, array, shard);
          } else {
            FinishFetch(fetch, turn, nullptr);
          }
        });
    if (!queued.ok()) FinishFetch(fetch, queued, nullptr);
  });
  return reactor;
}

void WorkerServiceImpl::StartFetch(const std::shared_ptr<PendingFetch>& fetch, ArrayId array,
                                   int32_t shard) {
  AsyncValueRef<ir::Literal> value = backend_.worker->FetchShard(array, shard);
  // The callback runs inside `value`'s own completion, so the raw pointer is alive there.
  AsyncValue<ir::Literal>* raw = value.get();
  value->AndThen([this, fetch, raw](const absl::Status& status) {
    // Answered already (Stop): the service may be going away; touch nothing of it.
    if (fetch->answered.load(std::memory_order_acquire)) return;
    FinishFetch(fetch, status, status.ok() ? &raw->value() : nullptr);
  });
}

void WorkerServiceImpl::StartSave(const std::shared_ptr<PendingFetch>& fetch, ArrayId array,
                                  int32_t shard, const std::string& path) {
  AsyncValueRef<checkpoint::ShardFile> saved = backend_.worker->SaveShard(array, shard, path);
  AsyncValue<checkpoint::ShardFile>* raw = saved.get();
  saved->AndThen([this, fetch, raw](const absl::Status& status) {
    if (fetch->answered.load(std::memory_order_acquire)) return;
    FinishFetch(fetch, status, nullptr, status.ok() ? &raw->value() : nullptr);
  });
}

void WorkerServiceImpl::FinishFetch(const std::shared_ptr<PendingFetch>& fetch,
                                    const absl::Status& status, const ir::Literal* data,
                                    const checkpoint::ShardFile* saved) {
  if (fetch->answered.exchange(true, std::memory_order_acq_rel)) return;
  {
    absl::MutexLock lock(&mu_);
    fetches_.erase(fetch);
  }
  if (data != nullptr) *fetch->response->mutable_data() = wire::ToProto(*data);
  if (saved != nullptr) *fetch->response->mutable_saved() = wire::ToProto(*saved);
  Answer(fetch->reactor, fetch->response, status);
}

// ---- Unordered calls -------------------------------------------------------------------------

grpc::ServerUnaryReactor* WorkerServiceImpl::PeerLost(grpc::CallbackServerContext* context,
                                                      const pathways::wire::PeerLostRequest* request,
                                                      pathways::wire::StatusResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (Refused(context, options_.operator_token, reactor, response)) return reactor;
  WhenReady(reactor, response, [this, reactor, request, response] {
    absl::Status s = wire::CheckVersion(*request);
    if (s.ok()) s = wire::CheckId(request->peer(), "PeerLostRequest", "peer");
    if (s.ok() && HostId(request->peer()) == backend_.host) {
      s = absl::InvalidArgumentError(absl::StrCat("PeerLostRequest.peer: ",
                                                  backend_.host.DebugString(),
                                                  " was told of its own loss"));
    }
    absl::Status reason;
    if (s.ok()) s = ReadPeerStatus(request->reason(), "PeerLostRequest.reason", reason);
    if (s.ok()) backend_.worker->PeerLost(HostId(request->peer()), std::move(reason));
    Answer(reactor, response, s);
  });
  return reactor;
}

grpc::ServerUnaryReactor* WorkerServiceImpl::FailShards(
    grpc::CallbackServerContext* context, const pathways::wire::FailShardsRequest* request,
    pathways::wire::StatusResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (Refused(context, options_.operator_token, reactor, response)) return reactor;
  WhenReady(reactor, response, [this, reactor, request, response] {
    constexpr const char* kMsg = "FailShardsRequest";
    absl::Status s = wire::CheckVersion(*request);
    if (s.ok()) s = wire::CheckId(request->array(), kMsg, "array");
    if (s.ok() && request->shards_size() > ir::kMaxShards) {
      s = absl::InvalidArgumentError(absl::StrCat(kMsg, ".shards: ", request->shards_size(),
                                                  " shards (at most ", ir::kMaxShards, ")"));
    }
    std::vector<int32_t> shards;
    for (int i = 0; s.ok() && i < request->shards_size(); ++i) {
      const int32_t shard = request->shards(i);
      if (shard < 0 || shard >= ir::kMaxShards) {
        s = absl::InvalidArgumentError(absl::StrCat(kMsg, ".shards[", i, "]: ", shard,
                                                    " is outside [0, ", ir::kMaxShards, ")"));
      }
      shards.push_back(shard);
    }
    absl::Status status;
    if (s.ok()) s = ReadPeerStatus(request->status(), absl::StrCat(kMsg, ".status"), status);
    if (s.ok() && status.ok()) {
      s = absl::InvalidArgumentError(absl::StrCat(kMsg, ".status: OK is not a failure"));
    }
    if (s.ok()) backend_.worker->FailShards(ArrayId(request->array()), shards, std::move(status));
    Answer(reactor, response, s);
  });
  return reactor;
}

grpc::ServerUnaryReactor* WorkerServiceImpl::CancelRun(
    grpc::CallbackServerContext* context, const pathways::wire::WorkerCancelRunRequest* request,
    pathways::wire::StatusResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (Refused(context, options_.operator_token, reactor, response)) return reactor;
  WhenReady(reactor, response, [this, reactor, request, response] {
    constexpr const char* kMsg = "WorkerCancelRunRequest";
    absl::Status s = wire::CheckVersion(*request);
    if (s.ok()) s = wire::CheckId(request->run(), kMsg, "run");
    absl::Status status;
    if (s.ok()) s = ReadPeerStatus(request->status(), absl::StrCat(kMsg, ".status"), status);
    if (s.ok()) backend_.worker->CancelRun(RunId(request->run()), std::move(status));
    Answer(reactor, response, s);
  });
  return reactor;
}

grpc::ServerUnaryReactor* WorkerServiceImpl::RegisterFunction(
    grpc::CallbackServerContext* context,
    const pathways::wire::WorkerRegisterFunctionRequest* request,
    pathways::wire::StatusResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (Refused(context, options_.operator_token, reactor, response)) return reactor;
  WhenReady(reactor, response, [this, reactor, request, response] {
    absl::Status s = wire::CheckVersion(*request);
    if (s.ok()) s = wire::CheckId(request->id(), "WorkerRegisterFunctionRequest", "id");
    if (s.ok()) {
      absl::StatusOr<ir::Function> function = ir::FromProto(request->function());
      s = function.ok() ? backend_.worker->RegisterFunction(FunctionId(request->id()), *function)
                        : Annotate(function.status(), "WorkerRegisterFunctionRequest.function");
    }
    Answer(reactor, response, s);
  });
  return reactor;
}

grpc::ServerUnaryReactor* WorkerServiceImpl::PutShard(grpc::CallbackServerContext* context,
                                                      const pathways::wire::PutShardRequest* request,
                                                      pathways::wire::StatusResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (Refused(context, options_.operator_token, reactor, response)) return reactor;
  WhenReady(reactor, response, [this, reactor, request, response] {
    constexpr std::string_view kMsg = "PutShardRequest";
    absl::Status s = wire::CheckVersion(*request);
    if (s.ok()) s = wire::CheckId(request->array(), kMsg, "array");
    if (s.ok()) s = wire::CheckId(request->device(), kMsg, "device");
    if (s.ok() && (request->shard() < 0 || request->shard() >= ir::kMaxShards)) {
      s = absl::InvalidArgumentError(absl::StrCat("PutShardRequest.shard: shard ",
                                                  request->shard(), " out of range [0, ",
                                                  ir::kMaxShards, ")"));
    }
    if (s.ok() && request->has_load()) {
      if (request->has_data()) {
        s = absl::InvalidArgumentError("PutShardRequest: both data and load are set");
      } else {
        absl::StatusOr<checkpoint::ShardFile> file = wire::FromProto(request->load());
        s = file.ok() ? backend_.worker->LoadShard(ArrayId(request->array()), request->shard(),
                                                   DeviceId(request->device()), *file)
                      : Annotate(file.status(), "PutShardRequest.load");
      }
    } else if (s.ok()) {
      // The request belongs to this call and is not read again: its bytes move into the
      // literal instead of being copied (bulk data).
      auto& data = const_cast<pathways::ir::LiteralProto&>(request->data());
      absl::StatusOr<ir::Literal> literal = wire::FromProto(std::move(data));
      s = literal.ok() ? backend_.worker->PutShard(ArrayId(request->array()), request->shard(),
                                                   DeviceId(request->device()), *literal)
                       : Annotate(literal.status(), "PutShardRequest.data");
    }
    Answer(reactor, response, s);
  });
  return reactor;
}

grpc::ServerUnaryReactor* WorkerServiceImpl::Status(grpc::CallbackServerContext* context,
                                                    const pathways::wire::HostStatusRequest* request,
                                                    pathways::wire::HostStatusResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status s = grpc_transport::NeedOperatorToken(context, options_.operator_token, "a worker's command");
      !s.ok()) {
    response->set_version(wire::kWireVersion);
    *response->mutable_status()->mutable_status() = wire::ToProto(s);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  ready_->AndThen([this, reactor, request, response](const absl::Status& ready) {
    response->set_version(wire::kWireVersion);
    absl::Status s = ready.ok() ? wire::CheckVersion(*request) : ready;
    if (s.ok()) {
      *response->mutable_status() = wire::ToProto(backend_.worker->Status());
    } else {
      *response->mutable_status()->mutable_status() = wire::ToProto(s);
    }
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* WorkerServiceImpl::Trace(grpc::CallbackServerContext* context,
                                                   const pathways::wire::TraceRequest* request,
                                                   pathways::wire::TraceResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (Refused(context, options_.operator_token, reactor, response)) return reactor;
  WhenReady(reactor, response, [this, reactor, request, response] {
    const absl::Status s = wire::CheckVersion(*request);
    if (s.ok() && backend_.trace != nullptr) {
      grpc_transport::ToProto(*backend_.trace, *response);
      reactor->Finish(grpc::Status::OK);
      return;
    }
    Answer(reactor, response, s);
  });
  return reactor;
}

grpc::ServerUnaryReactor* WorkerServiceImpl::Shutdown(grpc::CallbackServerContext* context,
                                                      const pathways::wire::ShutdownRequest* request,
                                                      pathways::wire::StatusResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (Refused(context, options_.operator_token, reactor, response)) return reactor;
  const absl::Status s = wire::CheckVersion(*request);
  Answer(reactor, response, s);
  if (s.ok() && options_.on_shutdown) options_.on_shutdown();
  return reactor;
}

}  // namespace pw
