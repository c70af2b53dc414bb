// ProcessCluster: fork/exec of pw-controller and pw-worker, readiness by address file and by the
// controller's own view of joined hosts, shutdown by pid.
#include "pathways/cluster/process_cluster.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "pathways/base/logging.h"
#include "pathways/base/secret.h"
#include "pathways/base/status.h"
#include "pathways/rpc/cluster_credentials.h"
#include "pathways/rpc/grpc_controller_client.h"
#include "pathways/scheduler/scheduling_policy.h"

#ifndef PW_DEFAULT_BIN_DIR
#define PW_DEFAULT_BIN_DIR ""
#endif

namespace pw {
namespace {

bool IsExecutable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

absl::StatusOr<std::string> FindBinDir(const std::string& requested) {
  std::vector<std::string> candidates;
  if (!requested.empty()) {
    candidates.push_back(requested);
  } else {
    if (const char* env = std::getenv("PW_BIN_DIR"); env != nullptr && *env != '\0') {
      candidates.push_back(env);
    }
    candidates.push_back(ExecutableDir());
    candidates.push_back(PW_DEFAULT_BIN_DIR);
  }
  for (const std::string& dir : candidates) {
    if (dir.empty()) continue;
    if (IsExecutable(dir + "/pw-controller") && IsExecutable(dir + "/pw-worker")) return dir;
  }
  return absl::NotFoundError(absl::StrCat(
      "pw-controller and pw-worker not found in ", absl::StrJoin(candidates, ", "),
      " (build them, or set PW_BIN_DIR to their folder)"));
}

absl::StatusOr<std::string> MakeLogDir(const std::string& requested) {
  if (!requested.empty()) {
    if (::mkdir(requested.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot create log folder '", requested, "': ", std::strerror(errno)));
    }
    return requested;
  }
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/pathways-XXXXXX");
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("cannot create a log folder from '", templ,
                                            "': ", std::strerror(errno)));
  }
  return std::string(buf.data());
}

// The last `max_bytes` of a file, for errors about a process that did not come up.
std::string Tail(const std::string& path, size_t max_bytes = 2000) {
  std::ifstream f(path);
  if (!f) return "(no log)";
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  if (s.size() > max_bytes) s = "..." + s.substr(s.size() - max_bytes);
  return s.empty() ? "(empty log)" : s;
}

// Reaps `pid` if it exited; true when it is gone.
bool ReapIfExited(pid_t pid) {
  int status = 0;
  const pid_t r = ::waitpid(pid, &status, WNOHANG);
  return r == pid || (r < 0 && errno == ECHILD && !ProcessAlive(pid));
}

}  // namespace

// fork + exec. Everything the child touches is prepared first: between fork and exec only
// async-signal-safe calls are allowed in a threaded process.
absl::StatusOr<pid_t> SpawnProcess(const std::vector<std::string>& args, const SpawnOptions& options) {
  if (args.empty()) return absl::InvalidArgumentError("SpawnProcess: no program given");
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;  // the extras first: getenv finds the first of a name
  for (const std::string& e : options.env) envp.push_back(const_cast<char*>(e.c_str()));
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) envp.push_back(*e);
  envp.push_back(nullptr);
  int fd = -1;
  if (!options.log.empty()) {
    fd = ::open(options.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      return absl::InternalError(absl::StrCat("cannot open log '", options.log, "': ", std::strerror(errno)));
    }
  }
  const int devnull = fd >= 0 ? ::open("/dev/null", O_RDONLY | O_CLOEXEC) : -1;
  const pid_t launcher = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    if (devnull >= 0) ::close(devnull);
    return absl::UnavailableError(absl::StrCat("fork for ", args[0], ": ", std::strerror(err)));
  }
  if (pid == 0) {
    if (options.new_session) ::setsid();
    if (options.die_with_launcher) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != launcher) ::_exit(127);  // the launcher died before prctl took effect
    }
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    // Launcher signals (a test's SIGPIPE handling, a blocked SIGTERM) must not leak into the child.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  if (fd >= 0) ::close(fd);
  if (devnull >= 0) ::close(devnull);
  return pid;
}

std::string ExecutableDir() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "";
  std::string path(buf, static_cast<size_t>(n));
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

bool ProcessAlive(pid_t pid) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0) return errno == EPERM;
  // A zombie still answers kill(0); read its state.
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!std::getline(stat, line)) return false;
  const size_t paren = line.rfind(')');
  return !(paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z');
}

