// EventLoop: a small fixed set of threads that run short tasks, now or at an instant, for many
// owners at once. It is how a simulated cluster of hundreds of hosts and thousands of devices
// runs on a machine with two cores: every host's dispatch and every simulated device's stream is
// a sequence of tasks on one shared loop, not a thread of its own that sleeps most of the time.
//
// Threads: Post and PostAt may be called from any thread, also from inside a task. Tasks run on
// the loop's threads, any one of them: a task may run concurrently with other tasks (owners that
// need one-at-a-time order keep it themselves, e.g. a busy flag under their own lock). Tasks must
// be short and must never block waiting for another task of the same loop (with one thread that
// is a deadlock; with more it starves the loop).
//
// Timers: a task posted for an instant (MonotonicNanos) runs at or after it, in deadline order
// among due timers. The threads sleep on a futex with timer slack set to 1 ns (never spin), so
// on an idle machine a timer lands tens of microseconds late at most; the lateness of every timer
// is recorded (timer_slack_*), the simulation's own error on this machine.
//
// Ownership: the loop outlives every owner that posts to it. An owner must make sure none of its
// tasks is pending or running before it goes (tasks capture it). The destructor stops the threads
// and destroys tasks still pending without running them.
#ifndef PATHWAYS_BASE_EVENT_LOOP_H_
#define PATHWAYS_BASE_EVENT_LOOP_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <queue>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace pw {

struct EventLoopOptions {
  // Threads serving the loop (>= 1).
  int threads = 1;
  // How long an idle thread polls for a new task before it sleeps (a wake-up costs ~40 us on
  // small machines); 0 sleeps at once. Timers never spin.
  int64_t idle_spin_nanos = 0;
  // Thread names are "<name>-<index>".
  std::string name = "pw-loop";
};

class EventLoop {
 public:
  using Task = absl::AnyInvocable<void() &&>;

  explicit EventLoop(EventLoopOptions options = {});
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs `task` as soon as a thread is free, after the tasks posted before it started.
  void Post(Task task);
  // Runs `task` once MonotonicNanos() >= `deadline_nanos` (at once when it already is).
  void PostAt(int64_t deadline_nanos, Task task);

  int threads() const { return static_cast<int>(threads_.size()); }
  // Lateness of the timers that ran: sum, count and maximum, in nanoseconds.
  int64_t timer_slack_total_nanos() const { return slack_total_.load(std::memory_order_relaxed); }
  int64_t timer_slack_count() const { return slack_count_.load(std::memory_order_relaxed); }
  int64_t timer_slack_max_nanos() const { return slack_max_.load(std::memory_order_relaxed); }
  // Tasks run so far (timers included).
  int64_t tasks_run() const { return tasks_run_.load(std::memory_order_relaxed); }

 private:
  struct Timer {
    int64_t deadline = 0;
    uint64_t seq = 0;  // FIFO among equal deadlines
    mutable Task task;
    bool operator>(const Timer& other) const {
      return deadline != other.deadline ? deadline > other.deadline : seq > other.seq;
    }
  };
  void Loop(int index);
  // Takes the next task to run (a due timer first, then a posted one); false once stopping.
  bool Take(Task& task, int64_t& deadline);
  void RecordSlack(int64_t slack);

  const EventLoopOptions options_;
  absl::Mutex mu_;
  absl::CondVar cv_;
  std::deque<Task> ready_ ABSL_GUARDED_BY(mu_);
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_ ABSL_GUARDED_BY(mu_);
  uint64_t timer_seq_ ABSL_GUARDED_BY(mu_) = 0;
  // Threads asleep in cv_ (woken by Post only when there are some).
  int sleeping_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  // Mirrors ready_.size() for threads polling without the lock.
  std::atomic<int64_t> queued_{0};
  std::atomic<bool> stopping_{false};

  std::atomic<int64_t> slack_total_{0};
  std::atomic<int64_t> slack_count_{0};
  std::atomic<int64_t> slack_max_{0};
  std::atomic<int64_t> tasks_run_{0};
  std::vector<std::thread> threads_;
};

}  // namespace pw

#endif  // PATHWAYS_BASE_EVENT_LOOP_H_
