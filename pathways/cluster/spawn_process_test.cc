// SpawnProcess: a child spawned with die_with_launcher goes when its launcher dies.
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "pathways/cluster/process_cluster.h"

namespace pw {
namespace {

// Forks a launcher that spawns `sleep 30` and exits at once; returns the sleeper's pid.
pid_t SleeperOfADeadLauncher(bool die_with_launcher) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  const pid_t launcher = ::fork();
  if (launcher == 0) {
    ::close(fds[0]);
    SpawnOptions options;
    options.die_with_launcher = die_with_launcher;
    absl::StatusOr<pid_t> sleeper = SpawnProcess({"/bin/sleep", "30"}, options);
    const pid_t pid = sleeper.ok() ? *sleeper : -1;
    (void)!::write(fds[1], &pid, sizeof(pid));
    ::_exit(0);  // no cleanup: the launcher is gone, as if it crashed
  }
  ::close(fds[1]);
  pid_t sleeper = -1;
  EXPECT_EQ(::read(fds[0], &sleeper, sizeof(sleeper)), static_cast<ssize_t>(sizeof(sleeper)));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(launcher, &status, 0);
  return sleeper;
}

bool GoneWithin(pid_t pid, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (ProcessAlive(pid)) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

TEST(SpawnProcessTest, AChildThatDiesWithItsLauncherGoesWhenTheLauncherDies) {
  const pid_t sleeper = SleeperOfADeadLauncher(/*die_with_launcher=*/true);
  ASSERT_GT(sleeper, 0);
  EXPECT_TRUE(GoneWithin(sleeper, absl::Seconds(10)));
}

TEST(SpawnProcessTest, OtherChildrenOutliveTheirLauncher) {
  const pid_t sleeper = SleeperOfADeadLauncher(/*die_with_launcher=*/false);
  ASSERT_GT(sleeper, 0);
  EXPECT_FALSE(GoneWithin(sleeper, absl::Milliseconds(300)));
  ::kill(sleeper, SIGKILL);
  EXPECT_TRUE(GoneWithin(sleeper, absl::Seconds(10)));
}

}  // namespace
}  // namespace pw
