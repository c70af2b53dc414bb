// AsyncEvent and AsyncValue<T>: one-shot futures that become ready with a value or an error.
//
// They are the currency of the runtime: device work waits on events, dataflow nodes consume and
// produce them, and an error set on one travels to everything that waits on it (a node whose
// input is an error does not run and passes the error on).
#ifndef PATHWAYS_BASE_ASYNC_VALUE_H_
#define PATHWAYS_BASE_ASYNC_VALUE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "pathways/base/logging.h"

namespace pw {

class AsyncEvent;
using EventRef = std::shared_ptr<AsyncEvent>;

// A one-shot event: unavailable, then ready (OK) or failed (an error status), never both and
// never twice. Thread-safe. Callbacks registered with AndThen run exactly once, either inline
// in AndThen (when already available) or on the thread that makes the event available; they
// must therefore be short, and hand heavy work to an executor of their own.
class AsyncEvent {
 public:
  AsyncEvent() = default;
  AsyncEvent(const AsyncEvent&) = delete;
  AsyncEvent& operator=(const AsyncEvent&) = delete;
  virtual ~AsyncEvent() = default;

  static EventRef Create() { return std::make_shared<AsyncEvent>(); }
  static EventRef CreateReady();
  static EventRef CreateError(absl::Status status);

  bool IsAvailable() const { return state_.load(std::memory_order_acquire) != kUnavailable; }
  bool IsError() const { return state_.load(std::memory_order_acquire) == kError; }

  // The final status. Requires IsAvailable().
  const absl::Status& status() const {
    PW_CHECK(IsAvailable()) << "status() of an unavailable event";
    return status_;
  }

  // Makes the event ready. Checks that it was not available before.
  void SetReady() { SetStatus(absl::OkStatus()); }
  // Makes the event failed with `status` (must not be OK).
  void SetError(absl::Status status);
  // SetReady for OK, SetError otherwise.
  void SetStatus(absl::Status status);

  // Runs `callback(status)` once the event is available (inline if it already is).
  void AndThen(absl::AnyInvocable<void(const absl::Status&)> callback);

  // Blocks the calling thread until available; polls for up to kAwaitSpinNanos first, since
  // waking a sleeping thread costs tens of microseconds on small machines. Returns the final
  // status.
  const absl::Status& Await() const;
  static constexpr int64_t kAwaitSpinNanos = 20'000;

 private:
  enum State : uint32_t { kUnavailable = 0, kReady = 1, kError = 2 };
  std::atomic<uint32_t> state_{kUnavailable};
  // Threads blocked (or about to block) in Await: SetStatus makes the futex wake-up system call
  // only when there are some (most events are only ever waited on by callbacks).
  mutable std::atomic<uint32_t> sleepers_{0};
  absl::Status status_;  // written once before state_ leaves kUnavailable
  absl::Mutex mu_;
  bool setting_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<absl::AnyInvocable<void(const absl::Status&)>> callbacks_ ABSL_GUARDED_BY(mu_);
};

// Returns an event that becomes available when all `events` are. It fails with the error of the
// first input to fail, if any does; an empty span gives a ready event.
EventRef WhenAll(absl::Span<const EventRef> events);

// An AsyncEvent that also carries a value of type T once ready.
template <typename T>
class AsyncValue : public AsyncEvent {
 public:
  // Stores the value and makes the event ready.
  void SetValue(T value) {
    value_.emplace(std::move(value));
    SetReady();
  }
  // Requires IsAvailable() && !IsError().
  const T& value() const {
    PW_CHECK(IsAvailable() && !IsError()) << "value() of an unavailable or failed AsyncValue";
    return *value_;
  }
  T& mutable_value() {
    PW_CHECK(IsAvailable() && !IsError()) << "value() of an unavailable or failed AsyncValue";
    return *value_;
  }
  // Blocks until available, then returns the value or the error.
  absl::StatusOr<T> AwaitValue() const {
    const absl::Status& s = Await();
    if (!s.ok()) return s;
    return *value_;
  }

 private:
  std::optional<T> value_;
};

template <typename T>
using AsyncValueRef = std::shared_ptr<AsyncValue<T>>;

template <typename T>
AsyncValueRef<T> MakeAsyncValue() {
  return std::make_shared<AsyncValue<T>>();
}

}  // namespace pw

#endif  // PATHWAYS_BASE_ASYNC_VALUE_H_
