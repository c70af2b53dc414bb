// GrpcWorkerClient: Worker service calls, seq stamping, host program keys, failure reports.
#include "pathways/rpc/grpc_worker_client.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"
#include "pathways/ir/serialization.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/wire/wire_convert.h"

namespace pw {
namespace {

using pathways::wire::FetchShardRequest;
using pathways::wire::FetchShardResponse;
using pathways::wire::HostRunProto;
using pathways::wire::PeerLostRequest;
using pathways::wire::ReleaseRequest;
using pathways::wire::StatusResponse;
using Async = pathways::wire::Worker::StubInterface::async_interface;

template <typename Request, typename Response>
struct AsyncCall {
  grpc::ClientContext context;
  Request request;
  Response response;
};

// Expired entries of the program table are dropped every this many new lowerings.
constexpr int64_t kSweepEvery = 64;
// Any non-zero key: HostRun conversion is checked before the real key is assigned.
constexpr uint64_t kProbeKey = 1;

}  // namespace

GrpcWorkerClient::GrpcWorkerClient(GrpcWorkerClientOptions options)
    : options_(std::move(options)),
      peer_(absl::StrCat(options_.host.DebugString(), " (", options_.address, ")")),
      channel_(options_.channel != nullptr ? options_.channel
                                           : grpc_transport::MakeChannel(options_.address)),
      stub_(pathways::wire::Worker::NewStub(channel_)),
      calls_(std::make_shared<grpc_transport::CallTracker>()) {
  PW_CHECK(options_.observer != nullptr) << "GrpcWorkerClientOptions.observer is required";
}

GrpcWorkerClient::~GrpcWorkerClient() {
  CommandStream* stream = nullptr;
  {
    absl::MutexLock lock(&mu_);
    closing_ = true;
    stream = stream_.get();
  }
  // Outside the lock: gRPC may run the stream's callbacks on this thread.
  if (stream != nullptr) {
    stream->Cancel();
    stream->WaitDone();  // its callbacks use this client
  }
  calls_->CloseAndWait();
}

void GrpcWorkerClient::OpenStreamLocked() {
  stream_ = std::make_unique<CommandStream>(
      [this](grpc::ClientContext* context, CommandStream* reactor) {
        stub_->async()->Commands(context, reactor);
      },
      CommandStream::Callbacks{.on_write_done = [this](bool ok) { OnBatchWritten(ok); },
                               .on_done = [this](const grpc::Status& status) {
                                 OnStreamDone(status);
                               }});
}

template <typename Request, typename Response, typename Start, typename Done>
void GrpcWorkerClient::StartAsync(Request request, absl::Duration timeout, Start start,
                                  Done done) const {
  auto call = std::make_shared<AsyncCall<Request, Response>>();
  call->request = std::move(request);
  if (timeout < absl::InfiniteDuration()) {
    call->context.set_deadline(grpc_transport::DeadlineIn(timeout));
  }
  if (!calls_->Begin(&call->context)) {
    done(grpc::Status(grpc::StatusCode::CANCELLED, "the worker client is shutting down"),
         call->response);
    return;
  }
  start(stub_->async(), &call->context, &call->request, &call->response,
        [call, tracker = calls_, done = std::move(done)](grpc::Status status) mutable {
          done(status, call->response);
          // The context holds a reference to the channel. Dropping it here, while the owner
          // still holds its own, keeps the channel's last release off this gRPC thread: a
          // channel destroyed on a callback thread can tear down that thread's own pool.
          tracker->Detach(&call->context);
          call.reset();
          tracker->Done();  // last: the owner may be destroyed right after
        });
}

absl::Status GrpcWorkerClient::CallFailed(const grpc::Status& status, std::string_view what,
                                          bool deadline_means_lost) const {
  if (absl::Status lost = this->lost(); !lost.ok()) return lost;  // cancelled by MarkLost
  absl::Status error = grpc_transport::FromGrpc(status, what, peer_);
  const grpc::StatusCode code = status.error_code();
  if (code == grpc::StatusCode::UNAVAILABLE ||
      (deadline_means_lost && code == grpc::StatusCode::DEADLINE_EXCEEDED)) {
    ReportFailure(error);
  }
  return error;
}

void GrpcWorkerClient::ReportFailure(const absl::Status& status) const {
  {
    absl::MutexLock lock(&mu_);
    if (failure_reported_) return;
    failure_reported_ = true;
  }
  if (options_.on_failure) options_.on_failure(options_.host, status);
}

void GrpcWorkerClient::FailRun(RunId run, int64_t stage, absl::Status status) const {
  HostRunResult result;
  result.host = options_.host;
  result.run = run;
  result.stage = stage;
  result.status = std::move(status);
  options_.observer->OnHostRunDone(std::move(result));
}

std::pair<uint64_t, bool> GrpcWorkerClient::ProgramKeyLocked(
    const std::shared_ptr<const LoweredProgram>& lowered) {
  auto it = programs_.find(lowered.get());
  if (it != programs_.end()) {
    // Two live objects never share an address, so a live entry is this very lowering.
    if (!it->second.lowered.expired()) return {it->second.key, false};
    forget_.push_back(it->second.key);
    it->second = ProgramEntry{lowered, next_key_++};
    return {it->second.key, true};
  }
  if (++inserts_since_sweep_ >= kSweepEvery) {
    inserts_since_sweep_ = 0;
    absl::erase_if(programs_, [this](const auto& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      if (!entry.second.lowered.expired()) return false;
      forget_.push_back(entry.second.key);
      return true;
    });
  }
  const uint64_t key = next_key_++;
  programs_.emplace(lowered.get(), ProgramEntry{lowered, key});
  return {key, true};
}

void GrpcWorkerClient::ForgetProgram(const LoweredProgram* lowered, uint64_t key) {
  absl::MutexLock lock(&mu_);
  auto it = programs_.find(lowered);
  if (it != programs_.end() && it->second.key == key) {
    programs_.erase(it);
    forget_.push_back(key);  // in case the worker kept it although the run failed
  }
}

absl::Status GrpcWorkerClient::RegisterFunction(FunctionId id, const ir::Function& function) {
  PW_RETURN_IF_ERROR(lost());
  const std::string what = absl::StrCat("RegisterFunction(", id.DebugString(), " '",
                                        function.name, "')");
  pathways::wire::WorkerRegisterFunctionRequest request;
  request.set_version(wire::kWireVersion);
  request.set_id(id.value());
  *request.mutable_function() = ir::ToProto(function);
  StatusResponse response;
  grpc::ClientContext context;
  context.set_deadline(grpc_transport::DeadlineIn(options_.call_timeout));
  if (!calls_->Begin(&context)) return absl::CancelledError(absl::StrCat(what, ": client closed"));
  const grpc::Status status = stub_->RegisterFunction(&context, request, &response);
  calls_->End(&context);
  if (!status.ok()) return CallFailed(status, what, /*deadline_means_lost=*/true);
  absl::Status s = wire::ResponseStatus(response);
  return s.ok() ? s : Annotate(s, absl::StrCat(what, " on ", peer_));
}

void GrpcWorkerClient::Run(HostRun run) {
  const RunId run_id = run.run;
  const int64_t stage = run.stage;
  absl::StatusOr<HostRunProto> proto =
      wire::ToProto(run, wire::HostRunWireOptions{kProbeKey, wire::ProgramPayload::kKeyOnly});
  if (!proto.ok()) {
    FailRun(run_id, stage,
            Annotate(proto.status(), absl::StrCat("Run(", run_id.DebugString(), ") for ", peer_)));
    return;
  }
  std::unique_ptr<CommandBatch> batch;
  bool open = false;
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    // Key, seq and place in the batch are taken together: a run naming a key only must never
    // reach the worker ahead of the run carrying that program.
    QueuedRun queued{run_id, stage, run.lowered.get()};
    const bool added = EnqueueLocked(
        [&](CommandBatch& b) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          std::tie(queued.key, queued.with_program) = ProgramKeyLocked(run.lowered);
          proto->set_program_key(queued.key);
          proto->set_seq(next_seq_++);
          proto->mutable_forget_program_keys()->Add(forget_.begin(), forget_.end());
          forget_.clear();
          if (queued.with_program) {
            ++programs_sent_;
            absl::StatusOr<pathways::wire::HostProgramProto> program =
                wire::ToProto(*run.lowered, options_.host, queued.key);
            if (program.ok()) {
              *proto->mutable_program() = *std::move(program);
            } else {
              // Cannot happen for a run that converted above; the worker then reports the
              // unknown key as the run's failure.
              PW_LOG(ERROR) << "Run(" << run_id << ") for " << peer_ << ": " << program.status();
            }
          }
          *b.add_runs() = *std::move(proto);
        },
        &queued);
    if (!added) {
      refused = lost_.ok() ? stream_error_ : lost_;
    } else {
      if (options_.defer_releases_while_running) ++runs_in_flight_;
      batch = TakeBatchOpeningLocked(&open);
    }
  }
  if (!refused.ok()) {
    FailRun(run_id, stage, std::move(refused));
    return;
  }
  if (batch != nullptr) WriteBatch(std::move(batch), open);
}

