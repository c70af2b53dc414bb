#include "pathways/controller/deadline_timer.h"

#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pw {
namespace {

using ::testing::ElementsAre;

TEST(DeadlineTimerTest, RunsCallbacksInDeadlineOrderExceptCancelledOnes) {
  DeadlineTimer timer;
  absl::Mutex mu;
  std::vector<int> ran;
  absl::Notification last;
  const absl::Time now = absl::Now();
  auto record = [&](int k) {
    return [&, k] {
      absl::MutexLock lock(&mu);
      ran.push_back(k);
    };
  };
  timer.Schedule(now + absl::Milliseconds(40), record(3));
  const int64_t cancelled = timer.Schedule(now + absl::Seconds(10), record(99));
  timer.Schedule(now + absl::Milliseconds(10), record(2));
  timer.Schedule(now - absl::Seconds(1), record(1));  // already past: at once
  timer.Schedule(now + absl::Milliseconds(60), [&] { last.Notify(); });
  timer.Cancel(cancelled);
  timer.Cancel(12345);  // unknown: ignored
  last.WaitForNotification();
  absl::MutexLock lock(&mu);
  EXPECT_THAT(ran, ElementsAre(1, 2, 3));
  EXPECT_EQ(timer.pending(), 0);
}

TEST(DeadlineTimerTest, ACallbackMayScheduleAndDestructionDropsWhatIsPending) {
  absl::Notification second;
  bool far_ran = false;
  {
    DeadlineTimer timer;
    timer.Schedule(absl::Now(), [&] { timer.Schedule(absl::Now(), [&] { second.Notify(); }); });
    second.WaitForNotification();
    timer.Schedule(absl::Now() + absl::Hours(1), [&] { far_ran = true; });
    EXPECT_EQ(timer.pending(), 1);
  }
  EXPECT_FALSE(far_ran);
}

}  // namespace
}  // namespace pw
