// What a cluster launcher's environment says about the pw-controller or pw-worker it started:
// Slurm's task variables or a Kubernetes pod's, read so that `srun pw-worker` and a StatefulSet
// of pw-worker pods join their controller with no script computing addresses.
//
// Which launcher: $PATHWAYS_LAUNCHER (slurm, kubernetes or none) when set; otherwise Slurm when
// SLURM_JOB_ID is set, Kubernetes when PATHWAYS_CONTROLLER_SERVICE is set (the manifest names
// the controller's Service; plain pods get no such variable), none when neither. Both set
// without PATHWAYS_LAUNCHER is an error.
//
// Slurm: the controller runs on the first node of SLURM_JOB_NODELIST (SLURM_NODELIST, the older
// name, must agree when both are set; SLURM_STEP_NODELIST, when set, must name nodes of the job),
// which is where a batch script runs; it listens on every interface at
// $PATHWAYS_CONTROLLER_PORT (default kDefaultControllerPort), and refuses to start elsewhere
// (SLURMD_NODENAME not the first node). A worker task (SLURM_PROCID of SLURM_NTASKS, SLURM_NODEID
// into the node list, SLURM_LOCALID on its node) joins <first node>:<port>, listens on its
// node's name (SLURMD_NODENAME must agree) at $PATHWAYS_WORKER_PORT + SLURM_LOCALID (unset: any
// free port), and with $PATHWAYS_HOSTS_PER_ISLAND = H belongs to island SLURM_PROCID / H.
//
// Kubernetes: a worker pod of a StatefulSet is named <set>-<ordinal> (POD_NAME from the
// downward API, else HOSTNAME; both set must agree) and listens on POD_IP (required) at
// $PATHWAYS_WORKER_PORT (unset: any free port); with $PATHWAYS_HOSTS_PER_ISLAND = H it belongs
// to island ordinal / H. It joins the Service $PATHWAYS_CONTROLLER_SERVICE: at
// <SERVICE>_SERVICE_HOST:<SERVICE>_SERVICE_PORT when Kubernetes set those (a Service with a
// cluster IP; <SERVICE> upper-cased, '-' as '_'), else at the Service's DNS name (a headless
// Service) and $PATHWAYS_CONTROLLER_PORT. The controller listens on every interface at
// $PATHWAYS_CONTROLLER_PORT.
//
// Errors: INVALID_ARGUMENT naming the variable that is missing, malformed (numbers are plain
// decimal digits, bounded; ports 1-65535, the controller's may be 0 for any free port), out of
// range, or in conflict with another. Pure functions of the lookup: thread-safe.
#ifndef PATHWAYS_LAUNCH_LAUNCH_ENVIRONMENT_H_
#define PATHWAYS_LAUNCH_LAUNCH_ENVIRONMENT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pw::launch {

inline constexpr int kDefaultControllerPort = 8470;

enum class Launcher { kNone, kSlurm, kKubernetes };

// Reads one environment variable (nullopt: unset).
using Environment = std::function<std::optional<std::string>(absl::string_view name)>;
Environment ProcessEnvironment();  // getenv
Environment MapEnvironment(std::map<std::string, std::string> variables);  // for tests

// What the environment says; unset fields are left to the flags' defaults. Explicit flags
// always win: the tools consult this only for what their flags left unset.
struct WorkerLaunch {
  Launcher launcher = Launcher::kNone;
  std::string description;  // e.g. "Slurm job 42, task 3 of 8 on node03"
  std::optional<std::string> controller_address;
  std::optional<std::string> listen_address;
  std::optional<int64_t> island;
};

struct ControllerLaunch {
  Launcher launcher = Launcher::kNone;
  std::string description;
  std::optional<std::string> listen_address;
};

absl::StatusOr<Launcher> DetectLauncher(const Environment& env);
absl::StatusOr<WorkerLaunch> WorkerLaunchFromEnvironment(const Environment& env);
absl::StatusOr<ControllerLaunch> ControllerLaunchFromEnvironment(const Environment& env);

}  // namespace pw::launch

#endif  // PATHWAYS_LAUNCH_LAUNCH_ENVIRONMENT_H_