absl::Status GrpcWorkerClient::PutShard(ArrayId array, int32_t shard, DeviceId device,
                                        const ir::Literal& data) {
  pathways::wire::PutShardRequest request;
  *request.mutable_data() = wire::ToProto(data);
  return CallPutShard(std::move(request), array, shard, device, data.type().byte_size(),
                      absl::StrCat("PutShard(", array.DebugString(), " shard ", shard, ")"));
}

absl::Status GrpcWorkerClient::LoadShard(ArrayId array, int32_t shard, DeviceId device,
                                         const checkpoint::ShardFile& file) {
  pathways::wire::PutShardRequest request;
  *request.mutable_load() = wire::ToProto(file);
  return CallPutShard(std::move(request), array, shard, device, file.bytes,
                      absl::StrCat("LoadShard(", array.DebugString(), " shard ", shard, " from ",
                                   file.path, ")"));
}

absl::Status GrpcWorkerClient::CallPutShard(pathways::wire::PutShardRequest request, ArrayId array,
                                            int32_t shard, DeviceId device, int64_t bytes,
                                            const std::string& what) {
  PW_RETURN_IF_ERROR(lost());
  // The memory of arrays released before the put is the put's to use: releases waiting for the
  // host's runs go out first.
  FlushReleases();
  request.set_version(wire::kWireVersion);
  request.set_array(array.value());
  request.set_shard(shard);
  request.set_device(device.value());
  StatusResponse response;
  grpc::ClientContext context;
  context.set_deadline(grpc_transport::DeadlineIn(options_.call_timeout +
                                                  absl::Seconds(bytes / (100 << 20))));
  if (!calls_->Begin(&context)) return absl::CancelledError(absl::StrCat(what, ": client closed"));
  const grpc::Status status = stub_->PutShard(&context, request, &response);
  calls_->End(&context);
  if (!status.ok()) return CallFailed(status, what, /*deadline_means_lost=*/true);
  absl::Status s = wire::ResponseStatus(response);
  return s.ok() ? s : Annotate(s, absl::StrCat(what, " on ", peer_));
}

