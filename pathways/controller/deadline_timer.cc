#include "pathways/controller/deadline_timer.h"

#include <utility>

#include "pathways/base/thread_name.h"

namespace pw {

DeadlineTimer::DeadlineTimer() : thread_([this] { Loop(); }) {}

DeadlineTimer::~DeadlineTimer() { Stop(); }

void DeadlineTimer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

int64_t DeadlineTimer::Schedule(absl::Time deadline, absl::AnyInvocable<void()> fn) {
  absl::MutexLock lock(&mu_);
  const int64_t id = next_id_++;
  queue_.emplace(std::make_pair(deadline, id), std::move(fn));
  deadlines_.emplace(id, deadline);
  return id;
}

void DeadlineTimer::Cancel(int64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = deadlines_.find(id);
  if (it == deadlines_.end()) return;
  queue_.erase(std::make_pair(it->second, id));
  deadlines_.erase(it);
}

int64_t DeadlineTimer::pending() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(queue_.size());
}

void DeadlineTimer::Loop() {
  SetCurrentThreadName("pw-deadlines");
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    const absl::Time wake = queue_.empty() ? absl::InfiniteFuture() : queue_.begin()->first.first;
    if (wake > absl::Now()) {
      // Sleeps until the earliest deadline, or until a Schedule or Cancel changes it.
      auto changed = [this, wake]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        const absl::Time now_first =
            queue_.empty() ? absl::InfiniteFuture() : queue_.begin()->first.first;
        return stopping_ || now_first != wake;
      };
      mu_.AwaitWithDeadline(absl::Condition(&changed), wake);
      continue;
    }
    auto first = queue_.begin();
    absl::AnyInvocable<void()> fn = std::move(first->second);
    deadlines_.erase(first->first.second);
    queue_.erase(first);
    mu_.Unlock();
    fn();
    mu_.Lock();
  }
}

}  // namespace pw
