// RunReporter: batched run results on the ControllerWorkers.ReportRuns stream.
#include "pathways/rpc/run_reporter.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "pathways/base/logging.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/wire/wire_convert.h"

namespace pw {
namespace {
// How long Stop waits for the controller to read the stream to its end.
constexpr absl::Duration kCloseTimeout = absl::Seconds(1);
}  // namespace

RunReporter::RunReporter(std::shared_ptr<grpc::Channel> channel, std::string controller_address,
                         HostId host)
    : controller_address_(std::move(controller_address)), host_(host), name_(host.DebugString()),
      stub_(pathways::wire::ControllerWorkers::NewStub(std::move(channel))) {}

RunReporter::~RunReporter() { Stop(); }

void RunReporter::OnHostRunDone(HostRunResult result) {
  std::unique_ptr<pathways::wire::RunDoneReport> report;
  bool open = false;
  {
    absl::MutexLock lock(&mu_);
    ++stats_.results;
    if (stopped_) {
      PW_LOG(WARNING) << name_ << ": dropping the result of " << result.run
                      << " (stopped): " << result.status;
      return;
    }
    pending_.push_back(std::move(result));
    report = TakeBatchLocked(&open);
  }
  if (report != nullptr) Write(std::move(report), open);
}

void RunReporter::Flush() {
  std::unique_ptr<pathways::wire::RunDoneReport> report;
  bool open = false;
  std::vector<std::unique_ptr<ReportStream>> retired;
  {
    absl::MutexLock lock(&mu_);
    retry_on_flush_ = false;
    retired.swap(retired_);
    report = TakeBatchLocked(&open);
  }
  retired.clear();  // outside the lock: each waits for its stream's end
  if (report != nullptr) Write(std::move(report), open);
}

std::unique_ptr<pathways::wire::RunDoneReport> RunReporter::TakeBatchLocked(bool* open) {
  if (in_flight_ || retry_on_flush_ || stopped_ || pending_.empty()) return nullptr;
  in_flight_ = true;
  writing_.swap(pending_);
  *open = stream_ == nullptr;
  if (*open) {
    const int64_t generation = ++generation_;
    ++stats_.streams;
    stream_ = std::make_unique<ReportStream>(
        [this](grpc::ClientContext* context, ReportStream* reactor) {
          context->AddMetadata(grpc_transport::kReportHostMetadata, absl::StrCat(host_.value()));
          stub_->async()->ReportRuns(context, reactor);
        },
        ReportStream::Callbacks{.on_write_done = [this](bool ok) { OnWritten(ok); },
                                .on_done = [this, generation](const grpc::Status& status) {
                                  OnStreamDone(generation, status);
                                }});
  }
  return std::make_unique<pathways::wire::RunDoneReport>(wire::ToRunDoneReport(writing_));
}

void RunReporter::Write(std::unique_ptr<pathways::wire::RunDoneReport> report, bool open) {
  ReportStream* stream = nullptr;
  {
    // While a report is in flight the stream stays (it is retired only by its completion).
    absl::MutexLock lock(&mu_);
    stream = stream_.get();
  }
  if (open) {
    stream->Start(std::move(report));
  } else {
    stream->Write(std::move(report));
  }
}

void RunReporter::OnWritten(bool ok) {
  std::unique_ptr<pathways::wire::RunDoneReport> next;
  bool open = false;
  {
    absl::MutexLock lock(&mu_);
    in_flight_ = false;
    if (ok) {
      ++stats_.reports;
      writing_.clear();
      next = TakeBatchLocked(&open);
    } else {
      ++stats_.failures;
      PW_LOG(WARNING) << name_ << ": reporting " << writing_.size() << " run result(s) to "
                      << controller_address_ << ": the stream broke (will retry)";
      RetireStreamLocked();
    }
  }
  if (next != nullptr) Write(std::move(next), open);
}

void RunReporter::OnStreamDone(int64_t generation, const grpc::Status& status) {
  absl::MutexLock lock(&mu_);
  if (!stopped_ && !status.ok()) {
    PW_LOG(WARNING) << name_ << ": the report stream to " << controller_address_ << " ended: "
                    << grpc_transport::FromGrpc(status, "ReportRuns", controller_address_);
  }
  if (generation != generation_ || stream_ == nullptr) return;  // retired already
  // A report about to be written finds the stream ended and retires it (OnWritten(false)).
  if (in_flight_) return;
  RetireStreamLocked();
}

void RunReporter::RetireStreamLocked() {
  if (!writing_.empty()) {
    // Not known to have left: keep the results, ahead of newer ones, for the next Flush.
    writing_.insert(writing_.end(), std::make_move_iterator(pending_.begin()),
                    std::make_move_iterator(pending_.end()));
    pending_ = std::move(writing_);
    writing_.clear();
  }
  if (stream_ != nullptr) retired_.push_back(std::move(stream_));
  retry_on_flush_ = true;
}

void RunReporter::Stop() {
  std::unique_ptr<ReportStream> stream;
  std::vector<std::unique_ptr<ReportStream>> retired;
  {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    mu_.Await(absl::Condition(
        +[](bool* in_flight) { return !*in_flight; }, &in_flight_));
    stream = std::move(stream_);
    retired.swap(retired_);
    if (!pending_.empty()) {
      PW_LOG(WARNING) << name_ << ": " << pending_.size()
                      << " run result(s) not reported to the controller at "
                      << controller_address_;
      pending_.clear();
    }
  }
  if (stream != nullptr) {
    stream->Close();
    if (!stream->WaitDoneFor(kCloseTimeout)) stream->Cancel();
  }
  for (auto& r : retired) r->Cancel();
  // Destroyed outside the lock: each waits for its stream's end, whose callback takes it.
}

RunReporter::Stats RunReporter::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace pw