AsyncValueRef<ir::Literal> GrpcWorkerClient::FetchShard(ArrayId array, int32_t shard) {
  auto result = MakeAsyncValue<ir::Literal>();
  std::string what = absl::StrCat("FetchShard(", array.DebugString(), " shard ", shard, ")");
  StartFetchCall(array, shard, "", what, result,
                 [this, result, what](FetchShardResponse& response) {
                   absl::StatusOr<ir::Literal> literal =
                       wire::FromProto(std::move(*response.mutable_data()));
                   if (!literal.ok()) {
                     result->SetError(Annotate(literal.status(), absl::StrCat(what, " from ", peer_)));
                     return;
                   }
                   result->SetValue(*std::move(literal));
                 });
  return result;
}

AsyncValueRef<checkpoint::ShardFile> GrpcWorkerClient::SaveShard(ArrayId array, int32_t shard,
                                                                 std::string path) {
  auto result = MakeAsyncValue<checkpoint::ShardFile>();
  if (absl::Status bad = checkpoint::CheckPath(path, "SaveShard path"); !bad.ok()) {
    result->SetError(std::move(bad));
    return result;
  }
  std::string what = absl::StrCat("SaveShard(", array.DebugString(), " shard ", shard, " to ",
                                  path, ")");
  StartFetchCall(array, shard, std::move(path), what, result,
                 [this, result, what](FetchShardResponse& response) {
                   absl::StatusOr<checkpoint::ShardFile> saved = wire::FromProto(response.saved());
                   if (!saved.ok()) {
                     result->SetError(Annotate(saved.status(), absl::StrCat(what, " from ", peer_)));
                     return;
                   }
                   result->SetValue(*std::move(saved));
                 });
  return result;
}

