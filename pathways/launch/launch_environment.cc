// Launch environments: variable parsing with every error naming its variable, then the Slurm
// and Kubernetes rules of launch_environment.h.
#include "pathways/launch/launch_environment.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "pathways/base/status.h"
#include "pathways/launch/hostlist.h"

namespace pw::launch {
namespace {

constexpr size_t kMaxDigits = 9;
constexpr int64_t kMaxTasks = kMaxHostlistHosts;
constexpr size_t kMaxPodName = 253;

absl::Status Invalid(absl::string_view variable, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(variable, ": ", what));
}

std::string Shown(absl::string_view value) {
  return absl::StrCat("'", absl::CHexEscape(value.substr(0, 80)), value.size() > 80 ? "...'" : "'");
}

absl::StatusOr<std::string> Required(const Environment& env, absl::string_view name, absl::string_view why) {
  std::optional<std::string> value = env(name);
  if (!value.has_value()) return Invalid(name, absl::StrCat("not set (", why, ")"));
  return *std::move(value);
}

// A plain decimal number in [0, max].
absl::StatusOr<int64_t> ParseNumber(absl::string_view name, absl::string_view text, int64_t max) {
  int64_t value = 0;
  if (text.empty() || text.size() > kMaxDigits ||
      !std::all_of(text.begin(), text.end(), [](char c) { return absl::ascii_isdigit(c); }) ||
      !absl::SimpleAtoi(text, &value)) {
    return Invalid(name, absl::StrCat("expected a non-negative integer of at most ", kMaxDigits,
                                      " digits, got ", Shown(text)));
  }
  if (value > max) return Invalid(name, absl::StrCat("must be at most ", max, ", got ", value));
  return value;
}

absl::StatusOr<std::optional<int64_t>> OptionalNumber(const Environment& env, absl::string_view name,
                                                      int64_t max) {
  std::optional<std::string> text = env(name);
  if (!text.has_value()) return std::optional<int64_t>();
  PW_ASSIGN_OR_RETURN(int64_t value, ParseNumber(name, *text, max));
  return std::optional<int64_t>(value);
}

absl::StatusOr<int64_t> RequiredNumber(const Environment& env, absl::string_view name, int64_t max,
                                       absl::string_view why) {
  PW_ASSIGN_OR_RETURN(std::string text, Required(env, name, why));
  return ParseNumber(name, text, max);
}

// A port in [1, 65535] ([0, ...] when `allow_zero`: any free port).
absl::StatusOr<int64_t> ParsePort(absl::string_view name, absl::string_view text, bool allow_zero) {
  PW_ASSIGN_OR_RETURN(int64_t port, ParseNumber(name, text, 65535));
  if (port == 0 && !allow_zero) return Invalid(name, "port 0 names no port here; give the real one");
  return port;
}

absl::StatusOr<int64_t> ControllerPort(const Environment& env, bool allow_zero) {
  std::optional<std::string> text = env("PATHWAYS_CONTROLLER_PORT");
  if (!text.has_value()) return kDefaultControllerPort;
  return ParsePort("PATHWAYS_CONTROLLER_PORT", *text, allow_zero);
}

// $PATHWAYS_WORKER_PORT + offset, or 0 (any free port) when unset.
absl::StatusOr<int64_t> WorkerPort(const Environment& env, int64_t offset) {
  std::optional<std::string> text = env("PATHWAYS_WORKER_PORT");
  if (!text.has_value()) return 0;
  PW_ASSIGN_OR_RETURN(int64_t base, ParsePort("PATHWAYS_WORKER_PORT", *text, false));
  if (base + offset > 65535) {
    return Invalid("PATHWAYS_WORKER_PORT", absl::StrCat(base, " + local task ", offset, " is past port 65535"));
  }
  return base + offset;
}

absl::StatusOr<std::optional<int64_t>> Island(const Environment& env, int64_t rank) {
  PW_ASSIGN_OR_RETURN(std::optional<int64_t> per_island,
                      OptionalNumber(env, "PATHWAYS_HOSTS_PER_ISLAND", kMaxTasks));
  if (!per_island.has_value()) return std::optional<int64_t>();
  if (*per_island == 0) return Invalid("PATHWAYS_HOSTS_PER_ISLAND", "must be at least 1");
  return std::optional<int64_t>(rank / *per_island);
}

// ---- Slurm ----------------------------------------------------------------------------------

struct SlurmJob {
  std::string id;
  std::vector<std::string> nodes;  // SLURM_JOB_NODELIST, expanded
  // The job step's nodes (SLURM_STEP_NODELIST, expanded; the job's when unset): what
  // SLURM_NODEID counts.
  std::vector<std::string> step_nodes;
  std::string step_nodes_name = "SLURM_JOB_NODELIST";
};

absl::StatusOr<SlurmJob> ReadSlurmJob(const Environment& env) {
  SlurmJob job;
  PW_ASSIGN_OR_RETURN(job.id, Required(env, "SLURM_JOB_ID", "the Slurm job"));
  PW_RETURN_IF_ERROR(ParseNumber("SLURM_JOB_ID", job.id, 999999999).status());
  std::optional<std::string> list = env("SLURM_JOB_NODELIST");
  const std::optional<std::string> old = env("SLURM_NODELIST");
  absl::string_view name = "SLURM_JOB_NODELIST";
  if (!list.has_value()) {
    if (!old.has_value()) return Invalid("SLURM_JOB_NODELIST", "not set (the job's nodes)");
    list = old;
    name = "SLURM_NODELIST";
  } else if (old.has_value() && *old != *list) {
    return Invalid("SLURM_NODELIST", absl::StrCat(Shown(*old), " disagrees with SLURM_JOB_NODELIST ",
                                                  Shown(*list)));
  }
  PW_ASSIGN_OR_RETURN(job.nodes, ExpandHostlist(*list, name));
  if (std::optional<std::string> step = env("SLURM_STEP_NODELIST"); step.has_value()) {
    PW_ASSIGN_OR_RETURN(job.step_nodes, ExpandHostlist(*step, "SLURM_STEP_NODELIST"));
    for (const std::string& node : job.step_nodes) {
      if (std::find(job.nodes.begin(), job.nodes.end(), node) == job.nodes.end()) {
        return Invalid("SLURM_STEP_NODELIST", absl::StrCat("node '", node, "' is not in ", name));
      }
    }
    job.step_nodes_name = "SLURM_STEP_NODELIST";
  } else {
    job.step_nodes = job.nodes;
    job.step_nodes_name = std::string(name);
  }
  return job;
}

absl::StatusOr<WorkerLaunch> SlurmWorker(const Environment& env) {
  PW_ASSIGN_OR_RETURN(SlurmJob job, ReadSlurmJob(env));
  PW_ASSIGN_OR_RETURN(int64_t tasks, RequiredNumber(env, "SLURM_NTASKS", kMaxTasks, "the job step's tasks"));
  if (tasks == 0) return Invalid("SLURM_NTASKS", "must be at least 1");
  PW_ASSIGN_OR_RETURN(int64_t rank, RequiredNumber(env, "SLURM_PROCID", kMaxTasks, "this task's rank"));
  if (rank >= tasks) {
    return Invalid("SLURM_PROCID", absl::StrCat(rank, " is not below SLURM_NTASKS ", tasks));
  }
  PW_ASSIGN_OR_RETURN(int64_t node_id, RequiredNumber(env, "SLURM_NODEID", kMaxTasks, "this task's node"));
  // SLURM_NODEID counts the nodes of the job step (srun's), which may be fewer than the job's.
  if (node_id >= static_cast<int64_t>(job.step_nodes.size())) {
    return Invalid("SLURM_NODEID", absl::StrCat(node_id, " is past the ", job.step_nodes.size(),
                                                " node(s) of ", job.step_nodes_name));
  }
  const std::string& node = job.step_nodes[node_id];
  if (std::optional<std::string> name = env("SLURMD_NODENAME"); name.has_value() && *name != node) {
    return Invalid("SLURMD_NODENAME", absl::StrCat(Shown(*name), " is not node ", node_id, " '", node,
                                                   "' of ", job.step_nodes_name, " (SLURM_NODEID)"));
  }
  PW_ASSIGN_OR_RETURN(std::optional<int64_t> local, OptionalNumber(env, "SLURM_LOCALID", kMaxTasks));
  if (local.value_or(0) >= tasks) {
    return Invalid("SLURM_LOCALID", absl::StrCat(*local, " is not below SLURM_NTASKS ", tasks));
  }
  PW_ASSIGN_OR_RETURN(int64_t controller_port, ControllerPort(env, /*allow_zero=*/false));
  PW_ASSIGN_OR_RETURN(int64_t port, WorkerPort(env, local.value_or(0)));
  WorkerLaunch launch{
      .launcher = Launcher::kSlurm,
      .description = absl::StrCat("Slurm job ", job.id, ", task ", rank, " of ", tasks, " on ", node,
                                  " (local task ", local.value_or(0), ")"),
      .controller_address = absl::StrCat(job.nodes[0], ":", controller_port),
      .listen_address = absl::StrCat(node, ":", port)};
  PW_ASSIGN_OR_RETURN(launch.island, Island(env, rank));
  return launch;
}

absl::StatusOr<ControllerLaunch> SlurmController(const Environment& env) {
  PW_ASSIGN_OR_RETURN(SlurmJob job, ReadSlurmJob(env));
  if (std::optional<std::string> name = env("SLURMD_NODENAME"); name.has_value() && *name != job.nodes[0]) {
    return Invalid("SLURMD_NODENAME",
                   absl::StrCat("pw-controller runs on ", Shown(*name), " but the workers look for it on '",
                                job.nodes[0], "', the first node of the job's node list (run it from "
                                "the batch script, or give --listen and the workers --controller)"));
  }
  PW_ASSIGN_OR_RETURN(int64_t port, ControllerPort(env, /*allow_zero=*/true));
  return ControllerLaunch{.launcher = Launcher::kSlurm,
                          .description = absl::StrCat("Slurm job ", job.id, " on ", job.nodes[0]),
                          .listen_address = absl::StrCat("0.0.0.0:", port)};
}

// ---- Kubernetes -----------------------------------------------------------------------------

// An IP address as the host part of "host:port" (IPv6 in brackets).
absl::StatusOr<std::string> AddressHost(absl::string_view name, const std::string& ip) {
  in6_addr parsed;
  if (::inet_pton(AF_INET, ip.c_str(), &parsed) == 1) return ip;
  if (::inet_pton(AF_INET6, ip.c_str(), &parsed) == 1) return absl::StrCat("[", ip, "]");
  return Invalid(name, absl::StrCat("expected an IP address, got ", Shown(ip)));
}

// A Service name: an RFC 1035 label (lower-case letters, digits, '-'; a letter first; at most 63).
absl::StatusOr<std::string> ControllerService(const Environment& env) {
  PW_ASSIGN_OR_RETURN(std::string service,
                      Required(env, "PATHWAYS_CONTROLLER_SERVICE", "the controller's Service"));
  const bool ok = !service.empty() && service.size() <= 63 && absl::ascii_islower(service[0]) &&
                  service.back() != '-' &&
                  std::all_of(service.begin(), service.end(), [](char c) {
                    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-';
                  });
  if (!ok) {
    return Invalid("PATHWAYS_CONTROLLER_SERVICE",
                   absl::StrCat("expected a Service name (lower-case letters, digits and '-', a "
                                "letter first, at most 63), got ", Shown(service)));
  }
  return service;
}

absl::StatusOr<std::string> KubernetesControllerAddress(const Environment& env) {
  PW_ASSIGN_OR_RETURN(std::string service, ControllerService(env));
  const std::string prefix = absl::AsciiStrToUpper(absl::StrReplaceAll(service, {{"-", "_"}}));
  const std::string host_var = prefix + "_SERVICE_HOST", port_var = prefix + "_SERVICE_PORT";
  std::optional<std::string> host = env(host_var);
  if (!host.has_value()) {
    PW_ASSIGN_OR_RETURN(int64_t port, ControllerPort(env, /*allow_zero=*/false));
    return absl::StrCat(service, ":", port);  // a headless Service: its DNS name
  }
  PW_ASSIGN_OR_RETURN(std::string port_text, Required(env, port_var, absl::StrCat("set with ", host_var)));
  PW_ASSIGN_OR_RETURN(int64_t port, ParsePort(port_var, port_text, false));
  if (std::optional<std::string> mine = env("PATHWAYS_CONTROLLER_PORT"); mine.has_value() && *mine != port_text) {
    return Invalid("PATHWAYS_CONTROLLER_PORT",
                   absl::StrCat(Shown(*mine), " disagrees with ", port_var, " ", Shown(port_text)));
  }
  PW_ASSIGN_OR_RETURN(std::string address_host, AddressHost(host_var, *host));
  return absl::StrCat(address_host, ":", port);
}

// The pod's name and its StatefulSet ordinal.
absl::StatusOr<std::pair<std::string, int64_t>> PodOrdinal(const Environment& env) {
  std::optional<std::string> pod = env("POD_NAME");
  const std::optional<std::string> hostname = env("HOSTNAME");
  absl::string_view name = "POD_NAME";
  if (!pod.has_value()) {
    if (!hostname.has_value()) {
      return Invalid("POD_NAME", "not set, nor HOSTNAME (add POD_NAME from the downward API: fieldRef metadata.name)");
    }
    pod = hostname;
    name = "HOSTNAME";
  } else if (hostname.has_value() && *hostname != *pod) {
    return Invalid("HOSTNAME", absl::StrCat(Shown(*hostname), " disagrees with POD_NAME ", Shown(*pod)));
  }
  const size_t dash = pod->rfind('-');
  if (pod->size() > kMaxPodName || dash == std::string::npos || dash == 0) {
    return Invalid(name, absl::StrCat("expected a StatefulSet pod name <set>-<ordinal>, got ", Shown(*pod)));
  }
  absl::StatusOr<int64_t> ordinal = ParseNumber(name, absl::string_view(*pod).substr(dash + 1), kMaxTasks);
  if (!ordinal.ok()) {
    return Invalid(name, absl::StrCat("expected a StatefulSet pod name <set>-<ordinal>, got ", Shown(*pod)));
  }
  return std::make_pair(*pod, *ordinal);
}

absl::StatusOr<WorkerLaunch> KubernetesWorker(const Environment& env) {
  PW_ASSIGN_OR_RETURN(auto pod, PodOrdinal(env));
  PW_ASSIGN_OR_RETURN(std::string ip, Required(env, "POD_IP", "add it from the downward API: fieldRef status.podIP"));
  PW_ASSIGN_OR_RETURN(std::string host, AddressHost("POD_IP", ip));
  PW_ASSIGN_OR_RETURN(int64_t port, WorkerPort(env, 0));
  WorkerLaunch launch{.launcher = Launcher::kKubernetes,
                      .description = absl::StrCat("Kubernetes pod ", pod.first, " (ordinal ", pod.second, ")"),
                      .listen_address = absl::StrCat(host, ":", port)};
  PW_ASSIGN_OR_RETURN(launch.controller_address, KubernetesControllerAddress(env));
  PW_ASSIGN_OR_RETURN(launch.island, Island(env, pod.second));
  return launch;
}

absl::StatusOr<ControllerLaunch> KubernetesController(const Environment& env) {
  PW_ASSIGN_OR_RETURN(std::string service, ControllerService(env));
  PW_ASSIGN_OR_RETURN(int64_t port, ControllerPort(env, /*allow_zero=*/true));
  return ControllerLaunch{.launcher = Launcher::kKubernetes,
                          .description = absl::StrCat("Kubernetes Service ", service),
                          .listen_address = absl::StrCat("0.0.0.0:", port)};
}

}  // namespace

