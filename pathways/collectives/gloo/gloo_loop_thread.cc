// Reaching a Gloo TCP device's loop thread: an eventfd registered with the device's loop, whose
// handler runs on that thread.
#include "pathways/collectives/gloo/gloo_loop_thread.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gloo/transport/tcp/device.h"
#include "gloo/transport/tcp/loop.h"
#include "pathways/base/thread_name.h"

namespace pw {
namespace {

class OneShotHandler final : public gloo::transport::tcp::Handler {
 public:
  OneShotHandler(int fd, absl::AnyInvocable<void()> fn) : fd_(fd), fn_(std::move(fn)) {}

  void handleEvents(int /*events*/) override {
    uint64_t count = 0;
    (void)::read(fd_, &count, sizeof(count));  // level-triggered: drain, or the loop spins
    absl::MutexLock lock(&mu_);
    if (state_ != State::kWaiting) return;
    fn_();
    state_ = State::kRan;
  }

  // true once fn ran; false after `timeout` (then it never will).
  bool Await(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto not_waiting = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return state_ != State::kWaiting; };
    mu_.AwaitWithTimeout(absl::Condition(&not_waiting), timeout);
    if (state_ == State::kWaiting) state_ = State::kAbandoned;
    return state_ == State::kRan;
  }

 private:
  enum class State { kWaiting, kRan, kAbandoned };
  const int fd_;
  absl::AnyInvocable<void()> fn_;
  absl::Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kWaiting;
};

}  // namespace

absl::Status RunOnGlooLoopThread(const std::shared_ptr<gloo::transport::Device>& device,
                                 absl::AnyInvocable<void()> fn, absl::Duration timeout) {
  auto* tcp = dynamic_cast<gloo::transport::tcp::Device*>(device.get());
  if (tcp == nullptr) {
    return absl::InvalidArgumentError("RunOnGlooLoopThread: not a Gloo TCP device");
  }
  const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("RunOnGlooLoopThread: eventfd: ", std::strerror(errno)));
  }
  OneShotHandler handler(fd, std::move(fn));
  bool ran = false;
  try {
    tcp->registerDescriptor(fd, EPOLLIN, &handler);
    const uint64_t one = 1;
    (void)::write(fd, &one, sizeof(one));
    ran = handler.Await(timeout);
    // Returns after a loop tick, so the handler is not called once this returns.
    tcp->unregisterDescriptor(fd, &handler);
  } catch (const std::exception& e) {
    ::close(fd);
    return absl::InternalError(absl::StrCat("RunOnGlooLoopThread: ", e.what()));
  }
  ::close(fd);
  if (!ran) {
    return absl::DeadlineExceededError(absl::StrCat(
        "RunOnGlooLoopThread: the Gloo loop did not run within ", absl::FormatDuration(timeout)));
  }
  return absl::OkStatus();
}

absl::Status ConfigureGlooLoopThread(const std::shared_ptr<gloo::transport::Device>& device,
                                     const std::string& name, int nice) {
  if (nice < 0 || nice > 19) {
    return absl::InvalidArgumentError(
        absl::StrCat("Gloo loop thread nice value ", nice, " is outside [0, 19]"));
  }
  int error = 0;
  absl::Status ran = RunOnGlooLoopThread(device, [&] {
    SetCurrentThreadName(name);
    if (nice != 0) {
      // Linux keeps a nice value per thread: this changes the loop thread only.
      const auto tid = static_cast<id_t>(::syscall(SYS_gettid));
      if (::setpriority(PRIO_PROCESS, tid, nice) != 0) error = errno;
    }
  });
  if (!ran.ok()) return ran;
  if (error != 0) {
    return absl::InternalError(absl::StrCat("Gloo loop thread: setpriority(", nice,
                                            "): ", std::strerror(error)));
  }
  return absl::OkStatus();
}

}  // namespace pw
