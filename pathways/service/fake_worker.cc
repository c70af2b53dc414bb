// FakeWorker: records messages, replies on request or from its own thread.
#include "pathways/service/fake_worker.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "pathways/ir/serialization.h"

namespace pw {

FakeWorker::FakeWorker(HostId host, RunObserver* observer, Reply reply,
                       std::vector<DeviceId> devices)
    : host_(host), observer_(observer), reply_(reply), devices_(std::move(devices)) {
  if (reply_ == Reply::kAuto) thread_ = std::thread([this] { Loop(); });
}

FakeWorker::~FakeWorker() { StopReplying(); }

void FakeWorker::StopReplying() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

absl::Status FakeWorker::RegisterFunction(FunctionId id, const ir::Function& function) {
  const uint64_t fingerprint = ir::Fingerprint(function);
  absl::MutexLock lock(&mu_);
  registered_.push_back(id);
  auto [it, inserted] = fingerprints_.emplace(id, fingerprint);
  if (!inserted && it->second != fingerprint) {
    return absl::InvalidArgumentError(absl::StrCat(
        "RegisterFunction: ", id.DebugString(), " is bound to another function on ",
        host_.DebugString()));
  }
  return absl::OkStatus();
}

void FakeWorker::Run(HostRun run) {
  absl::MutexLock lock(&mu_);
  runs_.push_back(run);
  unanswered_.push_back(std::move(run));
}

absl::Status FakeWorker::PutShard(ArrayId array, int32_t shard, DeviceId device,
                                  const ir::Literal& data) {
  if (!devices_.empty() && std::find(devices_.begin(), devices_.end(), device) == devices_.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("PutShard: ", device.DebugString(), " is not on ", host_.DebugString()));
  }
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = shards_.emplace(std::make_pair(array.value(), shard), data);
  if (!inserted) return absl::AlreadyExistsError(absl::StrCat(array.DebugString(), " exists"));
  return absl::OkStatus();
}

AsyncValueRef<ir::Literal> FakeWorker::FetchShard(ArrayId array, int32_t shard) {
  auto out = MakeAsyncValue<ir::Literal>();
  absl::MutexLock lock(&mu_);
  for (const auto& [a, s, status] : failed_) {
    if (a == array && s == shard) {
      out->SetError(status);
      return out;
    }
  }
  auto it = shards_.find({array.value(), shard});
  if (it == shards_.end()) {
    out->SetError(absl::NotFoundError(absl::StrCat(array.DebugString(), " shard ", shard)));
  } else {
    out->SetValue(it->second);
  }
  return out;
}

void FakeWorker::Release(absl::Span<const ArrayId> arrays) {
  absl::MutexLock lock(&mu_);
  for (ArrayId id : arrays) {
    released_.push_back(id);
    for (auto it = shards_.begin(); it != shards_.end();) {
      it = it->first.first == id.value() ? shards_.erase(it) : std::next(it);
    }
  }
}

void FakeWorker::PeerLost(HostId peer, absl::Status reason) {
  absl::MutexLock lock(&mu_);
  peers_lost_.emplace_back(peer, std::move(reason));
}

void FakeWorker::FailShards(ArrayId array, absl::Span<const int32_t> shards, absl::Status status) {
  absl::MutexLock lock(&mu_);
  for (int32_t shard : shards) failed_.emplace_back(array, shard, status);
}

void FakeWorker::CancelRun(RunId run, absl::Status status) {
  absl::MutexLock lock(&mu_);
  cancelled_.emplace_back(run, std::move(status));
}

std::vector<std::pair<RunId, absl::Status>> FakeWorker::cancelled_runs() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

std::vector<std::tuple<ArrayId, int32_t, absl::Status>> FakeWorker::failed_shards() const {
  absl::MutexLock lock(&mu_);
  return failed_;
}

std::vector<std::pair<HostId, absl::Status>> FakeWorker::peers_lost() const {
  absl::MutexLock lock(&mu_);
  return peers_lost_;
}

HostStatus FakeWorker::Status() const {
  absl::MutexLock lock(&mu_);
  HostStatus status;
  status.host = host_;
  status.runs_received = static_cast<int64_t>(runs_.size());
  status.live_buffers = static_cast<int64_t>(shards_.size());
  return status;
}

HostRunResult FakeWorker::ResultFor(const HostRun& run) const {
  HostRunResult result;
  result.host = host_;
  result.run = run.run;
  result.stage = run.stage;
  for (const HostStep& step : run.program->steps) {
    if (step.kind != StepKind::kCompute) continue;
    for (int32_t slot : step.outputs) {
      const bool report = run.lowered->values[slot].is_program_output ||
                          run.mode == DispatchMode::kSequential;
      auto failing = failing_.find(slot);
      absl::Status status = failing == failing_.end() ? absl::OkStatus() : failing->second;
      if (!status.ok() && result.status.ok()) result.status = status;
      if (report) result.outputs.push_back({slot, step.shard, status});
    }
  }
  return result;
}

bool FakeWorker::ReplyOne() {
  HostRunResult result;
  {
    absl::MutexLock lock(&mu_);
    if (unanswered_.empty()) return false;
    result = ResultFor(unanswered_.front());
    unanswered_.pop_front();
  }
  observer_->OnHostRunDone(std::move(result));
  return true;
}

int FakeWorker::ReplyAll() {
  int n = 0;
  while (ReplyOne()) ++n;
  return n;
}

void FakeWorker::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](FakeWorker* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) {
            return w->stop_ || !w->unanswered_.empty();
          },
          this));
      if (stop_) return;
    }
    ReplyAll();
  }
}

void FakeWorker::FailValue(int32_t slot, absl::Status error) {
  absl::MutexLock lock(&mu_);
  failing_[slot] = std::move(error);
}

std::vector<HostRun> FakeWorker::runs() const {
  absl::MutexLock lock(&mu_);
  return runs_;
}

int64_t FakeWorker::unanswered() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(unanswered_.size());
}

std::vector<ArrayId> FakeWorker::released() const {
  absl::MutexLock lock(&mu_);
  return released_;
}

bool FakeWorker::WasReleased(ArrayId array) const {
  absl::MutexLock lock(&mu_);
  return std::find(released_.begin(), released_.end(), array) != released_.end();
}

std::vector<FunctionId> FakeWorker::registered() const {
  absl::MutexLock lock(&mu_);
  return registered_;
}

int64_t FakeWorker::stored_shards() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(shards_.size());
}

}  // namespace pw