Environment ProcessEnvironment() {
  return [](absl::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

Environment MapEnvironment(std::map<std::string, std::string> variables) {
  return [variables = std::move(variables)](absl::string_view name) -> std::optional<std::string> {
    auto it = variables.find(std::string(name));
    if (it == variables.end()) return std::nullopt;
    return it->second;
  };
}

absl::StatusOr<Launcher> DetectLauncher(const Environment& env) {
  if (std::optional<std::string> chosen = env("PATHWAYS_LAUNCHER"); chosen.has_value()) {
    if (*chosen == "slurm") return Launcher::kSlurm;
    if (*chosen == "kubernetes") return Launcher::kKubernetes;
    if (*chosen == "none") return Launcher::kNone;
    return Invalid("PATHWAYS_LAUNCHER", absl::StrCat("expected slurm, kubernetes or none, got ", Shown(*chosen)));
  }
  const bool slurm = env("SLURM_JOB_ID").has_value();
  const bool kubernetes = env("PATHWAYS_CONTROLLER_SERVICE").has_value();
  if (slurm && kubernetes) {
    return Invalid("PATHWAYS_LAUNCHER",
                   "not set, and both SLURM_JOB_ID (Slurm) and PATHWAYS_CONTROLLER_SERVICE (Kubernetes) "
                   "are: set it to slurm or kubernetes");
  }
  return slurm ? Launcher::kSlurm : kubernetes ? Launcher::kKubernetes : Launcher::kNone;
}

absl::StatusOr<WorkerLaunch> WorkerLaunchFromEnvironment(const Environment& env) {
  PW_ASSIGN_OR_RETURN(Launcher launcher, DetectLauncher(env));
  switch (launcher) {
    case Launcher::kSlurm: return SlurmWorker(env);
    case Launcher::kKubernetes: return KubernetesWorker(env);
    case Launcher::kNone: break;
  }
  return WorkerLaunch{};
}

absl::StatusOr<ControllerLaunch> ControllerLaunchFromEnvironment(const Environment& env) {
  PW_ASSIGN_OR_RETURN(Launcher launcher, DetectLauncher(env));
  switch (launcher) {
    case Launcher::kSlurm: return SlurmController(env);
    case Launcher::kKubernetes: return KubernetesController(env);
    case Launcher::kNone: break;
  }
  return ControllerLaunch{};
}

}  // namespace pw::launch
