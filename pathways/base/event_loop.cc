// EventLoop implementation: one mutex, one ready queue, one timer heap; idle threads poll
// briefly, then sleep until the next timer or a post.
#include "pathways/base/event_loop.h"

#include <sys/prctl.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "pathways/base/clock.h"
#include "pathways/base/logging.h"
#include "pathways/base/spin_wait.h"
#include "pathways/base/thread_name.h"

namespace pw {

EventLoop::EventLoop(EventLoopOptions options) : options_(std::move(options)) {
  PW_CHECK(options_.threads >= 1) << "an EventLoop needs at least one thread, not "
                                  << options_.threads;
  threads_.reserve(options_.threads);
  for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this, i] { Loop(i); });
}

EventLoop::~EventLoop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    stopping_.store(true, std::memory_order_release);
    cv_.SignalAll();
  }
  for (std::thread& t : threads_) t.join();
}

void EventLoop::Post(Task task) {
  absl::MutexLock lock(&mu_);
  ready_.push_back(std::move(task));
  queued_.fetch_add(1, std::memory_order_release);
  if (sleeping_ > 0) cv_.Signal();
}

void EventLoop::PostAt(int64_t deadline_nanos, Task task) {
  absl::MutexLock lock(&mu_);
  const bool earliest = timers_.empty() || deadline_nanos < timers_.top().deadline;
  timers_.push(Timer{deadline_nanos, timer_seq_++, std::move(task)});
  // A sleeper waits for the old earliest timer: wake one to wait for this one instead.
  if (earliest && sleeping_ > 0) cv_.SignalAll();
}

void EventLoop::RecordSlack(int64_t slack) {
  slack_total_.fetch_add(slack, std::memory_order_relaxed);
  slack_count_.fetch_add(1, std::memory_order_relaxed);
  int64_t max = slack_max_.load(std::memory_order_relaxed);
  while (slack > max && !slack_max_.compare_exchange_weak(max, slack, std::memory_order_relaxed)) {
  }
}

bool EventLoop::Take(Task& task, int64_t& deadline) {
  if (options_.idle_spin_nanos > 0) {
    SpinUntil(options_.idle_spin_nanos, [this] {
      return queued_.load(std::memory_order_acquire) != 0 ||
             stopping_.load(std::memory_order_acquire);
    });
  }
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    const int64_t now = MonotonicNanos();
    if (!timers_.empty() && timers_.top().deadline <= now) {
      deadline = timers_.top().deadline;
      task = std::move(timers_.top().task);
      timers_.pop();
      return true;
    }
    if (!ready_.empty()) {
      deadline = -1;
      task = std::move(ready_.front());
      ready_.pop_front();
      queued_.fetch_sub(1, std::memory_order_release);
      return true;
    }
    ++sleeping_;
    if (timers_.empty()) {
      cv_.Wait(&mu_);
    } else {
      cv_.WaitWithTimeout(&mu_, absl::Nanoseconds(timers_.top().deadline - now));
    }
    --sleeping_;
  }
  return false;
}

void EventLoop::Loop(int index) {
  SetCurrentThreadName(absl::StrCat(options_.name, "-", index));
  // Timed waits expire on time, not up to the default 50 us late.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  Task task;
  int64_t deadline = -1;
  while (Take(task, deadline)) {
    if (deadline >= 0) RecordSlack(std::max<int64_t>(0, MonotonicNanos() - deadline));
    std::move(task)();
    task = nullptr;
    tasks_run_.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace pw
