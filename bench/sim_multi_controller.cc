// The callback-driven multi-controller baseline on simulated devices.
#include "bench/sim_multi_controller.h"

#include <algorithm>
#include <atomic>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "pathways/base/clock.h"

namespace pw::bench {
namespace {

// One host's loop. Lives until every unit it started has finished.
class HostLoop : public std::enable_shared_from_this<HostLoop> {
 public:
  struct Shared {
    Fig5Mode mode;
    WorkCost step, fused;
    int64_t deadline = 0;
    absl::Mutex mu;
    int64_t hosts_running ABSL_GUARDED_BY(mu) = 0;
    absl::Status error ABSL_GUARDED_BY(mu);
  };

  HostLoop(std::shared_ptr<Shared> shared, std::vector<Device*> devices)
      : shared_(std::move(shared)), devices_(std::move(devices)) {}

  void Start() {
    const int units = shared_->mode == Fig5Mode::kOpByOp ? 1 : 2;
    in_flight_.store(units);
    for (int i = 0; i < units; ++i) StartUnit();
  }
  int64_t computations() const { return units_done_.load() * UnitComputations(); }

 private:
  int64_t UnitComputations() const { return shared_->mode == Fig5Mode::kOpByOp ? 1 : kRound; }

  void StartUnit() {
    auto remaining = std::make_shared<std::atomic<int64_t>>(static_cast<int64_t>(devices_.size()));
    for (Device* d : devices_) {
      EventRef last;
      const int64_t kernels = shared_->mode == Fig5Mode::kChained ? kRound : 1;
      for (int64_t k = 0; k < kernels; ++k) {
        last = d->Enqueue(StreamWork{
            .name = "step", .fn = [] { return absl::OkStatus(); },
            .cost = shared_->mode == Fig5Mode::kFused ? shared_->fused : shared_->step});
      }
      last->AndThen([self = shared_from_this(), remaining](const absl::Status& s) {
        if (!s.ok()) {
          absl::MutexLock lock(&self->shared_->mu);
          if (self->shared_->error.ok()) self->shared_->error = s;
        }
        if (remaining->fetch_sub(1) == 1) self->UnitDone(s.ok());
      });
    }
  }

  void UnitDone(bool ok) {
    if (ok) units_done_.fetch_add(1);
    if (ok && MonotonicNanos() < shared_->deadline) {
      StartUnit();
      return;
    }
    if (in_flight_.fetch_sub(1) == 1) {
      absl::MutexLock lock(&shared_->mu);
      --shared_->hosts_running;
    }
  }

  std::shared_ptr<Shared> shared_;
  const std::vector<Device*> devices_;
  std::atomic<int64_t> units_done_{0};
  std::atomic<int> in_flight_{0};
};

}  // namespace

absl::StatusOr<SimMultiControllerResult> RunSimMultiController(
    const std::vector<std::vector<Device*>>& hosts, Fig5Mode mode, const WorkCost& step,
    const WorkCost& fused, double target_seconds) {
  if (hosts.empty()) return absl::InvalidArgumentError("the baseline needs at least one host");
  int64_t devices = 0;
  for (size_t h = 0; h < hosts.size(); ++h) {
    if (hosts[h].empty()) return absl::InvalidArgumentError(absl::StrCat("host ", h, " has no devices"));
    devices += static_cast<int64_t>(hosts[h].size());
  }
  auto shared = std::make_shared<HostLoop::Shared>();
  shared->mode = mode;
  shared->step = step;
  shared->fused = fused;
  int64_t busy0 = 0;
  for (const auto& h : hosts) {
    for (Device* d : h) busy0 += d->busy_nanos();
  }
  const int64_t t0 = MonotonicNanos();
  shared->deadline = t0 + static_cast<int64_t>(target_seconds * 1e9);
  std::vector<std::shared_ptr<HostLoop>> loops;
  {
    absl::MutexLock lock(&shared->mu);
    shared->hosts_running = static_cast<int64_t>(hosts.size());
  }
  for (const auto& h : hosts) loops.push_back(std::make_shared<HostLoop>(shared, h));
  for (auto& loop : loops) loop->Start();
  {
    absl::MutexLock lock(&shared->mu);
    shared->mu.Await(absl::Condition(
        +[](int64_t* n) { return *n == 0; }, &shared->hosts_running));
    if (!shared->error.ok()) return shared->error;
  }
  SimMultiControllerResult result;
  result.elapsed_nanos = MonotonicNanos() - t0;
  result.computations = loops[0]->computations();
  for (const auto& loop : loops) result.computations = std::min(result.computations, loop->computations());
  if (result.computations == 0) {
    return absl::DeadlineExceededError(absl::StrCat(
        "the baseline completed no computation on every host within ", target_seconds,
        " s: the sample is too short for the modelled kernel"));
  }
  int64_t busy1 = 0;
  for (const auto& h : hosts) {
    for (Device* d : h) busy1 += d->busy_nanos();
  }
  result.utilization = static_cast<double>(busy1 - busy0) /
                       (static_cast<double>(result.elapsed_nanos) * static_cast<double>(devices));
  return result;
}

}  // namespace pw::bench
