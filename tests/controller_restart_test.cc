// A restarted controller: pw-controller is killed (SIGKILL) under a running pw-worker, clients
// of the old controller get UNAVAILABLE naming it at once, and once a new pw-controller serves
// at the same address the worker joins it again as a new host (its old buffers dropped), so a
// new client runs programs on it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/client/client.h"
#include "pathways/cluster/process_cluster.h"
#include "pathways/base/secret.h"
#include "pathways/rpc/cluster_credentials.h"
#include "tests/process_client.h"
#include "tests/test_util.h"

namespace pw {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing_util::TwiceOnTwoDevices;
using testing_util::Unwrap;

// A port nothing listens on now (bound and released).
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

class ControllerRestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / absl::StrCat("pw-restart-", getpid());
    std::filesystem::create_directories(dir_);
    address_ = absl::StrCat("127.0.0.1:", FreePort());
  }
  void TearDown() override {
    testing_util::StopAlive(pids_);
    std::filesystem::remove_all(dir_);
  }

  pid_t Spawn(std::vector<std::string> argv, const std::string& log) {
    SpawnOptions options;
    options.log = (dir_ / log).string();
    options.die_with_launcher = true;
    // Every controller of the test is started with the same secrets, which its clients find by
    // the address.
    if (credentials_.cluster_token.empty()) {
      credentials_ = {Unwrap(RandomToken()), Unwrap(RandomToken())};
      RememberClusterCredentials(address_, credentials_);
    }
    options.env = {"PATHWAYS_TOKEN=" + credentials_.cluster_token,
                   "PATHWAYS_OPERATOR_TOKEN=" + credentials_.operator_token};
    pid_t pid = Unwrap(SpawnProcess(argv, options));
    pids_.push_back(pid);
    return pid;
  }

  pid_t StartController(const std::string& log) {
    const std::string file = (dir_ / (log + ".address")).string();
    const pid_t pid = Spawn({std::string(PW_TOOLS_DIR) + "/pw-controller", "--listen", address_,
                             "--address-file", file},
                            log);
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (!std::filesystem::exists(file) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    EXPECT_TRUE(std::filesystem::exists(file)) << "pw-controller did not start";
    return pid;
  }

  // A client of the controller at address_, once `hosts` hosts have joined it.
  std::unique_ptr<Client> ClientWithHosts(int64_t hosts, const std::string& name) {
    return testing_util::ClientWithHosts(address_, hosts, name);
  }

  std::filesystem::path dir_;
  std::string address_;
  ClusterCredentials credentials_;
  std::vector<pid_t> pids_;
};

TEST_F(ControllerRestartTest, AWorkerJoinsARestartedControllerAndClientsSeeTheLossAtOnce) {
  const pid_t first = StartController("controller-1.log");
  Spawn({std::string(PW_TOOLS_DIR) + "/pw-worker", "--controller", address_, "--devices", "2",
         "--memory-per-device", "64M", "--rejoin-seconds", "60"},
        "worker.log");
  std::unique_ptr<Client> client = ClientWithHosts(1, "before");
  EXPECT_THAT(TwiceOnTwoDevices(*client), ElementsAre(3.0f, -4.0f));

  ASSERT_EQ(kill(first, SIGKILL), 0);
  const absl::Time killed = absl::Now();
  absl::StatusOr<VirtualSlice> after = client->GetDevices(1);
  EXPECT_THAT(after.status(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_LT(absl::Now() - killed, absl::Seconds(5)) << "the client waited for a dead controller";
  client.reset();

  StartController("controller-2.log");
  std::unique_ptr<Client> again = ClientWithHosts(1, "after");  // the worker joined again
  EXPECT_THAT(TwiceOnTwoDevices(*again), ElementsAre(3.0f, -4.0f));
  std::ifstream log(dir_ / "worker.log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("joining " + address_ + " again"));
}

}  // namespace
}  // namespace pw
