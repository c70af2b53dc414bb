// ThreadSanitizer and Debian's Abseil (make test-tsan; linked into every executable of a
// -DPW_TSAN=ON build, never into any other).
//
// Debian ships Abseil compiled without -fsanitize=thread, so absl::Mutex, absl::CondVar and
// absl::Notification synchronize in code ThreadSanitizer does not see: every access guarded by
// one would be reported as a race. Rebuilding Abseil is not enough on its own (gRPC and
// protobuf from Debian link the system copy), so instead this file interposes the public entry
// points of those classes: each definition here takes precedence over the shared library's for
// every caller in the process (calls inside libabsl_synchronization go through its PLT too),
// calls the library's own function (dlsym(RTLD_NEXT)), and tells ThreadSanitizer what happened
// with its annotation interface: an acquire of the mutex's address after every lock or wait
// that returns holding it, a release before every unlock or wait that gives it up. A thread
// waiting for a Condition evaluates it inside the library while it holds the mutex, before the
// wait returns: Condition::Eval is interposed too and acquires the mutex the thread waits on.
// Races in our code are reported as usual; lock-order (deadlock) reports are not made for
// these mutexes, and Abseil's own deadlock detection is off (as the runtime turns it off too:
// its graph lives in uninstrumented code).
// The names it looks up are the Itanium-mangled names of Abseil 20220623 in the inline
// namespace the headers configure (ABSL_OPTION_INLINE_NAMESPACE_NAME).
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/base/options.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace {

#define PW_TSAN_STR2(x) #x
#define PW_TSAN_STR(x) PW_TSAN_STR2(x)

// The library's definition of the function whose mangled name, after "_ZN[K]4absl<ns>", is
// `suffix`.
void* Real(const char* suffix, bool is_const = false) {
  const std::string ns = PW_TSAN_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const std::string name = std::string(is_const ? "_ZNK4absl" : "_ZN4absl") +
                           std::to_string(ns.size()) + ns + suffix;
  void* fn = dlsym(RTLD_NEXT, name.c_str());
  if (fn == nullptr) {
    std::fprintf(stderr, "tsan annotations: %s not found in Abseil: %s\n", name.c_str(), dlerror());
    std::abort();
  }
  return fn;
}

template <typename Fn>
Fn Lookup(const char* suffix, bool is_const = false) {
  return reinterpret_cast<Fn>(Real(suffix, is_const));
}

// Where Notification keeps its flag (the header reads it inline, in instrumented code).
struct NotificationLayout {
  absl::Mutex mutex;
  std::atomic<bool> notified;
};
static_assert(sizeof(NotificationLayout) == sizeof(absl::Notification),
              "absl::Notification's layout changed; update NotificationLayout");

// The mutex this thread is locking, awaiting or unlocking inside the library, for
// Condition::Eval: the library evaluates conditions while that mutex is held, in the waiter or
// in the thread unlocking it.
thread_local const absl::Mutex* in_library = nullptr;

class InLibrary {
 public:
  explicit InLibrary(const absl::Mutex* mu) : previous_(in_library) { in_library = mu; }
  ~InLibrary() { in_library = previous_; }

 private:
  const absl::Mutex* previous_;
};

const bool kDeadlockDetectionOff = [] {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return true;
}();

void* FlagOf(const absl::Notification* n) {
  return &reinterpret_cast<NotificationLayout*>(const_cast<absl::Notification*>(n))->notified;
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

// ---- Mutex ----------------------------------------------------------------------------------

void Mutex::Lock() {
  static auto real = Lookup<void (*)(Mutex*)>("5Mutex4LockEv");
  real(this);
  __tsan_acquire(this);
}

void Mutex::ReaderLock() {
  static auto real = Lookup<void (*)(Mutex*)>("5Mutex10ReaderLockEv");
  real(this);
  __tsan_acquire(this);
}

void Mutex::Unlock() {
  static auto real = Lookup<void (*)(Mutex*)>("5Mutex6UnlockEv");
  InLibrary guard(this);
  __tsan_release(this);
  real(this);
}

void Mutex::ReaderUnlock() {
  static auto real = Lookup<void (*)(Mutex*)>("5Mutex12ReaderUnlockEv");
  InLibrary guard(this);
  __tsan_release(this);
  real(this);
}

bool Mutex::TryLock() {
  static auto real = Lookup<bool (*)(Mutex*)>("5Mutex7TryLockEv");
  const bool locked = real(this);
  if (locked) __tsan_acquire(this);
  return locked;
}

bool Mutex::ReaderTryLock() {
  static auto real = Lookup<bool (*)(Mutex*)>("5Mutex13ReaderTryLockEv");
  const bool locked = real(this);
  if (locked) __tsan_acquire(this);
  return locked;
}

void Mutex::LockWhen(const Condition& cond) {
  InLibrary guard(this);
  static auto real = Lookup<void (*)(Mutex*, const Condition&)>("5Mutex8LockWhenERKNS0_9ConditionE");
  real(this, cond);
  __tsan_acquire(this);
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  InLibrary guard(this);
  static auto real =
      Lookup<void (*)(Mutex*, const Condition&)>("5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  real(this, cond);
  __tsan_acquire(this);
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  InLibrary guard(this);
  static auto real = Lookup<bool (*)(Mutex*, const Condition&, Duration)>(
      "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  const bool met = real(this, cond, timeout);
  __tsan_acquire(this);  // held either way
  return met;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  InLibrary guard(this);
  static auto real = Lookup<bool (*)(Mutex*, const Condition&, Time)>(
      "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  const bool met = real(this, cond, deadline);
  __tsan_acquire(this);
  return met;
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  InLibrary guard(this);
  static auto real = Lookup<bool (*)(Mutex*, const Condition&, Duration)>(
      "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  const bool met = real(this, cond, timeout);
  __tsan_acquire(this);
  return met;
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  InLibrary guard(this);
  static auto real = Lookup<bool (*)(Mutex*, const Condition&, Time)>(
      "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  const bool met = real(this, cond, deadline);
  __tsan_acquire(this);
  return met;
}

// Await gives the mutex up while it waits and holds it again when it returns.
void Mutex::Await(const Condition& cond) {
  InLibrary guard(this);
  static auto real = Lookup<void (*)(Mutex*, const Condition&)>("5Mutex5AwaitERKNS0_9ConditionE");
  __tsan_release(this);
  real(this, cond);
  __tsan_acquire(this);
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  InLibrary guard(this);
  static auto real = Lookup<bool (*)(Mutex*, const Condition&, Duration)>(
      "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  __tsan_release(this);
  const bool met = real(this, cond, timeout);
  __tsan_acquire(this);
  return met;
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  InLibrary guard(this);
  static auto real = Lookup<bool (*)(Mutex*, const Condition&, Time)>(
      "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  __tsan_release(this);
  const bool met = real(this, cond, deadline);
  __tsan_acquire(this);
  return met;
}

// Evaluated, inside the library, by a waiter or by the thread unlocking the mutex, either
// holding it: between an acquire and a release of the mutex, like any critical section (the
// annotations of the calls around it fall before or after the evaluation).
bool Condition::Eval() const {
  static auto real = Lookup<bool (*)(const Condition*)>("9Condition4EvalEv", /*is_const=*/true);
  Mutex* mu = const_cast<Mutex*>(in_library);
  if (mu != nullptr) __tsan_acquire(mu);
  const bool holds = real(this);
  if (mu != nullptr) __tsan_release(mu);
  return holds;
}

// ---- CondVar: a wait gives the mutex up and holds it again ----------------------------------

void CondVar::Wait(Mutex* mu) {
  static auto real = Lookup<void (*)(CondVar*, Mutex*)>("7CondVar4WaitEPNS0_5MutexE");
  __tsan_release(mu);
  real(this, mu);
  __tsan_acquire(mu);
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  static auto real = Lookup<bool (*)(CondVar*, Mutex*, Duration)>(
      "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  __tsan_release(mu);
  const bool timed_out = real(this, mu, timeout);
  __tsan_acquire(mu);
  return timed_out;
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  static auto real = Lookup<bool (*)(CondVar*, Mutex*, Time)>(
      "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  __tsan_release(mu);
  const bool timed_out = real(this, mu, deadline);
  __tsan_acquire(mu);
  return timed_out;
}

// ---- Notification: its flag is read inline (HasBeenNotified) ---------------------------------

void Notification::Notify() {
  static auto real = Lookup<void (*)(Notification*)>("12Notification6NotifyEv");
  __tsan_release(FlagOf(this));
  real(this);
}

void Notification::WaitForNotification() const {
  static auto real = Lookup<void (*)(const Notification*)>("12Notification19WaitForNotificationEv",
                                                           /*is_const=*/true);
  real(this);
  __tsan_acquire(FlagOf(this));
}

bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  static auto real = Lookup<bool (*)(const Notification*, Duration)>(
      "12Notification30WaitForNotificationWithTimeoutENS0_8DurationE", /*is_const=*/true);
  const bool notified = real(this, timeout);
  if (notified) __tsan_acquire(FlagOf(this));
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  static auto real = Lookup<bool (*)(const Notification*, Time)>(
      "12Notification31WaitForNotificationWithDeadlineENS0_4TimeE", /*is_const=*/true);
  const bool notified = real(this, deadline);
  if (notified) __tsan_acquire(FlagOf(this));
  return notified;
}

ABSL_NAMESPACE_END
}  // namespace absl