absl::Status StopProcesses(const std::vector<pid_t>& pids, absl::Duration grace) {
  for (pid_t pid : pids) {
    if (ProcessAlive(pid)) ::kill(pid, SIGTERM);
  }
  const absl::Time deadline = absl::Now() + grace;
  std::vector<pid_t> left = pids;
  while (!left.empty() && absl::Now() < deadline) {
    std::vector<pid_t> still;
    for (pid_t pid : left) {
      ReapIfExited(pid);
      if (ProcessAlive(pid)) still.push_back(pid);
    }
    left.swap(still);
    if (!left.empty()) absl::SleepFor(absl::Milliseconds(20));
  }
  for (pid_t pid : left) {
    PW_LOG(WARNING) << "pid " << pid << " did not stop within " << grace << "; killing it";
    ::kill(pid, SIGKILL);
  }
  for (pid_t pid : left) {
    int status = 0;
    ::waitpid(pid, &status, 0);  // ours: reaped; not ours: ECHILD at once
  }
  return absl::OkStatus();
}

absl::Status ProcessClusterOptions::Validate() const {
  auto check = [](int64_t v, const char* name) -> absl::Status {
    if (v >= 1) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("ProcessClusterOptions.", name, " must be >= 1, got ", v));
  };
  PW_RETURN_IF_ERROR(check(islands, "islands"));
  PW_RETURN_IF_ERROR(check(hosts_per_island, "hosts_per_island"));
  PW_RETURN_IF_ERROR(check(devices_per_host, "devices_per_host"));
  PW_RETURN_IF_ERROR(check(hosts_per_worker, "hosts_per_worker"));
  PW_RETURN_IF_ERROR(check(worker_threads, "worker_threads"));
  if (hosts_per_island % hosts_per_worker != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ProcessClusterOptions.hosts_per_worker (", hosts_per_worker,
        ") must divide hosts_per_island (", hosts_per_island, ")"));
  }
  if (hosts_per_worker > 1 && (device_kind != DeviceKind::kSim || !sim_skip_compute)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ProcessClusterOptions.hosts_per_worker ", hosts_per_worker,
        " needs device_kind sim with sim_skip_compute (hosts sharing threads cannot run kernels "
        "that block in collectives)"));
  }
  PW_RETURN_IF_ERROR(check(memory_per_device_bytes, "memory_per_device_bytes"));
  if (dashboard_port < 0 || dashboard_port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ProcessClusterOptions.dashboard_port must be in [0, 65535], got ", dashboard_port));
  }
  if (dcn_latency_us < 0 || !(dcn_gbps >= 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ProcessClusterOptions: dcn_latency_us and dcn_gbps must be >= 0, got ", dcn_latency_us,
        " and ", dcn_gbps));
  }
  if (sim_kernel_us < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("ProcessClusterOptions.sim_kernel_us must be >= 0, got ", sim_kernel_us));
  }
  if (quota.memory_per_device_bytes < 0 || quota.live_arrays < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ProcessClusterOptions.quota: limits must be >= 0 (0: none), got ",
        quota.memory_per_device_bytes, " bytes per device and ", quota.live_arrays, " arrays"));
  }
  if (scheduler_window < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ProcessClusterOptions.scheduler_window must be >= 0 (0: the policy's default), got ",
        scheduler_window));
  }
  if (absl::Status s = MakeSchedulingPolicy(scheduler).status(); !s.ok()) {
    return Annotate(s, "ProcessClusterOptions.scheduler");
  }
  if (device_kind != DeviceKind::kSim &&
      (sim_kernel_us > 0 || sim_skip_compute || sim_collectives != CollectiveAlgorithm::kRing)) {
    return absl::InvalidArgumentError(
        "ProcessClusterOptions.sim_kernel_us, sim_skip_compute and sim_collectives apply to device "
        "kind sim only");
  }
  for (const auto& [name, d] : {std::pair{"start_timeout", start_timeout},
                                std::pair{"heartbeat_timeout", heartbeat_timeout},
                                std::pair{"client_lease", client_lease}}) {
    if (d <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(absl::StrCat("ProcessClusterOptions.", name,
                                                     " must be positive, got ",
                                                     absl::FormatDuration(d)));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ProcessCluster>> ProcessCluster::Start(ProcessClusterOptions options) {
  PW_RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<ProcessCluster> cluster(new ProcessCluster(std::move(options)));
  absl::Status s = cluster->Init();
  if (!s.ok()) {
    cluster->Stop(absl::Seconds(2)).IgnoreError();
    return s;
  }
  return cluster;
}

absl::Status ProcessCluster::Init() {
  std::optional<DataPlaneKind>& data_plane = data_plane_;
  data_plane = options_.data_plane;
  if (!data_plane.has_value()) {
    if (const char* env = std::getenv("PW_DATA_PLANE"); env != nullptr && *env != '\0') {
      absl::StatusOr<DataPlaneKind> parsed = ParseDataPlaneKind(env);
      if (!parsed.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("$PW_DATA_PLANE: ", parsed.status().message()));
      }
      data_plane = *parsed;
    }
  }
  PW_ASSIGN_OR_RETURN(bin_dir_, FindBinDir(options_.bin_dir));
  PW_ASSIGN_OR_RETURN(log_dir_, MakeLogDir(options_.log_dir));
  owns_log_dir_ = options_.log_dir.empty();
  const absl::Time deadline = absl::Now() + options_.start_timeout;

  // Controller: it writes its bound address (tmp file + rename) once it serves.
  const std::string address_file = log_dir_ + "/controller.address";
  ::unlink(address_file.c_str());
  const std::string controller_log = log_dir_ + "/controller.log";
  std::vector<std::string> args = {
      bin_dir_ + "/pw-controller", "--listen", options_.controller_listen, "--address-file", address_file,
      "--heartbeat-timeout-ms", absl::StrCat(absl::ToInt64Milliseconds(options_.heartbeat_timeout)),
      "--scheduler", options_.scheduler, "--scheduler-window", absl::StrCat(options_.scheduler_window),
      "--client-lease-ms", absl::StrCat(absl::ToInt64Milliseconds(options_.client_lease))};
  if (options_.quota.memory_per_device_bytes > 0) {
    args.insert(args.end(), {"--client-memory-quota", absl::StrCat(options_.quota.memory_per_device_bytes)});
  }
  if (options_.quota.live_arrays > 0) {
    args.insert(args.end(), {"--client-array-quota", absl::StrCat(options_.quota.live_arrays)});
  }
  if (!options_.trace) args.push_back("--no-trace");
  // pw-controller writes the dashboard's URL before its address.
  const std::string dashboard_file = log_dir_ + "/dashboard.url";
  ::unlink(dashboard_file.c_str());
  if (options_.dashboard) {
    args.insert(args.end(), {"--dashboard-host", options_.dashboard_host, "--dashboard-port",
                             absl::StrCat(options_.dashboard_port), "--dashboard-url-file", dashboard_file});
  } else {
    args.push_back("--no-dashboard");
  }
  PW_ASSIGN_OR_RETURN(credentials_.cluster_token, RandomToken());
  PW_ASSIGN_OR_RETURN(credentials_.operator_token, RandomToken());
  PW_ASSIGN_OR_RETURN(controller_pid_,
                      SpawnProcess(args, {.log = controller_log,
                                          .new_session = options_.detach,
                                          .die_with_launcher = !options_.detach,
                                          .env = {"PATHWAYS_TOKEN=" + credentials_.cluster_token,
                                                  "PATHWAYS_OPERATOR_TOKEN=" + credentials_.operator_token}}));
  while (true) {
    std::ifstream f(address_file);
    if (f && std::getline(f, address_) && !address_.empty()) break;
    if (ReapIfExited(controller_pid_)) {
      controller_pid_ = -1;
      return absl::UnavailableError(
          absl::StrCat("pw-controller exited before serving; its log (", controller_log, "):\n",
                       Tail(controller_log)));
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("pw-controller did not write its address within ", absl::FormatDuration(options_.start_timeout),
                       "; its log (", controller_log, "):\n", Tail(controller_log)));
    }
    absl::SleepFor(absl::Milliseconds(5));
  }

  if (options_.dashboard) {
    std::ifstream f(dashboard_file);
    std::getline(f, dashboard_url_);
  }
  // Clients and tools of this process find the credentials by the address.
  RememberClusterCredentials(address_, credentials_);

  // Workers, each serving hosts_per_worker hosts of one island.
  const int64_t processes_per_island = options_.hosts_per_island / options_.hosts_per_worker;
  for (int64_t island = 0; island < options_.islands; ++island) {
    for (int64_t p = 0; p < processes_per_island; ++p) PW_RETURN_IF_ERROR(SpawnWorker(island));
  }

  // Ready when the controller itself counts every host.
  PW_ASSIGN_OR_RETURN(std::unique_ptr<GrpcControllerClient> client,
                      GrpcControllerClient::Connect(address_, options_.start_timeout));
  const size_t want = static_cast<size_t>(options_.islands * options_.hosts_per_island);
  while (true) {
    const ClusterStatus status = client->Status();
    if (status.hosts.size() >= want && ReadWorkerHosts()) return absl::OkStatus();
    for (size_t i = 0; i < worker_pids_.size(); ++i) {
      if (ReapIfExited(worker_pids_[i])) {
        const std::string log = absl::StrCat(log_dir_, "/worker-", i, ".log");
        worker_pids_[i] = -1;
        return absl::UnavailableError(absl::StrCat("pw-worker ", i, " exited before joining; its log (",
                                                   log, "):\n", Tail(log)));
      }
    }
    if (ReapIfExited(controller_pid_)) {
      controller_pid_ = -1;
      return absl::UnavailableError(absl::StrCat("pw-controller exited while workers joined; its log (",
                                                 controller_log, "):\n", Tail(controller_log)));
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          status.hosts.size(), " of ", want, " workers joined within ", absl::FormatDuration(options_.start_timeout),
          "; logs in ", log_dir_));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

std::vector<std::string> ProcessCluster::WorkerArgs(int64_t island, int64_t index) const {
  std::vector<std::string> wargs;
  if (options_.worker_prefix) wargs = options_.worker_prefix(index);
  const std::vector<std::string> worker = {
      bin_dir_ + "/pw-worker", "--controller", address_, "--listen",
      options_.worker_listen ? options_.worker_listen(index) : std::string("127.0.0.1:0"),
      "--island", absl::StrCat(island), "--devices", absl::StrCat(options_.devices_per_host),
      "--memory-per-device", absl::StrCat(options_.memory_per_device_bytes)};
  wargs.insert(wargs.end(), worker.begin(), worker.end());
  if (!options_.trace) wargs.push_back("--no-trace");
  if (options_.dcn_latency_us > 0 || options_.dcn_gbps > 0) {
    wargs.insert(wargs.end(), {"--dcn-latency-us", absl::StrCat(options_.dcn_latency_us),
                               "--dcn-gbps", absl::StrCat(options_.dcn_gbps)});
  }
  if (data_plane_.has_value()) {
    wargs.push_back("--data-plane");
    wargs.push_back(std::string(DataPlaneKindName(*data_plane_)));
  }
  if (options_.device_kind == DeviceKind::kSim) {
    wargs.insert(wargs.end(), {"--device-kind", "sim", "--sim-kernel-us",
                               absl::StrCat(options_.sim_kernel_us)});
    if (options_.sim_skip_compute) wargs.push_back("--sim-skip-compute");
    wargs.insert(wargs.end(), {"--sim-collectives",
                               std::string(CollectiveAlgorithmName(options_.sim_collectives))});
  }
  if (options_.hosts_per_worker > 1) {
    wargs.insert(wargs.end(), {"--hosts", absl::StrCat(options_.hosts_per_worker), "--threads",
                               absl::StrCat(options_.worker_threads)});
  }
  return wargs;
}

absl::Status ProcessCluster::SpawnWorker(int64_t island) {
  const int64_t index = static_cast<int64_t>(worker_pids_.size());
  PW_ASSIGN_OR_RETURN(pid_t pid,
                      SpawnProcess(WorkerArgs(island, index),
                                   {.log = absl::StrCat(log_dir_, "/worker-", index, ".log"),
                                    .new_session = options_.detach,
                                    .die_with_launcher = !options_.detach,
                                    .env = {"PATHWAYS_OPERATOR_TOKEN=" + credentials_.operator_token}}));
  worker_pids_.push_back(pid);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ProcessCluster::AddWorker(int64_t island) {
  if (island < 0 || island >= options_.islands) {
    return absl::InvalidArgumentError(absl::StrCat("AddWorker: island ", island, " out of range [0, ",
                                                   options_.islands, ")"));
  }
  PW_RETURN_IF_ERROR(SpawnWorker(island));
  const int64_t index = static_cast<int64_t>(worker_pids_.size()) - 1;
  const absl::Time deadline = absl::Now() + options_.start_timeout;
  while (!ReadWorkerHosts()) {
    if (ReapIfExited(worker_pids_[index])) {
      const std::string log = absl::StrCat(log_dir_, "/worker-", index, ".log");
      worker_pids_[index] = -1;
      return absl::UnavailableError(absl::StrCat("pw-worker ", index, " exited before joining; its log (",
                                                 log, "):\n", Tail(log)));
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("pw-worker ", index, " did not join within ",
                                                      absl::FormatDuration(options_.start_timeout)));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return index;
}

bool ProcessCluster::ReadWorkerHosts() {
  // pw-worker prints "pw-worker host:<id> listening on <address>" once each of its hosts joined.
  const size_t per_worker = static_cast<size_t>(options_.hosts_per_worker);
  std::vector<std::vector<int64_t>> hosts;
  for (size_t i = 0; i < worker_pids_.size(); ++i) {
    std::ifstream f(absl::StrCat(log_dir_, "/worker-", i, ".log"));
    std::string line;
    std::vector<int64_t> mine;
    while (mine.size() < per_worker && std::getline(f, line)) {
      const size_t at = line.find("pw-worker host:");
      if (at == std::string::npos) continue;
      const size_t start = at + std::strlen("pw-worker host:");
      const size_t end = line.find(' ', start);
      int64_t host = -1;
      if (absl::SimpleAtoi(absl::string_view(line).substr(start, end - start), &host) && host >= 0) {
        mine.push_back(host);
      }
    }
    if (mine.size() < per_worker) return false;
    hosts.push_back(std::move(mine));
  }
  worker_hosts_ = std::move(hosts);
  return true;
}

absl::StatusOr<int64_t> ProcessCluster::WorkerIndexOf(int64_t host) const {
  for (size_t i = 0; i < worker_hosts_.size(); ++i) {
    for (int64_t h : worker_hosts_[i]) {
      if (h == host) return static_cast<int64_t>(i);
    }
  }
  return absl::NotFoundError(absl::StrCat("no worker of this cluster serves host:", host));
}

ProcessCluster::~ProcessCluster() {
  if (!released_) Stop().IgnoreError();
}

absl::Status ProcessCluster::SignalWorker(int64_t index, int signal) {
  if (index < 0 || index >= static_cast<int64_t>(worker_pids_.size())) {
    return absl::InvalidArgumentError(absl::StrCat("SignalWorker: no worker ", index, " (cluster has ",
                                                   worker_pids_.size(), ")"));
  }
  const pid_t pid = worker_pids_[index];
  if (pid <= 0 || ::kill(pid, signal) != 0) {
    return absl::NotFoundError(absl::StrCat("SignalWorker: worker ", index, " (pid ", pid, ") is not running"));
  }
  if (signal == SIGKILL) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    worker_pids_[index] = -1;
  } else if (signal == SIGSTOP) {
    // kill() returns before every thread of the process has stopped (the stop begins when one
    // of them is next scheduled): wait until it has, so nothing it does comes after the return.
    int status = 0;
    if (::waitpid(pid, &status, WUNTRACED) != pid || !WIFSTOPPED(status)) {
      return absl::InternalError(absl::StrCat("SignalWorker: worker ", index, " (pid ", pid,
                                              ") did not stop (wait status ", status, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status ProcessCluster::Stop(absl::Duration grace) {
  if (stopped_) return absl::OkStatus();
  stopped_ = true;
  // Workers first: a worker outliving its controller would only retry and then exit.
  std::vector<pid_t> workers;
  for (pid_t pid : worker_pids_) {
    if (pid > 0) {
      ::kill(pid, SIGCONT);  // a stopped worker cannot handle SIGTERM
      workers.push_back(pid);
    }
  }
  PW_RETURN_IF_ERROR(StopProcesses(workers, grace));
  if (controller_pid_ > 0) PW_RETURN_IF_ERROR(StopProcesses({controller_pid_}, grace));
  // A folder of our own making goes with the cluster (PW_KEEP_LOGS=1 keeps it for a post-mortem).
  if (owns_log_dir_ && !log_dir_.empty() && std::getenv("PW_KEEP_LOGS") == nullptr) {
    std::error_code ec;
    std::filesystem::remove_all(log_dir_, ec);
  }
  return absl::OkStatus();
}

}  // namespace pw
