#include "pathways/base/event_loop.h"

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/clock.h"

namespace pw {
namespace {

using ::testing::ElementsAre;

TEST(EventLoopTest, OneThreadRunsPostsInOrder) {
  EventLoop loop;
  absl::Mutex mu;
  std::vector<int> order;
  absl::Notification done;
  for (int i = 0; i < 5; ++i) {
    loop.Post([&, i] {
      absl::MutexLock lock(&mu);
      order.push_back(i);
      if (i == 4) done.Notify();
    });
  }
  done.WaitForNotification();
  absl::MutexLock lock(&mu);
  EXPECT_THAT(order, ElementsAre(0, 1, 2, 3, 4));
}

TEST(EventLoopTest, TimersRunInDeadlineOrderAndNeverEarly) {
  EventLoop loop;
  absl::Mutex mu;
  std::vector<int> order;
  std::vector<bool> early;
  absl::Notification done;
  // Posted out of order, from a task of the one-thread loop so that none can run before all are
  // queued; the two at the same instant keep their posting order.
  loop.Post([&] {
    const int64_t base = MonotonicNanos() + 2'000'000;
    const int64_t offsets[] = {3'000'000, 1'000'000, 2'000'000, 2'000'000};
    for (int i = 0; i < 4; ++i) {
      const int64_t deadline = base + offsets[i];
      loop.PostAt(deadline, [&, i, deadline] {
        absl::MutexLock lock(&mu);
        order.push_back(i);
        early.push_back(MonotonicNanos() < deadline);
        if (order.size() == 4) done.Notify();
      });
    }
  });
  done.WaitForNotification();
  absl::MutexLock lock(&mu);
  EXPECT_THAT(order, ElementsAre(1, 2, 3, 0));
  EXPECT_THAT(early, ElementsAre(false, false, false, false));
  EXPECT_EQ(loop.timer_slack_count(), 4);
  EXPECT_GE(loop.timer_slack_max_nanos(), 0);
}

TEST(EventLoopTest, APastDeadlineRunsAtOnceAndTasksMayPostMore) {
  EventLoop loop({.threads = 2, .idle_spin_nanos = 10'000, .name = "pw-test-loop"});
  EXPECT_EQ(loop.threads(), 2);
  std::atomic<int> count{0};
  absl::Notification done;
  // Each task posts the next one, alternating plain posts and past-deadline timers.
  std::function<void(int)> step = [&](int i) {
    if (count.fetch_add(1) + 1 == 100) {
      done.Notify();
      return;
    }
    if (i % 2 == 0) {
      loop.Post([&, i] { step(i + 1); });
    } else {
      loop.PostAt(0, [&, i] { step(i + 1); });
    }
  };
  loop.Post([&] { step(0); });
  done.WaitForNotification();
  EXPECT_EQ(count.load(), 100);
}

TEST(EventLoopTest, ManyThreadsRunEveryTask) {
  EventLoop loop({.threads = 3});
  std::atomic<int> count{0};
  absl::Notification done;
  for (int i = 0; i < 1000; ++i) {
    loop.Post([&] {
      if (count.fetch_add(1) + 1 == 1000) done.Notify();
    });
  }
  done.WaitForNotification();
  EXPECT_EQ(count.load(), 1000);
  // A task is counted once it returns: the other threads may still be counting theirs.
  EXPECT_GE(loop.tasks_run(), 1000 - loop.threads());
}

TEST(EventLoopTest, DestructionDropsPendingTimersWithoutRunningThem) {
  auto ran = std::make_shared<std::atomic<bool>>(false);
  auto token = std::make_shared<int>(0);
  {
    EventLoop loop;
    loop.PostAt(MonotonicNanos() + int64_t{3600} * 1'000'000'000, [ran, token] { ran->store(true); });
    EXPECT_EQ(token.use_count(), 2);
  }
  EXPECT_FALSE(ran->load());
  EXPECT_EQ(token.use_count(), 1);  // the task was destroyed with the loop
}

}  // namespace
}  // namespace pw