template <typename T>
void GrpcWorkerClient::StartFetchCall(ArrayId array, int32_t shard, std::string save_path,
                                      std::string what, const AsyncValueRef<T>& result,
                                      std::function<void(FetchShardResponse&)> on_ok) {
  FetchShardRequest request;
  request.set_version(wire::kWireVersion);
  request.set_array(array.value());
  request.set_shard(shard);
  request.set_save_path(std::move(save_path));
  std::unique_ptr<CommandBatch> batch;
  bool open = false;
  {
    absl::MutexLock lock(&mu_);
    if (!lost_.ok()) {
      result->SetError(lost_);
      return;
    }
    request.set_seq(next_seq_++);
    // The worker applies it after every command of a lower seq: releases waiting for the
    // host's runs go out now rather than hold it back.
    batch = TakeBatchOpeningLocked(&open, /*releases_too=*/true);
  }
  if (batch != nullptr) WriteBatch(std::move(batch), open);
  StartAsync<FetchShardRequest, FetchShardResponse>(
      std::move(request), absl::InfiniteDuration(),
      [](Async* async, grpc::ClientContext* context, const FetchShardRequest* request,
         FetchShardResponse* response, std::function<void(grpc::Status)> done) {
        async->FetchShard(context, request, response, std::move(done));
      },
      [this, result, what = std::move(what), on_ok = std::move(on_ok)](
          const grpc::Status& grpc_status, FetchShardResponse& response) {
        if (!grpc_status.ok()) {
          result->SetError(CallFailed(grpc_status, what, /*deadline_means_lost=*/false));
          return;
        }
        // The worker's error is the shard's own (it names the node that failed): pass it on.
        if (absl::Status s = wire::ResponseStatus(response); !s.ok()) {
          result->SetError(std::move(s));
          return;
        }
        on_ok(response);
      });
}

void GrpcWorkerClient::Release(absl::Span<const ArrayId> arrays) {
  if (arrays.empty()) return;
  ReleaseRequest request;
  request.set_version(wire::kWireVersion);
  request.mutable_arrays()->Reserve(static_cast<int>(arrays.size()));
  for (ArrayId a : arrays) request.add_arrays(a.value());
  std::unique_ptr<CommandBatch> batch;
  bool open = false;
  {
    absl::MutexLock lock(&mu_);
    const bool added = EnqueueLocked(
        [&](CommandBatch& b) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          request.set_seq(next_seq_++);
          *b.add_releases() = std::move(request);
        },
        nullptr);
    if (!added) return;  // the host's memory went with it
    batch = TakeBatchOpeningLocked(&open);
  }
  if (batch != nullptr) WriteBatch(std::move(batch), open);
}

