// ProcessCluster: a Pathways cluster of real processes on this machine — one pw-controller and
// one pw-worker per host, talking gRPC — started and stopped by pid. `pw up` / `pw down`, the
// cross-process tests and the cluster benchmarks use it. Workers started by another launcher
// (Slurm, Kubernetes, mpirun) join the same way: `pw-worker --controller ADDRESS`.
#ifndef PATHWAYS_CLUSTER_PROCESS_CLUSTER_H_
#define PATHWAYS_CLUSTER_PROCESS_CLUSTER_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pathways/rpc/cluster_credentials.h"
#include "pathways/service/controller_service.h"

#include "pathways/dataplane/data_plane_kind.h"
#include "pathways/device/device_kind.h"
#include "pathways/device/sim/interconnect_model.h"

namespace pw {

struct ProcessClusterOptions {
  // Folder holding pw-controller and pw-worker. Empty: $PW_BIN_DIR, else the folder of the
  // running executable if it holds them, else this build's pathways/tools folder.
  std::string bin_dir;
  int64_t islands = 1;
  int64_t hosts_per_island = 2;
  int64_t devices_per_host = 2;
  // Hosts each pw-worker process serves (its --hosts): more than one needs simulated devices
  // that skip their kernels, and must divide hosts_per_island. They share an event loop of
  // worker_threads threads (--threads), so a few processes stand for hundreds of hosts.
  int64_t hosts_per_worker = 1;
  int64_t worker_threads = 1;
  int64_t memory_per_device_bytes = int64_t{1} << 30;
  // Workers record trace events (recent ones are kept; `pw trace` collects them).
  bool trace = true;
  // The controller's scheduling policy per island and admission window (0: the policy's
  // default), as ControllerServerOptions.
  std::string scheduler = "fifo";
  int64_t scheduler_window = 0;
  // Every client's limits on its arrays (0: none), as ControllerOptions::quota.
  ArrayQuota quota;
  // A client that renews no lease for this long is disconnected (ControllerServerOptions).
  absl::Duration client_lease = absl::Seconds(4);
  // Where each process writes its output (controller.log, worker-<i>.log). Empty: a new
  // folder under $TMPDIR (or /tmp), removed by Stop() unless PW_KEEP_LOGS is set.
  std::string log_dir;
  // Children start in their own session, so they outlive the launcher and a terminal's
  // Ctrl-C (pw up). Otherwise (tests, benchmarks) they stay in the launcher's group and get
  // SIGTERM if the launcher dies (SpawnOptions::die_with_launcher).
  bool detach = false;
  // Each worker's --data-plane; unset: $PW_DATA_PLANE when set (so a test or benchmark runs on
  // the other plane unchanged), else the worker's default (tcp).
  std::optional<DataPlaneKind> data_plane;
  // Each worker's --device-kind: kCpu (kernels run on this machine's cores) or kSim
  // (simulated accelerators, SimDevice): every kernel then takes sim_kernel_us, or with 0 the
  // performance model's time for its cost; sim_skip_compute skips computing it (timing studies
  // only: outputs are left undefined).
  DeviceKind device_kind = DeviceKind::kCpu;
  int64_t sim_kernel_us = 0;
  bool sim_skip_compute = false;
  // How the simulated devices model collectives (--sim-collectives).
  CollectiveAlgorithm sim_collectives = CollectiveAlgorithm::kRing;
  // Each worker's --dcn-latency-us / --dcn-gbps: pushes between islands paced to a modelled
  // data-center network (WorkerServerOptions::dcn_latency_us, dcn_gbps).
  int64_t dcn_latency_us = 0;
  double dcn_gbps = 0;
  absl::Duration start_timeout = absl::Seconds(30);
  absl::Duration heartbeat_timeout = absl::Milliseconds(1500);
  // Where pw-controller listens (port 0: a free one).
  std::string controller_listen = "127.0.0.1:0";
  // pw-controller's dashboard (--dashboard-host / --dashboard-port; port 0: a free one). Off by
  // default: it asks every host for its status once a second, beside whatever a test or a
  // benchmark measures; `pw up` turns it on. A host other than loopback needs the operator
  // token per request.
  bool dashboard = false;
  std::string dashboard_host = "127.0.0.1";
  int64_t dashboard_port = 0;
  // Per worker, by its index in start order: its --listen address, and a command its pw-worker
  // runs under (e.g. {"/usr/sbin/ip", "netns", "exec", "ns1"}: a worker in a network namespace
  // of its own, for partition tests; the command must exec the worker, keeping its pid).
  // Unset: "127.0.0.1:0" and none.
  std::function<std::string(int64_t index)> worker_listen;
  std::function<std::vector<std::string>(int64_t index)> worker_prefix;

