// FakeWorker and IR helpers for the controller tests.
#include "pathways/controller/controller_test_util.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "pathways/base/logging.h"
#include "pathways/ir/builder.h"

namespace pw::controller_testing {

FakeWorker::FakeWorker(HostId host, RunObserver* observer, Reply reply)
    : host_(host), observer_(observer), reply_(reply) {
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
  absl::MutexLock lock(&mu_);
  registered_.push_back(id);
  return absl::OkStatus();
}

void FakeWorker::Run(HostRun run) {
  absl::MutexLock lock(&mu_);
  runs_.push_back(run);
  unanswered_.push_back(std::move(run));
}

absl::Status FakeWorker::PutShard(ArrayId array, int32_t shard, DeviceId device,
                                  const ir::Literal& data) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = shards_.emplace(std::make_pair(array.value(), shard), data);
  if (!inserted) return absl::AlreadyExistsError(absl::StrCat(array.DebugString(), " exists"));
  return absl::OkStatus();
}

AsyncValueRef<ir::Literal> FakeWorker::FetchShard(ArrayId array, int32_t shard) {
  auto out = MakeAsyncValue<ir::Literal>();
  absl::MutexLock lock(&mu_);
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

bool WaitUntil(const std::function<bool()>& done, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return done();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

ir::TensorType F32(std::initializer_list<int64_t> dims) {
  return ir::TensorType{ir::DType::kF32, ir::Shape(dims)};
}

ir::Function ElementwiseFunction(std::string name, Arith op, float c, int64_t num_shards,
                                 int64_t n) {
  ir::FunctionBuilder b(name, ir::FunctionOptions{num_shards});
  ir::Value x = b.Parameter(ir::TensorType{ir::DType::kF32, ir::Shape({n})}, "x");
  ir::Value k = b.ScalarLike(ir::DType::kF32, c);
  ir::Value y = op == Arith::kMul ? b.Multiply(x, k) : op == Arith::kAdd ? b.Add(x, k) : b.Divide(x, k);
  absl::StatusOr<ir::Function> f = b.Build({y});
  PW_CHECK(f.ok()) << f.status();
  return *std::move(f);
}

ir::Literal Vec(std::vector<float> values) {
  absl::StatusOr<ir::Literal> l = ir::Literal::Create<float>(
      ir::Shape({static_cast<int64_t>(values.size())}), absl::MakeConstSpan(values));
  PW_CHECK(l.ok()) << l.status();
  return *std::move(l);
}

std::vector<float> Values(const ir::Literal& literal) {
  std::vector<float> out(literal.num_elements());
  std::memcpy(out.data(), literal.untyped_data(), out.size() * sizeof(float));
  return out;
}

}  // namespace pw::controller_testing