void GrpcWorkerClient::RunsDone(int64_t n) {
  std::unique_ptr<CommandBatch> batch;
  {
    absl::MutexLock lock(&mu_);
    if (!options_.defer_releases_while_running || n <= 0) return;
    runs_in_flight_ = std::max<int64_t>(0, runs_in_flight_ - n);
    if (runs_in_flight_ > 0 || stream_ == nullptr) return;
    batch = TakeBatchLocked();
  }
  if (batch != nullptr) WriteBatch(std::move(batch), /*open=*/false);
}

void GrpcWorkerClient::PeerLost(HostId peer, absl::Status reason) {
  if (!lost().ok()) return;  // nothing waits on a host that is gone itself
  PeerLostRequest request;
  request.set_version(wire::kWireVersion);
  request.set_peer(peer.value());
  *request.mutable_reason() = wire::ToProto(reason);
  std::string what = absl::StrCat("PeerLost(", peer.DebugString(), ")");
  StartAsync<PeerLostRequest, StatusResponse>(
      std::move(request), options_.call_timeout,
      [](Async* async, grpc::ClientContext* context, const PeerLostRequest* request,
         StatusResponse* response, std::function<void(grpc::Status)> done) {
        async->PeerLost(context, request, response, std::move(done));
      },
      NotifyOnly(std::move(what)));
}

void GrpcWorkerClient::FailShards(ArrayId array, absl::Span<const int32_t> shards,
                                  absl::Status status) {
  if (!lost().ok()) return;  // nothing waits on a host that is gone
  pathways::wire::FailShardsRequest request;
  request.set_version(wire::kWireVersion);
  request.set_array(array.value());
  for (int32_t shard : shards) request.add_shards(shard);
  *request.mutable_status() = wire::ToProto(status);
  std::string what = absl::StrCat("FailShards(", array.DebugString(), ")");
  StartAsync<pathways::wire::FailShardsRequest, StatusResponse>(
      std::move(request), options_.call_timeout,
      [](Async* async, grpc::ClientContext* context,
         const pathways::wire::FailShardsRequest* request, StatusResponse* response,
         std::function<void(grpc::Status)> done) {
        async->FailShards(context, request, response, std::move(done));
      },
      NotifyOnly(std::move(what)));
}

void GrpcWorkerClient::CancelRun(RunId run, absl::Status status) {
  if (!lost().ok()) return;  // nothing runs on a host that is gone
  pathways::wire::WorkerCancelRunRequest request;
  request.set_version(wire::kWireVersion);
  request.set_run(run.value());
  *request.mutable_status() = wire::ToProto(status);
  std::string what = absl::StrCat("CancelRun(", run.DebugString(), ")");
  StartAsync<pathways::wire::WorkerCancelRunRequest, StatusResponse>(
      std::move(request), options_.call_timeout,
      [](Async* async, grpc::ClientContext* context,
         const pathways::wire::WorkerCancelRunRequest* request, StatusResponse* response,
         std::function<void(grpc::Status)> done) {
        async->CancelRun(context, request, response, std::move(done));
      },
      NotifyOnly(std::move(what)));
}

std::function<void(const grpc::Status&, StatusResponse&)> GrpcWorkerClient::NotifyOnly(
    std::string what) const {
  return [this, what = std::move(what)](const grpc::Status& grpc_status, StatusResponse& response) {
    if (!grpc_status.ok()) {
      (void)CallFailed(grpc_status, what, /*deadline_means_lost=*/true);
    } else if (absl::Status s = wire::ResponseStatus(response); !s.ok()) {
      PW_LOG(WARNING) << what << " on " << peer_ << ": " << s;
    }
  };
}