  // INVALID_ARGUMENT naming the field: non-positive sizes or timeouts, sim options without sim
  // devices.
  absl::Status Validate() const;
};

class ProcessCluster {
 public:
  // Starts the controller, waits for its address, starts the workers and waits until every one
  // has joined. Errors: INVALID_ARGUMENT for bad sizes; NOT_FOUND when a binary is missing;
  // DEADLINE_EXCEEDED / UNAVAILABLE naming the process that did not come up, with the end of
  // its log. Whatever was started is stopped again on error.
  static absl::StatusOr<std::unique_ptr<ProcessCluster>> Start(ProcessClusterOptions options);
  // Stop(), unless Release() was called.
  ~ProcessCluster();
  ProcessCluster(const ProcessCluster&) = delete;
  ProcessCluster& operator=(const ProcessCluster&) = delete;

  // The controller's "ip:port", for GrpcControllerClient::Connect / PATHWAYS_ADDRESS.
  const std::string& address() const { return address_; }
  pid_t controller_pid() const { return controller_pid_; }
  // The dashboard's "http://host:port/" (empty without one).
  const std::string& dashboard_url() const { return dashboard_url_; }
  // The secrets the controller was started with (random per cluster): clients present the
  // cluster token to connect, the operator token stops the cluster and reads everyone's status.
  const ClusterCredentials& credentials() const { return credentials_; }
  const std::vector<pid_t>& worker_pids() const { return worker_pids_; }
  // The host ids the controller gave the hosts of worker process i (read from the lines it
  // prints once joined).
  const std::vector<std::vector<int64_t>>& worker_hosts() const { return worker_hosts_; }
  // The index of the worker process serving `host`; NOT_FOUND if none.
  absl::StatusOr<int64_t> WorkerIndexOf(int64_t host) const;
  const std::string& log_dir() const { return log_dir_; }
  const ProcessClusterOptions& options() const { return options_; }

  // Sends `signal` to worker `index` (SIGKILL: the host dies; SIGSTOP: it stops answering).
  // Returns once the process has died (SIGKILL) or stopped (SIGSTOP).
  // INVALID_ARGUMENT for an index out of range.
  absl::Status SignalWorker(int64_t index, int signal);

  // Starts one more pw-worker in `island` (a replacement for a lost host joins as a new host)
  // and waits until it joined; its index in worker_pids(). Errors as Start's for a worker.
  absl::StatusOr<int64_t> AddWorker(int64_t island = 0);

  // Stops every process: the controller is asked to shut down, then every pid gets SIGTERM,
  // and SIGKILL after `grace`. Reaps children. Idempotent.
  absl::Status Stop(absl::Duration grace = absl::Seconds(5));

  // Forgets the processes without stopping them (pw up leaves them running).
  void Release() { released_ = true; }

 private:
  explicit ProcessCluster(ProcessClusterOptions options) : options_(std::move(options)) {}
  absl::Status Init();
  // Fills worker_hosts_ from the workers' logs; false until every worker printed all its hosts.
  bool ReadWorkerHosts();
  std::vector<std::string> WorkerArgs(int64_t island, int64_t index) const;
  // Starts a worker of `island` (not waiting for it to join).
  absl::Status SpawnWorker(int64_t island);

  const ProcessClusterOptions options_;
  std::string bin_dir_;
  std::string log_dir_;
  bool owns_log_dir_ = false;
  std::string address_;
  std::string dashboard_url_;
  ClusterCredentials credentials_;
  pid_t controller_pid_ = -1;
  std::vector<pid_t> worker_pids_;
  std::vector<std::vector<int64_t>> worker_hosts_;
  std::optional<DataPlaneKind> data_plane_;  // the workers' --data-plane (unset: their default)
  bool released_ = false;
  bool stopped_ = false;
};

// Starts `argv` (argv[0] is the program's path) as a child process. `log` empty: the child shares
// this process's stdout and stderr; otherwise both go to that file (truncated). `new_session`:
// the child outlives this process's session (pw up). Errors name the program and errno.
struct SpawnOptions {
  std::string log;
  bool new_session = false;
  // The child gets SIGTERM when the launcher dies (a crashed test or benchmark leaves no
  // cluster behind). Linux sends it when the launching *thread* exits, so spawn from a thread
  // that outlives the children.
  bool die_with_launcher = false;
  // "NAME=value" entries added to the child's environment (secrets go here, not in argv,
  // which every user of the machine can read).
  std::vector<std::string> env;
};
absl::StatusOr<pid_t> SpawnProcess(const std::vector<std::string>& argv, const SpawnOptions& options = {});

// Stops processes started by another launcher (pw down): SIGTERM to each live pid, SIGKILL
// after `grace` to those still alive. Pids that are already gone are skipped.
absl::Status StopProcesses(const std::vector<pid_t>& pids, absl::Duration grace);

// Whether a process with this pid exists (and is not a zombie of ours).
bool ProcessAlive(pid_t pid);

// The folder of the running executable (from /proc/self/exe), or "" when it cannot be read.
// Installed commands find each other there (FindBinDir) and `pw run` its Python.
std::string ExecutableDir();

}  // namespace pw

#endif  // PATHWAYS_CLUSTER_PROCESS_CLUSTER_H_
