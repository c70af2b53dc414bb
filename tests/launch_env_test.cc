// pw-controller and pw-worker started the way Slurm (srun) and Kubernetes (a StatefulSet) start
// them: no --controller, --listen or --island, only the launcher's environment (faked here on
// one machine: the "nodes" are loopback addresses 127.0.0.1, 127.0.0.2, ...). The workers join
// the controller at the address the environment implies, listen where it says, take their
// islands from their ranks, and run a program; explicit flags win over a broken environment,
// and a broken environment alone stops a worker naming the variable.
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/secret.h"
#include "pathways/base/status_matchers.h"
#include "pathways/client/client.h"
#include "pathways/cluster/process_cluster.h"
#include "pathways/rpc/cluster_credentials.h"
#include "tests/process_client.h"
#include "tests/test_util.h"

#ifndef PW_TOOLS_DIR
#error "PW_TOOLS_DIR must name the folder of pw-controller and pw-worker"
#endif

namespace pw {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing_util::ClientWithHosts;
using testing_util::TwiceOnTwoDevices;
using testing_util::Unwrap;

using Env = std::vector<std::string>;

class LaunchEnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / absl::StrCat("pw-launch-", getpid());
    std::filesystem::create_directories(dir_);
    credentials_ = {Unwrap(RandomToken()), Unwrap(RandomToken())};
  }
  void TearDown() override {
    testing_util::StopAlive(pids_);
    std::filesystem::remove_all(dir_);
  }

  // Starts a tool with `env` ahead of this process's environment (the launcher's variables).
  pid_t Spawn(const std::string& tool, std::vector<std::string> args, Env env, const std::string& log) {
    std::vector<std::string> argv = {std::string(PW_TOOLS_DIR) + "/" + tool};
    argv.insert(argv.end(), args.begin(), args.end());
    env.push_back("PATHWAYS_TOKEN=" + credentials_.cluster_token);
    env.push_back("PATHWAYS_OPERATOR_TOKEN=" + credentials_.operator_token);
    const pid_t pid = Unwrap(SpawnProcess(argv, {.log = (dir_ / log).string(), .die_with_launcher = true,
                                                 .env = std::move(env)}));
    pids_.push_back(pid);
    return pid;
  }

  // pw-controller with only `env` to go by (port 0: any free one); returns its address.
  std::string StartController(Env env) {
    const std::string file = (dir_ / "controller.address").string();
    env.push_back("PATHWAYS_CONTROLLER_PORT=0");
    Spawn("pw-controller", {"--address-file", file}, std::move(env), "controller.log");
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (!std::filesystem::exists(file) && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
    std::string address;
    std::ifstream(file) >> address;
    EXPECT_FALSE(address.empty()) << "pw-controller did not start: " << Log("controller.log");
    RememberClusterCredentials(address, credentials_);
    return address;
  }

  std::string Log(const std::string& name) {
    std::ifstream in(dir_ / name);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  // The exit status of a child that exits by itself (-1: killed by a signal).
  static int ExitStatus(pid_t pid) {
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
  }

  // Hosts per island, by island id.
  static std::vector<size_t> HostsPerIsland(Client& client) {
    std::vector<size_t> hosts;
    for (const IslandInfo& island : client.controller().Status().islands) hosts.push_back(island.hosts.size());
    return hosts;
  }

  std::filesystem::path dir_;
  ClusterCredentials credentials_;
  std::vector<pid_t> pids_;
};

// Slurm's variables of one task of `srun` on the job's node list.
Env SlurmTask(int rank, int ntasks, int node, const std::string& controller_port) {
  return {"PATHWAYS_LAUNCHER=slurm", "SLURM_JOB_ID=4242", "SLURM_JOB_NODELIST=127.0.0.[1-2]",
          "SLURM_STEP_NODELIST=127.0.0.[1-2]", absl::StrCat("SLURM_NTASKS=", ntasks),
          absl::StrCat("SLURM_PROCID=", rank), absl::StrCat("SLURM_NODEID=", node), "SLURM_LOCALID=0",
          absl::StrCat("SLURMD_NODENAME=127.0.0.", node + 1), "PATHWAYS_HOSTS_PER_ISLAND=1",
          "PATHWAYS_CONTROLLER_PORT=" + controller_port};
}

std::string Port(const std::string& address) { return address.substr(address.rfind(':') + 1); }

TEST_F(LaunchEnvTest, SlurmTasksJoinTheFirstNodeOneIslandPerRank) {
  const std::string address =
      StartController({"PATHWAYS_LAUNCHER=slurm", "SLURM_JOB_ID=4242", "SLURM_JOB_NODELIST=127.0.0.[1-2]",
                       "SLURMD_NODENAME=127.0.0.1"});
  ASSERT_FALSE(address.empty());
  for (int rank = 0; rank < 2; ++rank) {
    Spawn("pw-worker", {"--devices", "2", "--memory-per-device", "64M"}, SlurmTask(rank, 2, rank, Port(address)),
          absl::StrCat("worker-", rank, ".log"));
  }
  std::unique_ptr<Client> client = ClientWithHosts(address, 2, "launch");
  EXPECT_THAT(HostsPerIsland(*client), ElementsAre(1, 1));  // rank / PATHWAYS_HOSTS_PER_ISLAND
  EXPECT_THAT(TwiceOnTwoDevices(*client), ElementsAre(3.0f, -4.0f));
  EXPECT_THAT(Log("worker-1.log"), HasSubstr("Slurm job 4242, task 1 of 2 on 127.0.0.2"));
  EXPECT_THAT(Log("worker-1.log"), HasSubstr("listening on 127.0.0.2:"));  // its own node
  EXPECT_THAT(Log("controller.log"), HasSubstr("Slurm job 4242 on 127.0.0.1"));

  // Explicit flags win: this worker's environment is broken, but nothing is taken from it.
  Env broken = SlurmTask(0, 2, 0, Port(address));
  broken.insert(broken.begin(), "SLURM_JOB_NODELIST=127.0.0.[1-");  // found first
  Spawn("pw-worker", {"--controller", address, "--listen", "127.0.0.1:0", "--island", "1", "--devices", "1",
                      "--memory-per-device", "64M"},
        broken, "worker-flags.log");
  client = ClientWithHosts(address, 3, "launch");
  EXPECT_THAT(HostsPerIsland(*client), ElementsAre(1, 2));
}

TEST_F(LaunchEnvTest, StatefulSetPodsJoinTheControllerService) {
  const std::string address = StartController({"PATHWAYS_CONTROLLER_SERVICE=pw-controller"});
  ASSERT_FALSE(address.empty());
  // What a client pod runs first: it returns once both workers joined.
  const pid_t wait = Spawn("pw", {"wait", "--address", address, "--hosts", "2", "--timeout-seconds", "120"}, {},
                           "wait.log");
  for (int ordinal = 0; ordinal < 2; ++ordinal) {
    const std::string pod = absl::StrCat("pw-worker-", ordinal);
    Spawn("pw-worker", {"--devices", "1", "--memory-per-device", "64M"},
          {"PATHWAYS_CONTROLLER_SERVICE=pw-controller", "PW_CONTROLLER_SERVICE_HOST=127.0.0.1",
           "PW_CONTROLLER_SERVICE_PORT=" + Port(address), "POD_NAME=" + pod, "HOSTNAME=" + pod,
           absl::StrCat("POD_IP=127.0.0.", ordinal + 3), "PATHWAYS_HOSTS_PER_ISLAND=2"},
          pod + ".log");
  }
  EXPECT_EQ(ExitStatus(wait), 0) << Log("wait.log");
  EXPECT_THAT(Log("wait.log"), HasSubstr("2 host(s) joined"));
  std::unique_ptr<Client> client = ClientWithHosts(address, 2, "launch");
  EXPECT_THAT(HostsPerIsland(*client), ElementsAre(2));  // ordinals 0 and 1 / 2
  const pid_t short_wait = Spawn("pw", {"wait", "--address", address, "--hosts", "3", "--timeout-seconds", "1"},
                                 {}, "short-wait.log");
  EXPECT_EQ(ExitStatus(short_wait), 1);
  EXPECT_THAT(Log("short-wait.log"), HasSubstr("2 of 3 host(s) joined"));
  EXPECT_THAT(TwiceOnTwoDevices(*client), ElementsAre(3.0f, -4.0f));  // one device on each pod
  EXPECT_THAT(Log("pw-worker-1.log"), HasSubstr("Kubernetes pod pw-worker-1 (ordinal 1)"));
  EXPECT_THAT(Log("pw-worker-1.log"), HasSubstr("listening on 127.0.0.4:"));  // POD_IP
}

TEST_F(LaunchEnvTest, AMalformedEnvironmentStopsTheWorkerNamingTheVariable) {
  const pid_t pid = Spawn("pw-worker", {"--devices", "1"},
                          {"PATHWAYS_LAUNCHER=slurm", "SLURM_JOB_ID=1", "SLURM_JOB_NODELIST=node[01-04",
                           "SLURM_NTASKS=1", "SLURM_PROCID=0", "SLURM_NODEID=0"},
                          "bad.log");
  EXPECT_EQ(ExitStatus(pid), 2);
  EXPECT_THAT(Log("bad.log"), HasSubstr("SLURM_JOB_NODELIST"));
}

}  // namespace
}  // namespace pw
