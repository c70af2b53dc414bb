// Tests for reaching a Gloo TCP device's event-loop thread: where the function runs, the name
// and nice value it gets, and the errors for bad arguments.
#include "pathways/collectives/gloo/gloo_loop_thread.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "gloo/transport/tcp/attr.h"
#include "gloo/transport/tcp/device.h"
#include "pathways/base/status_matchers.h"
#include "pathways/collectives/gloo/gloo_collective_groups.h"
#include "pathways/collectives/in_process/in_memory_rendezvous_store.h"

namespace pw {
namespace {

using ::testing::HasSubstr;

pid_t ThreadId() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

std::shared_ptr<gloo::transport::Device> LoopbackDevice() {
  gloo::transport::tcp::attr attr;
  attr.hostname = "127.0.0.1";
  return gloo::transport::tcp::CreateDevice(attr);
}

std::string ThreadName(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

TEST(GlooLoopThreadTest, RunsOnTheSameOtherThreadEachTime) {
  auto device = LoopbackDevice();
  pid_t first = 0, second = 0;
  ASSERT_TRUE(RunOnGlooLoopThread(device, [&] { first = ThreadId(); }).ok());
  ASSERT_TRUE(RunOnGlooLoopThread(device, [&] { second = ThreadId(); }).ok());
  EXPECT_NE(first, 0);
  EXPECT_NE(first, ThreadId());
  EXPECT_EQ(first, second);
}

TEST(GlooLoopThreadTest, NamesTheLoopAndLowersItsPriority) {
  auto device = LoopbackDevice();
  const int mine = ::getpriority(PRIO_PROCESS, static_cast<id_t>(ThreadId()));
  ASSERT_TRUE(ConfigureGlooLoopThread(device, "pw-gloo-loop", 7).ok());
  pid_t loop = 0;
  ASSERT_TRUE(RunOnGlooLoopThread(device, [&] { loop = ThreadId(); }).ok());
  EXPECT_EQ(ThreadName(loop), "pw-gloo-loop");
  errno = 0;
  EXPECT_EQ(::getpriority(PRIO_PROCESS, static_cast<id_t>(loop)), 7);
  EXPECT_EQ(errno, 0);
  // Only the loop thread changed.
  EXPECT_EQ(::getpriority(PRIO_PROCESS, static_cast<id_t>(ThreadId())), mine);
}

TEST(GlooLoopThreadTest, RejectsNiceValuesOutsideTheUnprivilegedRange) {
  auto device = LoopbackDevice();
  for (int nice : {-1, 20}) {
    const absl::Status s = ConfigureGlooLoopThread(device, "pw-gloo-loop", nice);
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(std::string(s.message()), HasSubstr(std::to_string(nice)));
  }
}

TEST(GlooLoopThreadTest, RejectsAMissingDevice) {
  const absl::Status s = RunOnGlooLoopThread(nullptr, [] {});
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(s.message()), HasSubstr("not a Gloo TCP device"));
}

TEST(GlooLoopThreadTest, GroupsConfigureTheirLoopOrNameTheBadOption) {
  InMemoryRendezvousStore store;
  GlooCollectiveGroupsOptions options;
  options.name = "gloo host:4";
  options.loop_thread_nice = 25;
  absl::StatusOr<std::unique_ptr<GlooCollectiveGroups>> bad =
      GlooCollectiveGroups::Create(&store, options);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("gloo host:4"));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("25"));

  options.loop_thread_nice = 19;
  absl::StatusOr<std::unique_ptr<GlooCollectiveGroups>> good =
      GlooCollectiveGroups::Create(&store, options);
  ASSERT_TRUE(good.ok()) << good.status();
  bool found = false;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    const pid_t tid = static_cast<pid_t>(std::stoi(entry.path().filename().string()));
    if (ThreadName(tid) == "pw-gloo-loop") {
      found = true;
      EXPECT_EQ(::getpriority(PRIO_PROCESS, static_cast<id_t>(tid)), 19);
    }
  }
  EXPECT_TRUE(found) << "no thread named pw-gloo-loop";
}

}  // namespace
}  // namespace pw
