// pw: the user's command for a local Pathways cluster of processes.
//
//   pw up [--hosts N] [--devices-per-host M] [--islands K] [--memory-per-device SIZE]
//         [--data-plane tcp|grpc] [--device-kind cpu|sim] [--sim-kernel-us N]
//         [--sim-skip-compute] [--scheduler fifo|priority|share] [--scheduler-window N]
//         [--no-trace]
//   pw status | pw address | pw dashboard | pw run PROGRAM [ARGS...] | pw trace --out FILE | pw down
//   pw wait --hosts N [--timeout-seconds S]
//
// `pw up` starts pw-controller and one pw-worker per host in the background and records the
// controller's address and every pid in the state folder ($PATHWAYS_STATE_DIR, default
// ~/.pathways); the other commands find the cluster there, or at $PATHWAYS_ADDRESS / --address.
// pw-controller and pw-worker are found beside this executable ($PW_BIN_DIR overrides): installed
// side by side, or in the build tree's pathways/tools.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "pathways/base/status.h"
#include "pathways/base/trace.h"
#include "pathways/tools/flags.h"
#include "pathways/rpc/cluster_credentials.h"
#include "pathways/rpc/grpc_controller_client.h"
#include "pathways/cluster/process_cluster.h"

namespace pw {
namespace {

constexpr char kUsage[] = R"(usage: pw COMMAND [OPTIONS]

Commands:
  up        start a local cluster in the background and print its address
              --hosts N               hosts (worker processes) per island   [2]
              --devices-per-host M    devices per host                      [2]
              --islands K             islands                               [1]
              --memory-per-device S   device memory, e.g. 512M, 2G          [1G]
              --data-plane tcp|grpc   how hosts send shards to each other   [tcp]
              --device-kind cpu|sim   CPU devices, or simulated accelerators
                                      whose kernels take modelled time      [cpu]
              --sim-kernel-us N       sim: every kernel takes N us
                                      (0: modelled from its cost)           [0]
              --sim-skip-compute      sim: wait only, do not compute (outputs undefined)
              --dcn-latency-us N      pushes between islands wait N us      [0]
              --dcn-gbps G            and G Gbit/s per destination host (0: unpaced) [0]
              --scheduler POLICY      how islands order their clients' runs:
                                      fifo, priority (clients' priorities) or
                                      share (device time by client weights) [fifo]
              --scheduler-window N    runs admitted ahead of an island's devices
                                      (0: the policy's own, 1024 fifo / 4)  [0]
              --client-memory-quota S each client's arrays may take at most S
                                      per device, e.g. 2GiB              [none]
              --client-array-quota N  each client may hold N live arrays [none]
              --client-lease-ms N     a client silent this long (killed, hung)
                                      is disconnected and its memory freed  [4000]
              --no-trace              do not record trace events
              --dashboard-host HOST   where the controller's dashboard listens; other
                                      than loopback, requests need the operator token
                                                                        [127.0.0.1]
              --dashboard-port N      its port (0: a free one)              [0]
              --no-dashboard          serve no dashboard
  status    islands, hosts, devices, memory in use, programs and clients
  address   print the cluster's address (for PATHWAYS_ADDRESS)
  dashboard print the dashboard's URL and open it in a browser (xdg-open), if
            there is one and a display
              --no-open               only print it
  run PROGRAM [ARGS...]
            run PROGRAM (a .py file runs with python3) with PATHWAYS_ADDRESS set
  trace --out FILE
            write a Chrome trace (open in Perfetto) of recent runs on every host
  down      stop every process `pw up` started
  wait --hosts N [--timeout-seconds S]
            wait until N hosts have joined the cluster (started by Slurm,
            Kubernetes or another launcher), at most S seconds [300]

Options of status, run, trace, wait and down:
  --address ADDR   the controller (default: $PATHWAYS_ADDRESS, else the cluster `pw up` started)
)";

// ---- state folder ---------------------------------------------------------------------------

struct State {
  std::string address;
  pid_t controller_pid = -1;
  std::vector<pid_t> worker_pids;
  std::string log_dir;
  std::string dashboard_url;  // empty: none
};

std::string StateDir() { return PathwaysStateDir(); }
std::string StateFile() { return StateDir() + "/cluster"; }

absl::Status WriteState(const State& s) {
  std::error_code ec;
  std::filesystem::create_directories(StateDir(), ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", StateDir(), ": ", ec.message()));
  const std::string tmp = StateFile() + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << "address=" << s.address << "\n"
      << "controller_pid=" << s.controller_pid << "\n"
      << "worker_pids=" << absl::StrJoin(s.worker_pids, ",") << "\n"
      << "log_dir=" << s.log_dir << "\n"
      << "dashboard=" << s.dashboard_url << "\n";
    if (!f) return absl::InternalError(absl::StrCat("cannot write ", tmp));
  }
  std::filesystem::rename(tmp, StateFile(), ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot write ", StateFile(), ": ", ec.message()));
  return absl::OkStatus();
}

// NOT_FOUND when no cluster was started with `pw up`.
absl::StatusOr<State> ReadState() {
  std::ifstream f(StateFile());
  if (!f) {
    return absl::NotFoundError(absl::StrCat("no cluster is up (", StateFile(),
                                            " does not exist; start one with `pw up`)"));
  }
  State s;
  std::string line;
  while (std::getline(f, line)) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    auto bad = [&] {
      return absl::DataLossError(absl::StrCat(StateFile(), ": malformed line '", line, "'"));
    };
    if (kv.first == "address") {
      s.address = kv.second;
    } else if (kv.first == "controller_pid") {
      if (!absl::SimpleAtoi(kv.second, &s.controller_pid)) return bad();
    } else if (kv.first == "worker_pids") {
      for (absl::string_view p : absl::StrSplit(kv.second, ',', absl::SkipEmpty())) {
        pid_t pid;
        if (!absl::SimpleAtoi(p, &pid)) return bad();
        s.worker_pids.push_back(pid);
      }
    } else if (kv.first == "log_dir") {
      s.log_dir = kv.second;
    } else if (kv.first == "dashboard") {
      s.dashboard_url = kv.second;
    }
  }
  if (s.address.empty()) return absl::DataLossError(absl::StrCat(StateFile(), ": no address"));
  return s;
}

// --address, else $PATHWAYS_ADDRESS, else the `pw up` cluster.
absl::StatusOr<std::string> ResolveAddress(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("PATHWAYS_ADDRESS"); env != nullptr && *env != '\0') return env;
  PW_ASSIGN_OR_RETURN(State s, ReadState());
  return s.address;
}

// ---- commands -------------------------------------------------------------------------------

absl::Status Up(const std::vector<std::string>& args) {
  ProcessClusterOptions options;
  options.detach = true;
  FlagParser flags("pw up");
  flags.Int("--hosts", &options.hosts_per_island);
  flags.Int("--devices-per-host", &options.devices_per_host);
  flags.Int("--islands", &options.islands);
  flags.ByteSize("--memory-per-device", &options.memory_per_device_bytes);
  bool no_trace = false;
  flags.Bool("--no-trace", &no_trace);
  std::string data_plane;
  std::string device_kind = "cpu";
  flags.String("--data-plane", &data_plane);
  flags.String("--device-kind", &device_kind);
  flags.Int("--sim-kernel-us", &options.sim_kernel_us);
  flags.Bool("--sim-skip-compute", &options.sim_skip_compute);
  flags.Int("--dcn-latency-us", &options.dcn_latency_us);
  flags.Double("--dcn-gbps", &options.dcn_gbps);
  flags.String("--scheduler", &options.scheduler);
  flags.Int("--scheduler-window", &options.scheduler_window);
  flags.ByteSize("--client-memory-quota", &options.quota.memory_per_device_bytes);
  flags.Int("--client-array-quota", &options.quota.live_arrays);
  int64_t lease_ms = absl::ToInt64Milliseconds(options.client_lease);
  flags.Int("--client-lease-ms", &lease_ms);
  bool no_dashboard = false;
  flags.String("--dashboard-host", &options.dashboard_host);
  flags.Int("--dashboard-port", &options.dashboard_port);
  flags.Bool("--no-dashboard", &no_dashboard);
  PW_RETURN_IF_ERROR(flags.Parse(args));
  options.dashboard = !no_dashboard;
  if (!flags.positional().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("pw up: unexpected argument '", flags.positional()[0], "'"));
  }
  options.trace = !no_trace;
  options.client_lease = absl::Milliseconds(lease_ms);
  if (!data_plane.empty()) {
    absl::StatusOr<DataPlaneKind> plane = ParseDataPlaneKind(data_plane);
    if (!plane.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("pw up: --data-plane: ", plane.status().message()));
    }
    options.data_plane = *plane;
  }
  absl::StatusOr<DeviceKind> kind = ParseDeviceKind(device_kind);
  if (!kind.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("pw up: --device-kind: ", kind.status().message()));
  }
  options.device_kind = *kind;
  if (absl::StatusOr<State> old = ReadState(); old.ok() && ProcessAlive(old->controller_pid)) {
    return absl::AlreadyExistsError(absl::StrCat("a cluster is already up at ", old->address,
                                                 " (pid ", old->controller_pid, "); `pw down` first"));
  }
  options.log_dir = StateDir() + "/logs";
  std::error_code ec;
  std::filesystem::create_directories(options.log_dir, ec);
  PW_ASSIGN_OR_RETURN(std::unique_ptr<ProcessCluster> cluster, ProcessCluster::Start(options));
  State state{cluster->address(), cluster->controller_pid(), cluster->worker_pids(), cluster->log_dir(),
              cluster->dashboard_url()};
  // The secrets first: a client that finds the cluster's address finds its token too.
  PW_RETURN_IF_ERROR(WriteCredentialsFile(StateDir() + "/credentials", cluster->credentials()));
  PW_RETURN_IF_ERROR(WriteState(state));
  cluster->Release();
  std::cout << "Pathways cluster up at " << state.address << ": " << options.islands << " island(s) x "
            << options.hosts_per_island << " host(s) x " << options.devices_per_host
            << " " << DeviceKindName(options.device_kind) << " device(s), logs in " << state.log_dir << "\n"
            << "export PATHWAYS_ADDRESS=" << state.address << "\n";
  if (!state.dashboard_url.empty()) std::cout << "dashboard: " << state.dashboard_url << " (pw dashboard)\n";
  return absl::OkStatus();
}