HostStatus GrpcWorkerClient::Status() const {
  HostStatus unreachable;
  unreachable.host = options_.host;
  if (absl::Status lost = this->lost(); !lost.ok()) {
    unreachable.status = std::move(lost);
    return unreachable;
  }
  pathways::wire::HostStatusRequest request;
  request.set_version(wire::kWireVersion);
  pathways::wire::HostStatusResponse response;
  grpc::ClientContext context;
  context.set_deadline(grpc_transport::DeadlineIn(options_.status_timeout));
  if (!calls_->Begin(&context)) {
    unreachable.status = absl::UnavailableError(absl::StrCat(peer_, ": client closed"));
    return unreachable;
  }
  const grpc::Status status = stub_->Status(&context, request, &response);
  calls_->End(&context);
  if (!status.ok()) {
    absl::Status failed = CallFailed(status, "Status", /*deadline_means_lost=*/false);
    unreachable.status = absl::UnavailableError(absl::StrCat(
        peer_, " did not answer Status within ", absl::FormatDuration(options_.status_timeout),
        ": ", failed.message()));
    return unreachable;
  }
  absl::Status checked = wire::CheckVersion(response);
  if (checked.ok()) {
    absl::StatusOr<HostStatus> got = wire::FromProto(response.status());
    if (got.ok()) return *std::move(got);
    checked = got.status();
  }
  unreachable.status = absl::UnavailableError(
      absl::StrCat(peer_, " answered Status with a message this build cannot read: ",
                   checked.ToString()));
  return unreachable;
}

absl::Status GrpcWorkerClient::FetchTrace(TraceRecorder& into, absl::Duration timeout) const {
  PW_RETURN_IF_ERROR(lost());
  pathways::wire::TraceRequest request;
  request.set_version(wire::kWireVersion);
  pathways::wire::TraceResponse response;
  grpc::ClientContext context;
  context.set_deadline(grpc_transport::DeadlineIn(timeout));
  if (!calls_->Begin(&context)) return absl::CancelledError(absl::StrCat(peer_, ": client closed"));
  const grpc::Status status = stub_->Trace(&context, request, &response);
  calls_->End(&context);
  PW_RETURN_IF_ERROR(grpc_transport::CallStatus(status, response, "Trace", peer_));
  absl::Status merged = grpc_transport::MergeInto(response, into);
  return merged.ok() ? merged : Annotate(merged, absl::StrCat("Trace from ", peer_));
}

absl::Status GrpcWorkerClient::Shutdown(absl::Duration timeout) {
  PW_RETURN_IF_ERROR(lost());
  pathways::wire::ShutdownRequest request;
  request.set_version(wire::kWireVersion);
  StatusResponse response;
  grpc::ClientContext context;
  context.set_deadline(grpc_transport::DeadlineIn(timeout));
  if (!calls_->Begin(&context)) return absl::CancelledError(absl::StrCat(peer_, ": client closed"));
  const grpc::Status status = stub_->Shutdown(&context, request, &response);
  calls_->End(&context);
  return grpc_transport::CallStatus(status, response, "Shutdown", peer_);
}

void GrpcWorkerClient::MarkLost(absl::Status reason) {
  if (reason.ok()) reason = absl::UnavailableError(absl::StrCat(peer_, " lost"));
  CommandStream* stream = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (!lost_.ok()) return;
    lost_ = std::move(reason);
    failure_reported_ = true;  // whoever declared it lost knows
    closing_ = true;
    // The stream object stays until the destructor: its callbacks may still be running.
    stream = stream_.get();
  }
  if (stream != nullptr) stream->Cancel();  // outside the lock: callbacks may run inline
  calls_->CancelAll();
}

absl::Status GrpcWorkerClient::lost() const {
  absl::MutexLock lock(&mu_);
  return lost_;
}

uint64_t GrpcWorkerClient::last_seq() const {
  absl::MutexLock lock(&mu_);
  return next_seq_ - 1;
}

int64_t GrpcWorkerClient::programs_sent() const {
  absl::MutexLock lock(&mu_);
  return programs_sent_;
}

std::string GrpcWorkerClient::DebugString() const {
  absl::MutexLock lock(&mu_);
  return absl::StrCat("GrpcWorkerClient{", peer_, " seq=", next_seq_ - 1,
                      " programs=", programs_.size(), " sent=", programs_sent_,
                      " batches=", batches_written_, " in_flight=", calls_->in_flight(),
                      lost_.ok() ? "" : absl::StrCat(" lost: ", lost_.message()), "}");
}

}  // namespace pw
