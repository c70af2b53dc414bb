// AsyncEvent implementation.
#include "pathways/base/async_value.h"

#include <cstdlib>

#include "pathways/base/spin_wait.h"

namespace pw {
namespace {
// Debian builds Abseil without NDEBUG, which turns on absl::Mutex deadlock detection: every lock
// and every mutex destruction then updates one process-wide graph behind a spin lock. Every
// AsyncEvent owns a mutex, so that bookkeeping dominated the runtime's hot path (a device stream
// item cost ~1.1 µs instead of ~0.2 µs). It is switched off when pw_base is loaded;
// PW_MUTEX_DEADLOCK_DETECTION=1 keeps it on for debugging lock order.
const bool kMutexDeadlockDetectionConfigured = [] {
  const char* env = std::getenv("PW_MUTEX_DEADLOCK_DETECTION");
  if (env == nullptr || env[0] != '1') {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  }
  return true;
}();
}  // namespace

EventRef AsyncEvent::CreateReady() {
  EventRef e = Create();
  e->SetReady();
  return e;
}

EventRef AsyncEvent::CreateError(absl::Status status) {
  EventRef e = Create();
  e->SetError(std::move(status));
  return e;
}

void AsyncEvent::SetError(absl::Status status) {
  PW_CHECK(!status.ok()) << "SetError with an OK status";
  SetStatus(std::move(status));
}

void AsyncEvent::SetStatus(absl::Status status) {
  std::vector<absl::AnyInvocable<void(const absl::Status&)>> callbacks;
  {
    absl::MutexLock lock(&mu_);
    PW_CHECK(!setting_) << "AsyncEvent made available twice (new status: " << status << ")";
    setting_ = true;
    status_ = std::move(status);
    state_.store(status_.ok() ? kReady : kError, std::memory_order_seq_cst);
    callbacks.swap(callbacks_);
  }
  // Dekker with Await: it counts itself in sleepers_ before it looks at state_ (both seq_cst),
  // so either it sees the new state or this load sees it.
  if (sleepers_.load(std::memory_order_seq_cst) != 0) state_.notify_all();
  for (auto& cb : callbacks) cb(status_);
}

void AsyncEvent::AndThen(absl::AnyInvocable<void(const absl::Status&)> callback) {
  if (!IsAvailable()) {
    absl::MutexLock lock(&mu_);
    if (!IsAvailable()) {
      callbacks_.push_back(std::move(callback));
      return;
    }
  }
  callback(status_);
}

const absl::Status& AsyncEvent::Await() const {
  // Bounded in time, not in iterations: when other threads are runnable each yield can hand
  // them the CPU, and a count of 2000 yields then burned milliseconds per wait on a 2-core
  // machine, time the device threads needed.
  SpinUntil(kAwaitSpinNanos, [this] { return IsAvailable(); });
  if (!IsAvailable()) {
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    while (state_.load(std::memory_order_seq_cst) == kUnavailable) {
      state_.wait(kUnavailable, std::memory_order_acquire);
    }
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
  }
  return status_;
}

namespace {
// Shared countdown for WhenAll.
struct JoinState {
  explicit JoinState(size_t n, EventRef out) : remaining(n), result(std::move(out)) {}
  std::atomic<size_t> remaining;
  absl::Mutex mu;
  absl::Status first_error ABSL_GUARDED_BY(mu);
  EventRef result;
};
}  // namespace

EventRef WhenAll(absl::Span<const EventRef> events) {
  bool all_ok_ready = true;
  for (const EventRef& e : events) {
    if (!e->IsAvailable() || e->IsError()) {
      all_ok_ready = false;
      break;
    }
  }
  if (all_ok_ready) return AsyncEvent::CreateReady();
  auto state = std::make_shared<JoinState>(events.size(), AsyncEvent::Create());
  EventRef out = state->result;
  for (const EventRef& e : events) {
    e->AndThen([state](const absl::Status& s) {
      if (!s.ok()) {
        absl::MutexLock lock(&state->mu);
        if (state->first_error.ok()) state->first_error = s;
      }
      if (state->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        absl::Status err;
        {
          absl::MutexLock lock(&state->mu);
          err = state->first_error;
        }
        state->result->SetStatus(std::move(err));
      }
    });
  }
  return out;
}

}  // namespace pw