// Whether `program` is an executable on $PATH.
bool OnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
    if (::access(absl::StrCat(dir, "/", program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// Prints the dashboard's URL of the `pw up` cluster, then opens it with xdg-open when there is
// a display to open it on. A dashboard beyond loopback needs the operator token: it goes in the
// URL's fragment, which the page reads and the browser never sends.
absl::Status Dashboard(const std::vector<std::string>& args) {
  FlagParser flags("pw dashboard");
  bool no_open = false;
  flags.Bool("--no-open", &no_open);
  PW_RETURN_IF_ERROR(flags.Parse(args));
  if (!flags.positional().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("pw dashboard: unexpected argument '", flags.positional()[0], "'"));
  }
  PW_ASSIGN_OR_RETURN(State s, ReadState());
  if (s.dashboard_url.empty()) {
    return absl::NotFoundError(absl::StrCat("the cluster at ", s.address, " serves no dashboard (started with --no-dashboard)"));
  }
  std::string url = s.dashboard_url;
  const bool token = url.rfind("http://127.", 0) != 0 && url.rfind("http://localhost", 0) != 0 &&
                     url.rfind("http://[::1]", 0) != 0;
  if (token) absl::StrAppend(&url, "#token=", FindClusterCredentials(s.address).operator_token);
  std::cout << url << "\n";
  if (token) {
    // Another program's command line is readable by every user of the machine: the operator
    // token is shown here only, never handed to a browser's launcher.
    std::cerr << "pw dashboard: the URL carries the operator token; open it yourself "
                 "(it is not passed to xdg-open)\n";
    return absl::OkStatus();
  }
  const bool display = std::getenv("DISPLAY") != nullptr || std::getenv("WAYLAND_DISPLAY") != nullptr;
  if (no_open || !display || !OnPath("xdg-open")) return absl::OkStatus();
  absl::StatusOr<pid_t> opened = SpawnProcess({"xdg-open", url}, {.new_session = true});
  if (!opened.ok()) std::cerr << "pw dashboard: xdg-open: " << opened.status().message() << "\n";
  return absl::OkStatus();
}

std::string Bytes(int64_t b) {
  if (b >= (int64_t{1} << 30)) return absl::StrFormat("%.1fG", b / double(int64_t{1} << 30));
  if (b >= (int64_t{1} << 20)) return absl::StrFormat("%.1fM", b / double(int64_t{1} << 20));
  if (b >= (int64_t{1} << 10)) return absl::StrFormat("%.1fK", b / double(int64_t{1} << 10));
  return absl::StrCat(b, "B");
}

absl::Status PrintStatus(const std::string& address) {
  PW_ASSIGN_OR_RETURN(std::unique_ptr<GrpcControllerClient> client,
                      GrpcControllerClient::Connect(address, absl::Seconds(5)));
  const ClusterStatus st = client->Status();
  std::cout << "cluster at " << address << "\n";
  for (const IslandInfo& island : st.islands) {
    std::cout << "island " << island.id.value() << ": " << island.hosts.size() << " host(s), "
              << island.devices.size() << " device(s)\n";
  }
  for (const HostStatus& h : st.hosts) {
    if (!h.status.ok()) {
      std::cout << absl::StrFormat("  host %d: not answering (%s)\n", h.host.value(), h.status.message());
      continue;
    }
    std::cout << absl::StrFormat("  host %d: %d buffers (%s), %d runs received\n", h.host.value(),
                                 h.live_buffers, Bytes(h.live_buffer_bytes), h.runs_received);
    for (const DeviceStatus& d : h.devices) {
      std::cout << absl::StrFormat("    device %d (%s): %s of %s in use (peak %s), %d items run\n",
                                   d.id.value(), d.kind, Bytes(d.memory_in_use_bytes),
                                   Bytes(d.memory_capacity_bytes), Bytes(d.peak_memory_in_use_bytes),
                                   d.completed_items);
    }
  }
  std::cout << "clients: " << st.clients.size() << "\n";
  for (const ClientStatus& c : st.clients) {
    std::cout << absl::StrFormat("  client %d '%s': weight %d, priority %d, %d live array(s) (%s), %d run(s), %.1f ms device time",
                                 c.id.value(), c.name, c.weight, c.priority, c.live_arrays,
                                 Bytes(c.memory_bytes), c.runs, c.device_nanos / 1e6);
    if (c.lease_age_millis >= 0) std::cout << absl::StrFormat(", lease renewed %.1f s ago", c.lease_age_millis / 1e3);
    std::cout << "\n";
  }
  for (const SchedulerStatus& s : st.schedulers) {
    std::cout << absl::StrFormat("scheduler of island %d: %s, window %d, %d in flight, %d queued, %.1f ms device time\n",
                                 s.island.value(), s.policy, s.window, s.in_flight, s.queued,
                                 s.device_nanos / 1e6);
  }
  std::cout << "slices: " << st.slices.size() << ", programs: " << st.programs << ", runs: " << st.runs
            << ", lowering cache " << st.lowering_cache_hits << " hit(s) / " << st.lowering_cache_misses
            << " miss(es)\n";
  return absl::OkStatus();
}

absl::Status Trace(const std::string& address, const std::string& out) {
  if (out.empty()) return absl::InvalidArgumentError("pw trace: --out FILE is required");
  PW_ASSIGN_OR_RETURN(std::unique_ptr<GrpcControllerClient> client,
                      GrpcControllerClient::Connect(address, absl::Seconds(5)));
  TraceRecorder recorder;
  recorder.Start();
  PW_RETURN_IF_ERROR(client->FetchTrace(recorder));
  PW_RETURN_IF_ERROR(recorder.WriteJson(out));
  std::cout << "wrote " << recorder.num_events() << " trace events to " << out
            << " (open in https://ui.perfetto.dev)\n";
  return absl::OkStatus();
}

// Returns once `hosts` hosts have joined the controller at `address` (which may still be
// starting); DEADLINE_EXCEEDED naming how many did after `timeout`.
absl::Status WaitForHosts(const std::string& address, int64_t hosts, absl::Duration timeout) {
  if (hosts < 1) return absl::InvalidArgumentError(absl::StrCat("pw wait: --hosts: must be >= 1, got ", hosts));
  if (timeout <= absl::ZeroDuration()) return absl::InvalidArgumentError("pw wait: --timeout-seconds: must be > 0");
  const absl::Time deadline = absl::Now() + timeout;
  PW_ASSIGN_OR_RETURN(std::unique_ptr<GrpcControllerClient> client, GrpcControllerClient::Connect(address, timeout));
  int64_t joined = 0;
  for (;;) {
    joined = 0;
    for (const HostStatus& h : client->Status().hosts) joined += h.status.ok() ? 1 : 0;
    if (joined >= hosts || absl::Now() >= deadline) break;
    absl::SleepFor(absl::Milliseconds(200));  // polling a remote count: nothing to wait on
  }
  if (joined < hosts) {
    return absl::DeadlineExceededError(absl::StrCat("pw wait: ", joined, " of ", hosts, " host(s) joined ",
                                                    address, " within ", absl::FormatDuration(timeout)));
  }
  std::cout << joined << " host(s) joined the cluster at " << address << "\n";
  return absl::OkStatus();
}

absl::Status Down() {
  PW_ASSIGN_OR_RETURN(State s, ReadState());
  std::vector<pid_t> pids = s.worker_pids;
  pids.push_back(s.controller_pid);
  int64_t alive = 0;
  for (pid_t p : pids) alive += ProcessAlive(p) ? 1 : 0;
  // Ask first (the controller lets go of its workers in order), then make sure by pid.
  if (ProcessAlive(s.controller_pid)) {
    if (absl::StatusOr<std::unique_ptr<GrpcControllerClient>> c =
            GrpcControllerClient::Connect(s.address, absl::Seconds(1));
        c.ok()) {
      (*c)->Shutdown().IgnoreError();
    }
  }
  PW_RETURN_IF_ERROR(StopProcesses(pids, absl::Seconds(5)));
  std::error_code ec;
  std::filesystem::remove(StateFile(), ec);
  std::filesystem::remove(StateDir() + "/credentials", ec);
  std::cout << "stopped the cluster at " << s.address << " (" << alive << " of " << pids.size()
            << " processes were running)\n";
  return absl::OkStatus();
}

// The Python a .py program runs with, and the folder to put first on its PYTHONPATH (empty:
// none), both found from where this pw is: an installed pw (pip) has its environment's python3
// beside it when there is one (a virtual environment), else the system's /usr/bin/python3 finds
// the installed package; a pw in a CMake build tree (<build>/pathways/tools/pw) uses the
// package staged in <build>/python.
struct ProgramPython {
  std::string interpreter = "/usr/bin/python3";
  std::string path;
};

ProgramPython FindProgramPython() {
  ProgramPython python;
  const std::string self = ExecutableDir();
  if (self.empty()) return python;
  const std::filesystem::path build = std::filesystem::path(self) / ".." / "..";
  std::error_code ec;
  if (std::filesystem::exists(build / "CMakeCache.txt", ec) &&
      std::filesystem::exists(build / "python" / "pathways" / "__init__.py", ec)) {
    python.path = std::filesystem::weakly_canonical(build / "python", ec).string();
    return python;
  }
  if (const std::string beside = self + "/python3"; ::access(beside.c_str(), X_OK) == 0) {
    python.interpreter = beside;
  }
  return python;
}

absl::Status Run(const std::string& address, const std::vector<std::string>& command) {
  if (command.empty()) return absl::InvalidArgumentError("pw run: PROGRAM is required");
  ::setenv("PATHWAYS_ADDRESS", address.c_str(), 1);
  std::vector<std::string> argv;
  const std::string& program = command[0];
  if (program.size() > 3 && program.substr(program.size() - 3) == ".py") {
    const ProgramPython python = FindProgramPython();
    argv.push_back(python.interpreter);
    // The build tree's pathways package, ahead of anything else on PYTHONPATH.
    if (!python.path.empty()) {
      const char* old = std::getenv("PYTHONPATH");
      const std::string path =
          old != nullptr && *old != '\0' ? absl::StrCat(python.path, ":", old) : python.path;
      ::setenv("PYTHONPATH", path.c_str(), 1);
    }
  }
  argv.insert(argv.end(), command.begin(), command.end());
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  ::execvp(cargv[0], cargv.data());
  return absl::NotFoundError(absl::StrCat("pw run: cannot run '", argv[0], "': ", std::strerror(errno)));
}

absl::Status Main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
      std::string(argv[1]) == "help") {
    std::cout << kUsage;
    return argc < 2 ? absl::InvalidArgumentError("pw: a COMMAND is required") : absl::OkStatus();
  }
  const std::string command = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "up") return Up(args);
  if (command == "dashboard") return Dashboard(args);
  if (command == "down") {
    if (!args.empty()) return absl::InvalidArgumentError(absl::StrCat("pw down: unexpected argument '", args[0], "'"));
    return Down();
  }
  if (command != "status" && command != "address" && command != "run" && command != "trace" &&
      command != "wait") {
    return absl::InvalidArgumentError(absl::StrCat("pw: unknown command '", command, "' (see pw --help)"));
  }
  FlagParser flags(absl::StrCat("pw ", command));
  std::string address_flag, out;
  flags.String("--address", &address_flag);
  if (command == "trace") flags.String("--out", &out);
  int64_t wait_hosts = 0, wait_seconds = 300;
  if (command == "wait") {
    flags.Int("--hosts", &wait_hosts);
    flags.Int("--timeout-seconds", &wait_seconds);
  }
  // pw run PROGRAM ARGS...: everything from PROGRAM on belongs to the program.
  if (command == "run") flags.StopAtPositional();
  PW_RETURN_IF_ERROR(flags.Parse(args));
  if (command != "run" && !flags.positional().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("pw ", command, ": unexpected argument '", flags.positional()[0], "'"));
  }
  PW_ASSIGN_OR_RETURN(std::string address, ResolveAddress(address_flag));
  if (command == "address") {
    std::cout << address << "\n";
    return absl::OkStatus();
  }
  if (command == "status") return PrintStatus(address);
  if (command == "trace") return Trace(address, out);
  if (command == "wait") return WaitForHosts(address, wait_hosts, absl::Seconds(wait_seconds));
  return Run(address, flags.positional());
}

}  // namespace
}  // namespace pw

int main(int argc, char** argv) {
  const absl::Status s = pw::Main(argc, argv);
  if (!s.ok()) {
    std::cerr << "pw: " << s.message() << "\n";
    return absl::IsInvalidArgument(s) ? 2 : 1;
  }
  return 0;
}
