// WorkerServiceImpl's Commands stream: the controller's batches of runs and releases, read one
// at a time and applied in order (see worker_service_impl.h for the contract).
#include <atomic>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/rpc/worker_service_impl.h"

namespace pw {

// Lives from the call's start until OnDone (self_ holds it; the service's set holds it too
// while the stream is open, so Stop can end it).
// The worker writes nothing back: the stream's end carries the status.
class WorkerServiceImpl::CommandReader final
    : public grpc::ServerBidiReactor<pathways::wire::WorkerCommandBatch,
                                     pathways::wire::StatusResponse>,
      public std::enable_shared_from_this<CommandReader> {
 public:
  explicit CommandReader(WorkerServiceImpl* service) : service_(service) {}

  void Begin() {
    self_ = shared_from_this();
    StartRead(&batch_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the controller closed its side, or the call broke
      End(absl::OkStatus());
      return;
    }
    // Calls that arrive before the backend wait for it; no read is started meanwhile, so
    // batches stay in order.
    service_->ready_->AndThen([self = shared_from_this()](const absl::Status& ready) {
      if (!ready.ok()) {
        self->End(ready);
        return;
      }
      absl::Status applied = self->service_->ApplyBatch(self->batch_);
      if (!applied.ok()) {
        self->End(applied);
        return;
      }
      self->StartRead(&self->batch_);
    });
  }

  // Ends the call with `status` (OK: an orderly end) unless it ended already.
  void End(const absl::Status& status) {
    if (ended_.exchange(true, std::memory_order_acq_rel)) return;
    Finish(grpc_transport::ToGrpc(status));
  }

  void OnDone() override {
    std::shared_ptr<CommandReader> keep = std::move(self_);  // released last: may free this
    absl::MutexLock lock(&service_->mu_);
    service_->streams_.erase(keep);
  }

 private:
  WorkerServiceImpl* const service_;
  pathways::wire::WorkerCommandBatch batch_;
  std::atomic<bool> ended_{false};
  std::shared_ptr<CommandReader> self_;
};

void WorkerServiceImpl::EndStreams(
    const absl::flat_hash_set<std::shared_ptr<CommandReader>>& streams,
    const absl::Status& reason) {
  for (const auto& stream : streams) stream->End(reason);
}

grpc::ServerBidiReactor<pathways::wire::WorkerCommandBatch, pathways::wire::StatusResponse>*
WorkerServiceImpl::Commands(grpc::CallbackServerContext* context) {
  auto reader = std::make_shared<CommandReader>(this);
  absl::Status refused =
      grpc_transport::NeedOperatorToken(context, options_.operator_token, "a worker's command");
  {
    absl::MutexLock lock(&mu_);
    if (refused.ok() && stopped_.has_value()) refused = *stopped_;
    if (refused.ok()) streams_.insert(reader);
  }
  reader->Begin();
  if (!refused.ok()) reader->End(refused);
  return reader.get();
}

}  // namespace pw
