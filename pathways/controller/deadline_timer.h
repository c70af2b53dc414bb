// DeadlineTimer: runs callbacks at their deadlines on one thread of its own (the controller's
// run deadlines).
#ifndef PATHWAYS_CONTROLLER_DEADLINE_TIMER_H_
#define PATHWAYS_CONTROLLER_DEADLINE_TIMER_H_

#include <cstdint>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace pw {

// Thread-safe. Callbacks run one at a time, in deadline order, on the timer's thread, at or
// shortly after their deadline (a deadline already past runs at once). A callback may call
// Schedule and Cancel. Destruction stops the thread after the callback in progress; callbacks
// still pending are dropped, never run.
class DeadlineTimer {
 public:
  DeadlineTimer();
  ~DeadlineTimer();
  DeadlineTimer(const DeadlineTimer&) = delete;
  DeadlineTimer& operator=(const DeadlineTimer&) = delete;

  // Joins the thread: no callback runs after this returns (the one running finishes first);
  // Schedule and Cancel stay valid and run nothing. Idempotent; called by the destructor.
  void Stop();

  // Returns an id for Cancel (ids are never reused).
  int64_t Schedule(absl::Time deadline, absl::AnyInvocable<void()> fn);
  // The callback will not run (unless it is already running). Unknown or spent ids are ignored.
  void Cancel(int64_t id);
  int64_t pending() const;

 private:
  void Loop();

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  // (deadline, id) -> callback; id -> deadline, for Cancel.
  absl::btree_map<std::pair<absl::Time, int64_t>, absl::AnyInvocable<void()>> queue_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<int64_t, absl::Time> deadlines_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace pw

#endif  // PATHWAYS_CONTROLLER_DEADLINE_TIMER_H_
