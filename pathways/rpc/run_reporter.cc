// RunReporter: batched ReportRunDone calls.
#include "pathways/rpc/run_reporter.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "pathways/base/logging.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/wire/wire_convert.h"

namespace pw {

struct RunReporter::Call {
  grpc::ClientContext context;
  pathways::wire::RunDoneReport request;
  pathways::wire::StatusResponse response;
  std::vector<HostRunResult> results;  // kept to resend if the controller was unreachable
};

RunReporter::RunReporter(std::shared_ptr<grpc::Channel> channel, std::string controller_address,
                         std::string name)
    : controller_address_(std::move(controller_address)), name_(std::move(name)),
      stub_(pathways::wire::ControllerWorkers::NewStub(std::move(channel))) {}

RunReporter::~RunReporter() { Stop(); }

void RunReporter::OnHostRunDone(HostRunResult result) {
  std::unique_ptr<Call> call;
  {
    absl::MutexLock lock(&mu_);
    ++stats_.results;
    if (stopped_) {
      PW_LOG(WARNING) << name_ << ": dropping the result of " << result.run
                      << " (stopped): " << result.status;
      return;
    }
    pending_.push_back(std::move(result));
    call = TakeBatchLocked();
  }
  if (call != nullptr) Send(std::move(call));
}

void RunReporter::Flush() {
  std::unique_ptr<Call> call;
  {
    absl::MutexLock lock(&mu_);
    retry_on_flush_ = false;
    call = TakeBatchLocked();
  }
  if (call != nullptr) Send(std::move(call));
}

std::unique_ptr<RunReporter::Call> RunReporter::TakeBatchLocked() {
  if (in_flight_ || retry_on_flush_ || stopped_ || pending_.empty()) return nullptr;
  in_flight_ = true;
  auto call = std::make_unique<Call>();
  call->results.swap(pending_);
  return call;
}

void RunReporter::Send(std::unique_ptr<Call> call) {
  call->request = wire::ToRunDoneReport(call->results);
  call->context.set_deadline(absl::ToChronoTime(absl::Now() + kReportTimeout));
  Call* raw = call.release();
  stub_->async()->ReportRunDone(&raw->context, &raw->request, &raw->response,
                                [this, raw](grpc::Status status) { Done(raw, status); });
}

void RunReporter::Done(Call* raw, const grpc::Status& grpc_status) {
  std::unique_ptr<Call> call(raw);
  const absl::Status status = grpc_transport::CallStatus(grpc_status, call->response,
                                                         "ReportRunDone", controller_address_);
  const int reported = call->request.results_size();
  std::vector<HostRunResult> undelivered;
  if (!grpc_status.ok()) undelivered = std::move(call->results);
  // The call (its context holds a channel reference) goes before Stop can return: the
  // channel's last reference must not be dropped on this gRPC callback thread.
  call.reset();
  std::unique_ptr<Call> next;
  {
    absl::MutexLock lock(&mu_);
    in_flight_ = false;
    if (status.ok()) {
      ++stats_.reports;
    } else {
      ++stats_.failures;
      if (!undelivered.empty() && !stopped_) {
        // Not delivered: keep the results, ahead of newer ones, for the next Flush.
        undelivered.insert(undelivered.end(), std::make_move_iterator(pending_.begin()),
                           std::make_move_iterator(pending_.end()));
        pending_ = std::move(undelivered);
        retry_on_flush_ = true;
      }
      // Under the lock: once in_flight_ is false, Stop may return and the reporter go away.
      PW_LOG(WARNING) << name_ << ": reporting " << reported << " run result(s): " << status
                      << (grpc_status.ok() ? " (dropped)" : " (will retry)");
    }
    next = TakeBatchLocked();
  }
  if (next != nullptr) Send(std::move(next));
}

void RunReporter::Stop() {
  absl::MutexLock lock(&mu_);
  stopped_ = true;
  mu_.Await(absl::Condition(
      +[](bool* in_flight) { return !*in_flight; }, &in_flight_));
  if (!pending_.empty()) {
    PW_LOG(WARNING) << name_ << ": " << pending_.size()
                    << " run result(s) not reported to the controller at " << controller_address_;
    pending_.clear();
  }
}

RunReporter::Stats RunReporter::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace pw
