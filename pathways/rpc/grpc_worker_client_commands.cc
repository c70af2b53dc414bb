// GrpcWorkerClient: runs and releases batched on the Worker.Commands stream.
#include <utility>

#include "absl/strings/str_cat.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/rpc/grpc_worker_client.h"
#include "pathways/wire/wire_convert.h"

namespace pw {

bool GrpcWorkerClient::EnqueueLocked(const std::function<void(CommandBatch&)>& add,
                                     const QueuedRun* run) {
  if (!lost_.ok() || !stream_error_.ok()) return false;
  if (waiting_ == nullptr) {
    waiting_ = std::make_unique<CommandBatch>();
    waiting_->set_version(wire::kWireVersion);
  }
  add(*waiting_);
  if (run != nullptr) waiting_runs_.push_back(*run);  // read after `add` filled it in
  return true;
}

std::unique_ptr<GrpcWorkerClient::CommandBatch> GrpcWorkerClient::TakeBatchLocked(bool releases_too) {
  // A command that must not wait behind the releases (a fetch) makes them go with the next
  // batch taken, even when a write in flight keeps them now.
  if (releases_too) flush_releases_ = true;
  if (writing_ || broken_ || waiting_ == nullptr) return nullptr;
  if (!flush_releases_ && waiting_->runs_size() == 0 && runs_in_flight_ > 0) return nullptr;
  std::unique_ptr<CommandBatch> batch = std::move(waiting_);
  writing_runs_ = std::move(waiting_runs_);
  waiting_runs_.clear();
  // A queue longer than a batch may hold leaves in several batches, in order.
  const int size = batch->runs_size() + batch->releases_size();
  if (size > grpc_transport::kMaxCommandsPerBatch) {
    waiting_ = std::make_unique<CommandBatch>();
    waiting_->set_version(wire::kWireVersion);
    // Move whole commands from the back (highest seq) of each list to the next batch while it
    // holds too many; seq order within the stream is kept by the worker's sequencer anyway.
    int excess = size - grpc_transport::kMaxCommandsPerBatch;
    std::vector<pathways::wire::ReleaseRequest> releases;
    while (excess > 0 && batch->releases_size() > 0) {
      releases.push_back(std::move(*batch->mutable_releases()->Mutable(batch->releases_size() - 1)));
      batch->mutable_releases()->RemoveLast();
      --excess;
    }
    std::vector<pathways::wire::HostRunProto> runs;
    while (excess > 0) {
      runs.push_back(std::move(*batch->mutable_runs()->Mutable(batch->runs_size() - 1)));
      batch->mutable_runs()->RemoveLast();
      waiting_runs_.insert(waiting_runs_.begin(), writing_runs_.back());
      writing_runs_.pop_back();
      --excess;
    }
    for (auto it = runs.rbegin(); it != runs.rend(); ++it) *waiting_->add_runs() = std::move(*it);
    for (auto it = releases.rbegin(); it != releases.rend(); ++it) {
      *waiting_->add_releases() = std::move(*it);
    }
  }
  // A flush asked for goes on while what was split off waits (it may hold releases).
  if (waiting_ == nullptr) flush_releases_ = false;
  writing_ = true;
  return batch;
}

void GrpcWorkerClient::FlushReleases() {
  std::unique_ptr<CommandBatch> batch;
  bool open = false;
  {
    absl::MutexLock lock(&mu_);
    batch = TakeBatchOpeningLocked(&open, /*releases_too=*/true);
  }
  if (batch != nullptr) WriteBatch(std::move(batch), open);
}

std::unique_ptr<GrpcWorkerClient::CommandBatch> GrpcWorkerClient::TakeBatchOpeningLocked(
    bool* open, bool releases_too) {
  std::unique_ptr<CommandBatch> batch = TakeBatchLocked(releases_too);
  *open = batch != nullptr && stream_ == nullptr;
  if (*open) OpenStreamLocked();
  return batch;
}

void GrpcWorkerClient::WriteBatch(std::unique_ptr<CommandBatch> batch, bool open) {
  // stream_ is set before the first batch is taken and outlives every write (the destructor
  // waits for the call to end), so it is read here without the lock.
  CommandStream* stream = nullptr;
  {
    absl::MutexLock lock(&mu_);
    stream = stream_.get();
    ++batches_written_;
  }
  if (open) {
    stream->Start(std::move(batch));
  } else {
    stream->Write(std::move(batch));
  }
}

void GrpcWorkerClient::OnBatchWritten(bool ok) {
  std::unique_ptr<CommandBatch> next;
  std::vector<QueuedRun> failed;
  absl::Status error;
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (ok) {
      writing_runs_.clear();
      next = TakeBatchLocked();
    } else {
      // The call is over; its end (OnStreamDone, which always comes after) says why and fails
      // these runs with what waits. The batch may or may not have reached the worker; a host
      // whose stream broke is lost, and the controller fails its runs then anyway.
      broken_ = true;
      writing_runs_.insert(writing_runs_.end(), waiting_runs_.begin(), waiting_runs_.end());
      waiting_runs_ = std::move(writing_runs_);
      writing_runs_.clear();
      if (!stream_error_.ok()) {
        // The stream had ended before this write started (its end came first): fail them now.
        failed = std::move(waiting_runs_);
        waiting_runs_.clear();
        waiting_.reset();
        error = stream_error_;
      }
    }
  }
  if (next != nullptr) WriteBatch(std::move(next), /*open=*/false);
  FailQueuedRuns(std::move(failed), error);
}

void GrpcWorkerClient::OnStreamDone(const grpc::Status& grpc_status) {
  // Whatever ended it (the worker died or stopped, cancelling its calls; it refused a command,
  // naming it), what the stream did not carry never reached the host, and the host is unusable.
  absl::Status why = grpc_transport::FromGrpc(grpc_status, "Worker.Commands", peer_);
  if (why.ok()) {
    why = absl::UnavailableError(
        absl::StrCat("Worker.Commands to ", peer_, ": the worker ended the stream"));
  }
  absl::Status error = absl::UnavailableError(why.message());
  bool closing = false;
  std::vector<QueuedRun> failed;
  {
    absl::MutexLock lock(&mu_);
    closing = closing_;
    if (!lost_.ok()) error = lost_;
    if (stream_error_.ok()) stream_error_ = error;
    failed = std::move(waiting_runs_);
    waiting_runs_.clear();
    waiting_.reset();
  }
  if (!closing) ReportFailure(error);
  FailQueuedRuns(std::move(failed), error);
}

void GrpcWorkerClient::FailQueuedRuns(std::vector<QueuedRun> runs, const absl::Status& status) {
  if (options_.defer_releases_while_running && !runs.empty()) {
    absl::MutexLock lock(&mu_);  // never reported by the worker: no longer in flight
    runs_in_flight_ = std::max<int64_t>(0, runs_in_flight_ - static_cast<int64_t>(runs.size()));
  }
  for (const QueuedRun& run : runs) {
    if (run.with_program) ForgetProgram(run.lowered, run.key);
    FailRun(run.run, run.stage, status);
  }
}

int64_t GrpcWorkerClient::batches_written() const {
  absl::MutexLock lock(&mu_);
  return batches_written_;
}

}  // namespace pw
