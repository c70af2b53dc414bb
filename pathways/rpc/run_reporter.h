// RunReporter: a worker's RunObserver — sends HostRunResults to the controller
// (ControllerWorkers.ReportRunDone) in batches, with at most one report in flight.
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
#include "pathways/rpc/services.grpc.pb.h"
#include "pathways/service/worker_service.h"

namespace pw {

// The first result goes out at once; results finishing while a report is in flight wait and
// leave together in the next report, as soon as the first is answered (op-by-op runs pay one
// round trip per result, bursts one per batch). A report the controller could not be reached
// for is kept and sent again on Flush (the heartbeat thread calls it); a report the controller
// answered with an error is dropped with a log line (resending would fail the same way).
//
// Threads: OnHostRunDone is called on device threads and only queues (it may start the call:
// gRPC's callback API does not block). Answers arrive on gRPC callback threads.
class RunReporter final : public RunObserver {
 public:
  // `name` names the host in logs; `controller_address` names the controller in errors.
  RunReporter(std::shared_ptr<grpc::Channel> channel, std::string controller_address,
              std::string name);
  // Stop().
  ~RunReporter() override;
  RunReporter(const RunReporter&) = delete;
  RunReporter& operator=(const RunReporter&) = delete;

  void OnHostRunDone(HostRunResult result) override;
  // Sends what waits, including a report that failed to reach the controller.
  void Flush();
  // Waits for the report in flight, then drops what is left (with a log line); later results
  // are dropped. Idempotent.
  void Stop();

  struct Stats {
    int64_t results = 0;   // results received
    int64_t reports = 0;   // ReportRunDone calls answered OK
    int64_t failures = 0;  // calls that failed (unreachable controller or an error answer)
  };
  Stats stats() const;

 private:
  // Bounds one report; a controller that takes longer is treated as unreachable.
  static constexpr absl::Duration kReportTimeout = absl::Seconds(10);
  struct Call;

  // Takes the waiting results into a call if none is in flight; start it with Send, outside
  // the lock (a failing call may answer inline).
  std::unique_ptr<Call> TakeBatchLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Send(std::unique_ptr<Call> call);
  void Done(Call* call, const grpc::Status& status);

  const std::string controller_address_;
  const std::string name_;
  std::unique_ptr<pathways::wire::ControllerWorkers::Stub> stub_;

  mutable absl::Mutex mu_;
  std::vector<HostRunResult> pending_ ABSL_GUARDED_BY(mu_);
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  // A report failed to reach the controller: wait for Flush before trying again.
  bool retry_on_flush_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pw

#endif  // PATHWAYS_RPC_RUN_REPORTER_H_
