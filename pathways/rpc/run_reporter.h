// RunReporter: a worker's RunObserver — sends HostRunResults to the controller in batches on one
// persistent stream (ControllerWorkers.ReportRuns), with at most one report being written.
#ifndef PATHWAYS_RPC_RUN_REPORTER_H_
#define PATHWAYS_RPC_RUN_REPORTER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "pathways/rpc/client_stream.h"
#include "pathways/rpc/services.grpc.pb.h"
#include "pathways/service/worker_service.h"

namespace pw {

// The first result goes out at once, on the calling thread (the stream is opened by the first
// report); results finishing while a report is being written wait and leave together in the
// next report, as soon as the first has left (op-by-op runs pay one one-way message per result,
// bursts one per batch). When the stream breaks (the controller unreachable, or it ended the
// stream refusing a report), the report being written and what waits are kept and sent again on
// a new stream at the next Flush (the heartbeat thread calls it). A report whose write completed
// has left this process but may still be lost with a stream that breaks before the controller
// reads it: the controller therefore loses a host whose report stream breaks (its runs fail with
// UNAVAILABLE naming it, and the worker joins again as a new host), so no run waits forever for
// a result that was lost.
//
// Threads: OnHostRunDone is called on device threads and only queues (it may start a write:
// gRPC's callback API does not block). Write completions arrive on gRPC callback threads.
class RunReporter final : public RunObserver {
 public:
  // Reports the results of `host` (named on every stream it opens, see kReportHostMetadata);
  // `controller_address` names the controller in errors.
  RunReporter(std::shared_ptr<grpc::Channel> channel, std::string controller_address, HostId host);
  // Stop().
  ~RunReporter() override;
  RunReporter(const RunReporter&) = delete;
  RunReporter& operator=(const RunReporter&) = delete;

  void OnHostRunDone(HostRunResult result) override;
  // Sends what waits, including a report that failed to reach the controller.
  void Flush();
  // Waits for the report being written, closes the stream (waiting up to a second for the
  // controller to read it to its end), then drops what is left (with a log line); later
  // results are dropped. Idempotent.
  void Stop();

  struct Stats {
    int64_t results = 0;   // results received
    int64_t reports = 0;   // reports written to the stream
    int64_t failures = 0;  // reports whose stream broke before they left
    int64_t streams = 0;   // streams opened
  };
  Stats stats() const;

 private:
  using ReportStream = grpc_transport::ClientStream<pathways::wire::RunDoneReport>;

  // Takes the waiting results into a report if none is being written (opening a stream if
  // there is none); write it with Write, outside the lock.
  std::unique_ptr<pathways::wire::RunDoneReport> TakeBatchLocked(bool* open)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Write(std::unique_ptr<pathways::wire::RunDoneReport> report, bool open);
  void OnWritten(bool ok);
  void OnStreamDone(int64_t generation, const grpc::Status& status);
  // The current stream is over: keep it (destroyed by Flush or Stop, never on its own callback
  // thread) and resend what it did not carry at the next Flush.
  void RetireStreamLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string controller_address_;
  const HostId host_;
  const std::string name_;
  std::unique_ptr<pathways::wire::ControllerWorkers::Stub> stub_;

  mutable absl::Mutex mu_;
  std::vector<HostRunResult> pending_ ABSL_GUARDED_BY(mu_);
  std::vector<HostRunResult> writing_ ABSL_GUARDED_BY(mu_);  // the report being written
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  // The stream broke: wait for Flush before trying again.
  bool retry_on_flush_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<ReportStream> stream_ ABSL_GUARDED_BY(mu_);
  int64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // of stream_
  std::vector<std::unique_ptr<ReportStream>> retired_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pw

#endif  // PATHWAYS_RPC_RUN_REPORTER_H_
