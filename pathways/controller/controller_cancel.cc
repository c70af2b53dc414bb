// Controller: cancelling a run, by its client (CancelRun) or when its deadline passes.
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"
#include "pathways/controller/controller.h"
#include "pathways/controller/run_state.h"

namespace pw {

absl::Status Controller::CancelRun(ClientId client, RunId run_id) {
  const auto not_found = [&] {
    return absl::NotFoundError(absl::StrCat("CancelRun: ", run_id.DebugString(),
                                            " is unknown, finished or not a run of ",
                                            client.DebugString()));
  };
  std::shared_ptr<RunState> run;
  {
    absl::MutexLock lock(&mu_);
    PW_RETURN_IF_ERROR(CheckClientLocked(client));
    auto it = runs_.find(run_id);
    if (it == runs_.end() || it->second->client != client || it->second->holder.valid()) {
      return not_found();
    }
    run = it->second;
  }
  {
    absl::MutexLock lock(&run->mu);
    if (run->finished || run->all_reported) return not_found();  // outputs resolved or resolving
  }
  CancelRunWith(run, absl::CancelledError(
                         absl::StrCat(run_id.DebugString(), " was cancelled by its client")));
  return absl::OkStatus();
}

void Controller::CancelRunWith(const std::shared_ptr<RunState>& run, absl::Status status) {
  {
    absl::MutexLock lock(&run->mu);
    if (run->finished) return;
    // The run ends failed even if its hosts finished before they heard (its outputs did fail).
    if (run->first_error.ok()) run->first_error = status;
  }
  PW_LOG(INFO) << status;
  for (const auto& out : run->outputs) out->Fail(status);
  // Hosts drop the run's work: looked up when the task runs, like every call to a worker.
  work_.Post([this, run, status = std::move(status)] {
    std::vector<WorkerService*> hosts;
    {
      absl::MutexLock lock(&mu_);
      for (const HostTarget& target : run->targets) {
        auto it = workers_.find(target.host);
        if (it != workers_.end()) hosts.push_back(it->second.worker);
      }
    }
    for (WorkerService* worker : hosts) worker->CancelRun(run->id, status);
  });
}

void Controller::ArmDeadline(const std::shared_ptr<RunState>& run, absl::Time deadline,
                             const std::string& program) {
  if (deadline == absl::InfiniteFuture()) return;
  std::weak_ptr<RunState> weak = run;
  run->deadline_timer = deadlines_.Schedule(deadline, [this, weak, deadline, program] {
    std::shared_ptr<RunState> live = weak.lock();
    if (live == nullptr) return;
    CancelRunWith(live, absl::DeadlineExceededError(absl::StrCat(
                            live->id.DebugString(), " of program '", program,
                            "' missed its deadline (", absl::FormatTime(deadline), ")")));
  });
}

}  // namespace pw
