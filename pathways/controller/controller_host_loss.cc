// Controller: losing a host — the gangs it is in, and its removal (RemoveWorker).
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"
#include "pathways/controller/controller.h"
#include "pathways/controller/run_state.h"

namespace pw {

std::vector<Controller::InFlightGang> Controller::InFlightGangs(HostId host) const {
  std::vector<std::shared_ptr<RunState>> runs;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, run] : runs_) runs.push_back(run);
  }
  std::vector<InFlightGang> gangs;
  for (const auto& run : runs) {
    auto part = run->lowered->hosts.find(host);
    if (part == run->lowered->hosts.end()) continue;
    for (const HostStep& step : part->second->steps) {
      // A gang of one has no peer to wait for.
      if (step.kind == StepKind::kCompute && step.num_shards > 1) {
        gangs.push_back(InFlightGang{GangId(run->gang_base + step.node), step.num_shards});
      }
    }
  }
  auto by_gang = [](const InFlightGang& a, const InFlightGang& b) { return a.gang < b.gang; };
  std::sort(gangs.begin(), gangs.end(), by_gang);
  gangs.erase(std::unique(gangs.begin(), gangs.end(),
                          [](const InFlightGang& a, const InFlightGang& b) { return a.gang == b.gang; }),
              gangs.end());
  return gangs;
}

absl::Status Controller::RemoveWorker(HostId host, absl::Status reason) {
  const absl::Status lost = absl::UnavailableError(
      absl::StrCat(host.DebugString(), " was removed",
                   reason.ok() ? "" : absl::StrCat(": ", reason.message())));
  std::vector<std::shared_ptr<RunState>> runs;
  {
    absl::MutexLock lock(&mu_);
    if (workers_.erase(host) == 0) {
      return absl::NotFoundError(absl::StrCat("RemoveWorker: unknown ", host.DebugString()));
    }
    for (const auto& [id, run] : runs_) runs.push_back(run);
  }
  // The other hosts stop waiting for shards the lost one was going to push. Workers are called
  // on the work thread, looked up when the task runs: one removed meanwhile is skipped, and its
  // own RemoveWorker waits (Quiesce) for a task that found it before it left.
  work_.Post([this, host, reason] {
    std::vector<WorkerService*> survivors;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [id, record] : workers_) survivors.push_back(record.worker);
    }
    for (WorkerService* worker : survivors) worker->PeerLost(host, reason);
  });
  for (const auto& record : arrays_.All()) {
    if (record->OnHost(host)) record->Fail(lost);
  }
  for (const auto& run : runs) {
    for (const auto& out : run->outputs) {
      if (out->OnHost(host)) out->Fail(lost);
    }
    HostRunResult failed;
    failed.host = host;
    failed.run = run->id;
    failed.status = lost;
    {
      absl::MutexLock lock(&run->mu);
      failed.stage = run->stage;
    }
    HandleReport(run, std::move(failed));  // ignored unless the run waits for this host
  }
  absl::Status removed;
  if (resources_->GetHost(host).ok()) removed = resources_->RemoveHost(host, lost);
  // Work already queued may still hold the worker (a release, a fetch, a dispatch).
  work_.Quiesce();
  return removed;
}

}  // namespace pw
