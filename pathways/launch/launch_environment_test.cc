#include "pathways/launch/launch_environment.h"

#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"

namespace pw::launch {
namespace {

using ::testing::HasSubstr;
using ::testing::Optional;

using Vars = std::map<std::string, std::string>;

// The value (a default one, with the test failed, on an error).
template <typename T>
T Ok(absl::StatusOr<T> v) {
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *std::move(v) : T{};
}

// An srun task: rank 5 of 8 (two per node), on node03 of node[01-04].
Vars SlurmTask() {
  return {{"SLURM_JOB_ID", "4242"},        {"SLURM_JOB_NODELIST", "node[01-04]"},
          {"SLURM_STEP_NODELIST", "node[01-04]"}, {"SLURM_NTASKS", "8"},
          {"SLURM_PROCID", "5"},           {"SLURM_NODEID", "2"},
          {"SLURM_LOCALID", "1"},          {"SLURMD_NODENAME", "node03"}};
}

// Pod 3 of the pw-worker StatefulSet, the controller behind the headless Service pw-controller.
Vars WorkerPod() {
  return {{"PATHWAYS_CONTROLLER_SERVICE", "pw-controller"}, {"POD_NAME", "pw-worker-3"},
          {"HOSTNAME", "pw-worker-3"}, {"POD_IP", "10.1.2.3"}, {"KUBERNETES_SERVICE_HOST", "10.0.0.1"}};
}

Vars With(Vars vars, const Vars& changes) {
  for (const auto& [k, v] : changes) vars[k] = v;
  return vars;
}
Vars Without(Vars vars, const std::string& name) {
  vars.erase(name);
  return vars;
}

absl::StatusOr<WorkerLaunch> Worker(const Vars& vars) { return WorkerLaunchFromEnvironment(MapEnvironment(vars)); }
absl::StatusOr<ControllerLaunch> Controller(const Vars& vars) {
  return ControllerLaunchFromEnvironment(MapEnvironment(vars));
}

// The error names `variable`.
auto Names(const std::string& variable) { return StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(variable)); }

TEST(LaunchEnvironmentTest, NoLauncherLeavesEverythingToTheFlags) {
  const WorkerLaunch w = Ok(Worker({{"HOME", "/root"}, {"KUBERNETES_SERVICE_HOST", "10.0.0.1"}}));
  EXPECT_EQ(w.launcher, Launcher::kNone);
  EXPECT_FALSE(w.controller_address.has_value());
  EXPECT_FALSE(w.listen_address.has_value());
  EXPECT_FALSE(w.island.has_value());
  EXPECT_EQ(Ok(Controller({})).launcher, Launcher::kNone);
  EXPECT_EQ(Ok(Worker(With(SlurmTask(), {{"PATHWAYS_LAUNCHER", "none"}}))).launcher, Launcher::kNone);
}

TEST(LaunchEnvironmentTest, SlurmWorkerJoinsTheFirstNodeAndListensOnItsOwn) {
  const WorkerLaunch w = Ok(Worker(SlurmTask()));
  EXPECT_EQ(w.launcher, Launcher::kSlurm);
  EXPECT_THAT(w.controller_address, Optional(std::string("node01:8470")));
  EXPECT_THAT(w.listen_address, Optional(std::string("node03:0")));
  EXPECT_FALSE(w.island.has_value());
  EXPECT_EQ(w.description, "Slurm job 4242, task 5 of 8 on node03 (local task 1)");

  const WorkerLaunch ports = Ok(Worker(With(SlurmTask(), {{"PATHWAYS_CONTROLLER_PORT", "9000"},
                                                              {"PATHWAYS_WORKER_PORT", "7000"},
                                                              {"PATHWAYS_HOSTS_PER_ISLAND", "4"}})));
  EXPECT_THAT(ports.controller_address, Optional(std::string("node01:9000")));
  EXPECT_THAT(ports.listen_address, Optional(std::string("node03:7001")));  // base + local task
  EXPECT_THAT(ports.island, Optional(1));                                  // rank 5 / 4
  // The older SLURM_NODELIST alone, and no SLURMD_NODENAME or SLURM_LOCALID, do too.
  Vars old = Without(Without(Without(SlurmTask(), "SLURM_JOB_NODELIST"), "SLURMD_NODENAME"), "SLURM_LOCALID");
  old["SLURM_NODELIST"] = "node[01-04]";
  EXPECT_THAT(Ok(Worker(old)).listen_address, Optional(std::string("node03:0")));
}

TEST(LaunchEnvironmentTest, SlurmControllerListensOnEveryInterfaceOfTheFirstNode) {
  const Vars batch = {{"SLURM_JOB_ID", "4242"}, {"SLURM_JOB_NODELIST", "node[01-04]"}, {"SLURMD_NODENAME", "node01"}};
  const ControllerLaunch c = Ok(Controller(batch));
  EXPECT_EQ(c.launcher, Launcher::kSlurm);
  EXPECT_THAT(c.listen_address, Optional(std::string("0.0.0.0:8470")));
  EXPECT_THAT(Ok(Controller(With(batch, {{"PATHWAYS_CONTROLLER_PORT", "0"}}))).listen_address,
              Optional(std::string("0.0.0.0:0")));
  EXPECT_THAT(Controller(With(batch, {{"SLURMD_NODENAME", "node02"}})), Names("SLURMD_NODENAME"));
}

TEST(LaunchEnvironmentTest, MalformedOrConflictingSlurmVariablesAreNamed) {
  const std::vector<std::pair<Vars, std::string>> cases = {
      {Without(SlurmTask(), "SLURM_PROCID"), "SLURM_PROCID"},
      {With(SlurmTask(), {{"SLURM_PROCID", "8"}}), "SLURM_PROCID"},
      {With(SlurmTask(), {{"SLURM_PROCID", "-1"}}), "SLURM_PROCID"},
      {With(SlurmTask(), {{"SLURM_PROCID", " 5"}}), "SLURM_PROCID"},
      {With(SlurmTask(), {{"SLURM_PROCID", "99999999999999999999"}}), "SLURM_PROCID"},
      {With(SlurmTask(), {{"SLURM_NTASKS", "0"}}), "SLURM_NTASKS"},
      {With(SlurmTask(), {{"SLURM_NTASKS", "4x"}}), "SLURM_NTASKS"},
      {Without(SlurmTask(), "SLURM_NTASKS"), "SLURM_NTASKS"},
      {With(SlurmTask(), {{"SLURM_NODEID", "4"}}), "SLURM_NODEID"},
      {Without(SlurmTask(), "SLURM_NODEID"), "SLURM_NODEID"},
      {With(SlurmTask(), {{"SLURM_LOCALID", "8"}}), "SLURM_LOCALID"},
      {With(SlurmTask(), {{"SLURMD_NODENAME", "node04"}}), "SLURMD_NODENAME"},
      {With(SlurmTask(), {{"SLURM_JOB_ID", "abc"}}), "SLURM_JOB_ID"},
      {With(SlurmTask(), {{"SLURM_JOB_ID", ""}}), "SLURM_JOB_ID"},
      {Without(SlurmTask(), "SLURM_JOB_NODELIST"), "SLURM_JOB_NODELIST"},
      {With(SlurmTask(), {{"SLURM_JOB_NODELIST", "node[01-04"}}), "SLURM_JOB_NODELIST"},
      {With(SlurmTask(), {{"SLURM_NODELIST", "node[01-05]"}}), "SLURM_NODELIST"},
      {With(SlurmTask(), {{"SLURM_STEP_NODELIST", "node[04-05]"}}), "SLURM_STEP_NODELIST"},
      {With(SlurmTask(), {{"SLURM_STEP_NODELIST", "node[,]"}}), "SLURM_STEP_NODELIST"},
      {With(SlurmTask(), {{"PATHWAYS_CONTROLLER_PORT", "0"}}), "PATHWAYS_CONTROLLER_PORT"},
      {With(SlurmTask(), {{"PATHWAYS_CONTROLLER_PORT", "65536"}}), "PATHWAYS_CONTROLLER_PORT"},
      {With(SlurmTask(), {{"PATHWAYS_WORKER_PORT", "65535"}}), "PATHWAYS_WORKER_PORT"},  // + local 1
      {With(SlurmTask(), {{"PATHWAYS_HOSTS_PER_ISLAND", "0"}}), "PATHWAYS_HOSTS_PER_ISLAND"},
      {With(SlurmTask(), {{"PATHWAYS_LAUNCHER", "pbs"}}), "PATHWAYS_LAUNCHER"},
  };
  for (const auto& [vars, variable] : cases) {
    EXPECT_THAT(Worker(vars), Names(variable)) << variable;
  }
}

TEST(LaunchEnvironmentTest, KubernetesWorkerTakesItsOrdinalAndPodIp) {
  const WorkerLaunch w = Ok(Worker(With(WorkerPod(), {{"PATHWAYS_HOSTS_PER_ISLAND", "2"}})));
  EXPECT_EQ(w.launcher, Launcher::kKubernetes);
  EXPECT_THAT(w.controller_address, Optional(std::string("pw-controller:8470")));  // headless DNS
  EXPECT_THAT(w.listen_address, Optional(std::string("10.1.2.3:0")));
  EXPECT_THAT(w.island, Optional(1));  // ordinal 3 / 2
  EXPECT_EQ(w.description, "Kubernetes pod pw-worker-3 (ordinal 3)");
  // A Service with a cluster IP: Kubernetes' own variables.
  const WorkerLaunch ip = Ok(Worker(With(WorkerPod(), {{"PW_CONTROLLER_SERVICE_HOST", "10.96.0.7"},
                                                           {"PW_CONTROLLER_SERVICE_PORT", "8471"},
                                                           {"PATHWAYS_WORKER_PORT", "7000"},
                                                           {"POD_IP", "fd00::5"}})));
  EXPECT_THAT(ip.controller_address, Optional(std::string("10.96.0.7:8471")));
  EXPECT_THAT(ip.listen_address, Optional(std::string("[fd00::5]:7000")));
  EXPECT_THAT(Ok(Worker(Without(WorkerPod(), "POD_NAME"))).description, HasSubstr("pw-worker-3"));
}

TEST(LaunchEnvironmentTest, KubernetesControllerListensOnItsPort) {
  const ControllerLaunch c = Ok(Controller({{"PATHWAYS_CONTROLLER_SERVICE", "pw-controller"},
                                                {"PATHWAYS_CONTROLLER_PORT", "9100"}}));
  EXPECT_EQ(c.launcher, Launcher::kKubernetes);
  EXPECT_THAT(c.listen_address, Optional(std::string("0.0.0.0:9100")));
  EXPECT_THAT(Controller({{"PATHWAYS_CONTROLLER_SERVICE", "PW_Controller"}}), Names("PATHWAYS_CONTROLLER_SERVICE"));
}

TEST(LaunchEnvironmentTest, MalformedOrConflictingKubernetesVariablesAreNamed) {
  const std::vector<std::pair<Vars, std::string>> cases = {
      {With(WorkerPod(), {{"POD_NAME", "pw-worker"}}), "POD_NAME"},
      {With(WorkerPod(), {{"POD_NAME", "pw-worker-x"}, {"HOSTNAME", "pw-worker-x"}}), "POD_NAME"},
      {With(WorkerPod(), {{"POD_NAME", "-3"}, {"HOSTNAME", "-3"}}), "POD_NAME"},
      {With(WorkerPod(), {{"POD_NAME", "w-99999999999"}, {"HOSTNAME", "w-99999999999"}}), "POD_NAME"},
      {With(WorkerPod(), {{"HOSTNAME", "pw-worker-4"}}), "HOSTNAME"},
      {Without(Without(WorkerPod(), "POD_NAME"), "HOSTNAME"), "POD_NAME"},
      {Without(WorkerPod(), "POD_IP"), "POD_IP"},
      {With(WorkerPod(), {{"POD_IP", "10.1.2"}}), "POD_IP"},
      {With(WorkerPod(), {{"POD_IP", "10.1.2.3:80"}}), "POD_IP"},
      {With(WorkerPod(), {{"PATHWAYS_CONTROLLER_SERVICE", ""}}), "PATHWAYS_CONTROLLER_SERVICE"},
      {With(WorkerPod(), {{"PATHWAYS_CONTROLLER_SERVICE", "pw.controller"}}), "PATHWAYS_CONTROLLER_SERVICE"},
      {With(WorkerPod(), {{"PATHWAYS_CONTROLLER_SERVICE", std::string(64, 'a')}}), "PATHWAYS_CONTROLLER_SERVICE"},
      {With(WorkerPod(), {{"PW_CONTROLLER_SERVICE_HOST", "10.96.0.7"}}), "PW_CONTROLLER_SERVICE_PORT"},
      {With(WorkerPod(), {{"PW_CONTROLLER_SERVICE_HOST", "controller"}, {"PW_CONTROLLER_SERVICE_PORT", "1"}}),
       "PW_CONTROLLER_SERVICE_HOST"},
      {With(WorkerPod(), {{"PW_CONTROLLER_SERVICE_HOST", "10.96.0.7"}, {"PW_CONTROLLER_SERVICE_PORT", "0"}}),
       "PW_CONTROLLER_SERVICE_PORT"},
      {With(WorkerPod(), {{"PW_CONTROLLER_SERVICE_HOST", "10.96.0.7"}, {"PW_CONTROLLER_SERVICE_PORT", "8471"},
                          {"PATHWAYS_CONTROLLER_PORT", "8470"}}),
       "PATHWAYS_CONTROLLER_PORT"},
      {With(WorkerPod(), {{"SLURM_JOB_ID", "1"}}), "PATHWAYS_LAUNCHER"},  // both launchers
  };
  for (const auto& [vars, variable] : cases) {
    EXPECT_THAT(Worker(vars), Names(variable)) << variable;
  }
  // PATHWAYS_LAUNCHER settles which launcher when both are present.
  EXPECT_EQ(Ok(Worker(With(WorkerPod(), {{"SLURM_JOB_ID", "1"}, {"PATHWAYS_LAUNCHER", "kubernetes"}}))).launcher,
            Launcher::kKubernetes);
}

}  // namespace
}  // namespace pw::launch
