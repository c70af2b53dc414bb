// pw-worker: one worker process of a Pathways cluster — joins the controller, then runs its
// host's part of every program on its CPU devices until told to stop.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "pathways/base/event_loop.h"
#include "pathways/base/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/tools/flags.h"
#include "pathways/cluster/worker_server.h"
#include "pathways/launch/launch_environment.h"

namespace {

constexpr char kUsage[] =
    "usage: pw-worker --controller ADDR [--listen ADDR] [--island N] [--devices N]\n"
    "                 [--memory-per-device SIZE] [--data-plane tcp|grpc]\n"
    "                 [--gloo-loop-nice N] [--device-kind cpu|sim] [--sim-kernel-us N]\n"
    "                 [--sim-skip-compute] [--no-trace] [--rejoin-seconds N] [--join-seconds N]\n"
    "                 [--sim-collectives ring|tree] [--hosts N] [--threads N]\n"
    "  --controller ADDR         the controller's ip:port (default: $PATHWAYS_ADDRESS, else\n"
    "                            what Slurm's or Kubernetes' environment says, see below)\n"
    "  --listen ADDR             where the controller and peer workers reach this worker\n"
    "                            (default: from Slurm or Kubernetes, else 127.0.0.1:0: a\n"
    "                            free port on loopback)\n"
    "  --island N                the island this host belongs to (default: from Slurm or\n"
    "                            Kubernetes with $PATHWAYS_HOSTS_PER_ISLAND, else 0)\n"
    "  --devices N               devices to serve (default 2)\n"
    "  --memory-per-device SIZE  memory of each device: 512M, 2G or bytes (default 1G)\n"
    "  --data-plane tcp|grpc     how shards go to peer hosts: one TCP socket per peer\n"
    "                            (default) or one gRPC call per push\n"
    "  --gloo-loop-nice N        nice value of the collectives' event-loop thread, 0-19\n"
    "                            (default 19: it yields to device threads on busy cores)\n"
    "  --device-kind cpu|sim     devices that compute on this machine's cores (default) or\n"
    "                            simulated accelerators whose kernels take modelled time\n"
    "  --sim-kernel-us N         sim: every kernel takes N us (default 0: modelled from its\n"
    "                            cost, a TPU-v4-like roofline)\n"
    "  --sim-skip-compute        sim: do not compute kernels, only wait (outputs undefined)\n"
    "  --sim-collectives ring|tree  sim: how the modelled collectives move data (default\n"
    "                            ring; tree takes 2 log2(n) steps, for latency-bound ones)\n"
    "  --dcn-latency-us N        pushes to hosts of other islands wait N us (the data-center\n"
    "                            network's one-way latency)\n"
    "  --dcn-gbps G              and share G Gbit/s per destination host (0: unpaced)\n"
    "  --no-trace                do not record trace events (pw trace shows nothing)\n"
    "  --rejoin-seconds N        when the controller stops answering or forgets this host\n"
    "                            (a restarted controller), drop every buffer and join the\n"
    "                            controller at the same address again as a new host, trying\n"
    "                            for up to N seconds (default 60; 0: exit instead)\n"
    "  --join-seconds N          at start, keep trying to reach the controller for up to N\n"
    "                            seconds (default 0, or 300 when started by Slurm or\n"
    "                            Kubernetes, where workers may start before the controller)\n"
    "  --hosts N                 serve N hosts from this process, each joining the\n"
    "                            controller on its own port (default 1); more than one needs\n"
    "                            --device-kind sim --sim-skip-compute and a --listen port of 0\n"
    "  --threads N               with --hosts > 1: threads of the event loop every host's\n"
    "                            dispatch and simulated devices share (default 1)\n"
    "Started by Slurm (SLURM_JOB_ID set: srun) or Kubernetes ($PATHWAYS_CONTROLLER_SERVICE\n"
    "set: a StatefulSet pod), the worker takes what its flags leave unset from the launcher's\n"
    "environment: it joins the first node of SLURM_JOB_NODELIST, or the controller's Service,\n"
    "at $PATHWAYS_CONTROLLER_PORT (default 8470), and listens on its node's name or POD_IP\n"
    "(deploy/README.md; $PATHWAYS_LAUNCHER=slurm|kubernetes|none overrides the detection).\n"
    "The controller accepts only workers that present its operator token: set\n"
    "$PATHWAYS_OPERATOR_TOKEN to the token pw-controller was started with (pw up does).\n"
    "Prints 'pw-worker host:<id> listening on <addr>' once joined (again after a re-join),\n"
    "a line per host.\n"
    "Exits 0 after SIGTERM, SIGINT or a Shutdown request, 1 when the controller is gone for\n"
    "good (not back within --rejoin-seconds, or --rejoin-seconds 0).\n";

// What a flag holds until it is given (no one passes this number).
constexpr int64_t kUnset = std::numeric_limits<int64_t>::min();

// Fills what the flags left unset (controller, listen address, island, join time: empty or
// kUnset) from a launcher's environment (pathways/launch), else the defaults.
absl::Status ApplyLaunchEnvironment(pw::WorkerServerOptions& options, int64_t* join_seconds) {
  pw::launch::WorkerLaunch launch;
  if (options.controller_address.empty() || options.listen_address.empty() || options.island == kUnset) {
    absl::StatusOr<pw::launch::WorkerLaunch> read =
        pw::launch::WorkerLaunchFromEnvironment(pw::launch::ProcessEnvironment());
    if (!read.ok()) return absl::InvalidArgumentError(absl::StrCat("pw-worker: ", read.status().message()));
    launch = *std::move(read);
  }
  if (options.controller_address.empty()) options.controller_address = launch.controller_address.value_or("");
  if (options.listen_address.empty()) options.listen_address = launch.listen_address.value_or("127.0.0.1:0");
  if (options.island == kUnset) options.island = launch.island.value_or(0);
  if (*join_seconds == kUnset) *join_seconds = launch.launcher == pw::launch::Launcher::kNone ? 0 : 300;
  if (launch.launcher != pw::launch::Launcher::kNone) {
    std::fprintf(stderr, "pw-worker: %s: joining %s as island %lld, listening on %s\n",
                 launch.description.c_str(), options.controller_address.c_str(),
                 static_cast<long long>(options.island), options.listen_address.c_str());
  }
  return absl::OkStatus();
}

// How many hosts this process serves, and the threads they share.
struct HostsFlags {
  int64_t hosts = 1;
  int64_t threads = 1;
};

// --hosts and --threads against the options they need.
absl::Status CheckHosts(const HostsFlags& h, const pw::WorkerServerOptions& options) {
  constexpr int64_t kMaxHosts = 4096;
  constexpr int64_t kMaxThreads = 256;
  if (h.hosts < 1 || h.hosts > kMaxHosts) {
    return absl::InvalidArgumentError(
        absl::StrCat("pw-worker: --hosts: must be 1 to ", kMaxHosts, ", got ", h.hosts));
  }
  if (h.threads < 1 || h.threads > kMaxThreads) {
    return absl::InvalidArgumentError(
        absl::StrCat("pw-worker: --threads: must be 1 to ", kMaxThreads, ", got ", h.threads));
  }
  if (h.hosts == 1) return absl::OkStatus();
  if (options.device_kind != pw::DeviceKind::kSim || options.sim.execute) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pw-worker: --hosts ", h.hosts, " needs --device-kind sim --sim-skip-compute (hosts "
        "sharing threads cannot run kernels that block in collectives)"));
  }
  if (!absl::EndsWith(options.listen_address, ":0")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pw-worker: --hosts ", h.hosts, " needs a --listen port of 0 (each host listens on a "
        "free port of its own), got '", options.listen_address, "'"));
  }
  return absl::OkStatus();
}

// The worker's options from its flags (and $PATHWAYS_ADDRESS), validated; *help when --help.
absl::StatusOr<pw::WorkerServerOptions> ParseOptions(int argc, char** argv, bool* help,
                                                     int64_t* rejoin_seconds, int64_t* join_seconds,
                                                     HostsFlags* hosts) {
  pw::WorkerServerOptions options;
  options.controller_address.clear();  // unset: the environment's
  options.listen_address.clear();
  options.island = kUnset;
  if (const char* env = std::getenv("PATHWAYS_ADDRESS"); env != nullptr) {
    options.controller_address = env;
  }
  // Every channel of this process presents the cluster's operator token (joining, reporting
  // runs, the rendezvous store).
  if (const char* token = std::getenv("PATHWAYS_OPERATOR_TOKEN"); token != nullptr) {
    pw::grpc_transport::SetProcessOperatorToken(token);
  }
  bool no_trace = false;
  std::string data_plane = "tcp";
  std::string device_kind = "cpu";
  int64_t sim_kernel_us = 0;
  bool sim_skip_compute = false;
  std::string sim_collectives = "ring";
  pw::FlagParser flags("pw-worker");
  flags.String("--controller", &options.controller_address);
  flags.String("--listen", &options.listen_address);
  flags.Int("--island", &options.island);
  flags.Int("--devices", &options.num_devices);
  flags.ByteSize("--memory-per-device", &options.memory_per_device_bytes);
  flags.String("--data-plane", &data_plane);
  flags.Int("--gloo-loop-nice", &options.gloo_loop_nice);
  flags.Int("--dcn-latency-us", &options.dcn_latency_us);
  flags.Double("--dcn-gbps", &options.dcn_gbps);
  flags.String("--device-kind", &device_kind);
  flags.Int("--sim-kernel-us", &sim_kernel_us);
  flags.Bool("--sim-skip-compute", &sim_skip_compute);
  flags.String("--sim-collectives", &sim_collectives);
  flags.Bool("--no-trace", &no_trace);
  flags.Int("--rejoin-seconds", rejoin_seconds);
  flags.Int("--join-seconds", join_seconds);
  flags.Int("--hosts", &hosts->hosts);
  flags.Int("--threads", &hosts->threads);
  flags.Bool("--help", help);
  PW_RETURN_IF_ERROR(flags.Parse(argc, argv));
  if (*help) return options;
  if (!flags.positional().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("pw-worker: unexpected argument '", flags.positional()[0], "'"));
  }
  PW_RETURN_IF_ERROR(ApplyLaunchEnvironment(options, join_seconds));
  if (options.controller_address.empty()) {
    return absl::InvalidArgumentError(
        "pw-worker: --controller: required (or set PATHWAYS_ADDRESS, or start it under Slurm or Kubernetes)");
  }
  absl::StatusOr<pw::DataPlaneKind> plane = pw::ParseDataPlaneKind(data_plane);
  if (!plane.ok()) return absl::InvalidArgumentError(absl::StrCat("pw-worker: --data-plane: ", plane.status().message()));
  absl::StatusOr<pw::DeviceKind> kind = pw::ParseDeviceKind(device_kind);
  if (!kind.ok()) return absl::InvalidArgumentError(absl::StrCat("pw-worker: --device-kind: ", kind.status().message()));
  options.data_plane = *plane;
  options.device_kind = *kind;
  options.trace = !no_trace;
  options.sim.model.kernel_nanos = sim_kernel_us * 1000;
  options.sim.execute = !sim_skip_compute;
  absl::StatusOr<pw::CollectiveAlgorithm> algorithm = pw::ParseCollectiveAlgorithm(sim_collectives);
  if (!algorithm.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("pw-worker: --sim-collectives: ", algorithm.status().message()));
  }
  if (*algorithm != pw::CollectiveAlgorithm::kRing && *kind != pw::DeviceKind::kSim) {
    return absl::InvalidArgumentError("pw-worker: --sim-collectives applies to --device-kind sim only");
  }
  options.sim.model.interconnect.algorithm = *algorithm;
  if (*join_seconds < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("pw-worker: --join-seconds: must be >= 0, got ", *join_seconds));
  }
  if (*rejoin_seconds < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("pw-worker: --rejoin-seconds: must be >= 0, got ", *rejoin_seconds));
  }
  if (absl::Status valid = options.Validate(); !valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("pw-worker: ", valid.message()));
  }
  PW_RETURN_IF_ERROR(CheckHosts(*hosts, options));
  return options;
}

// The worker's server across re-joins, and whether a signal asked it to stop.
class CurrentServer {
 public:
  void Set(std::unique_ptr<pw::WorkerServer> server) {
    absl::MutexLock lock(&mu_);
    server_ = std::move(server);
    if (stopping_ && server_ != nullptr) server_->Shutdown();
  }
  pw::WorkerServer* get() {
    absl::MutexLock lock(&mu_);
    return server_.get();
  }
  std::unique_ptr<pw::WorkerServer> Take() {
    absl::MutexLock lock(&mu_);
    return std::move(server_);
  }
  // From the signal thread: stop the server now and any later one at once.
  void Stop() {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (server_ != nullptr) server_->Shutdown();
  }
  bool stopping() {
    absl::MutexLock lock(&mu_);
    return stopping_;
  }

 private:
  absl::Mutex mu_;
  std::unique_ptr<pw::WorkerServer> server_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

// Starts a server, retrying while the controller does not answer, until `deadline`.
absl::StatusOr<std::unique_ptr<pw::WorkerServer>> StartUntil(const pw::WorkerServerOptions& options,
                                                            absl::Time deadline,
                                                            CurrentServer& current) {
  for (;;) {
    absl::StatusOr<std::unique_ptr<pw::WorkerServer>> started = pw::WorkerServer::Start(options);
    if (started.ok() || !absl::IsUnavailable(started.status()) || absl::Now() >= deadline ||
        current.stopping()) {
      return started;
    }
    absl::SleepFor(absl::Milliseconds(250));
  }
}

// Serves one host that joined until it stops for good: after the controller went away (or
// forgot the host) it joins again as a new host for up to `rejoin_seconds`. Returns why it
// stopped.
absl::Status ServeHost(const pw::WorkerServerOptions& options, int64_t rejoin_seconds,
                       CurrentServer& current, absl::Mutex& stdout_mu) {
  absl::Status why;
  for (;;) {
    pw::WorkerServer* server = current.get();
    {
      absl::MutexLock lock(&stdout_mu);
      std::printf("pw-worker %s listening on %s\n", server->host().DebugString().c_str(),
                  server->address().c_str());
      std::fflush(stdout);
    }
    why = server->Wait();
    std::unique_ptr<pw::WorkerServer> done = current.Take();
    done->Shutdown();
    done.reset();  // every buffer of the old host goes with it
    const bool controller_gone = absl::IsUnavailable(why) || absl::IsFailedPrecondition(why);
    if (current.stopping() || !controller_gone || rejoin_seconds == 0) return why;
    std::fprintf(stderr, "pw-worker: %s; joining %s again for up to %llds\n",
                 why.ToString().c_str(), options.controller_address.c_str(),
                 static_cast<long long>(rejoin_seconds));
    absl::StatusOr<std::unique_ptr<pw::WorkerServer>> again =
        StartUntil(options, absl::Now() + absl::Seconds(rejoin_seconds), current);
    if (!again.ok()) return again.status();
    current.Set(*std::move(again));
    if (current.stopping()) return why;
  }
}

// Stops every host at once (a shutdown waits for the host's work and its last reports).
void StopAll(std::vector<std::unique_ptr<CurrentServer>>& current) {
  std::vector<std::thread> stopping;
  for (auto& c : current) stopping.emplace_back([&c] { c->Stop(); });
  for (std::thread& t : stopping) t.join();
}

int Run(int argc, char** argv) {
  bool help = false;
  int64_t rejoin_seconds = 60;
  int64_t join_seconds = kUnset;  // by launcher
  HostsFlags hosts;
  absl::StatusOr<pw::WorkerServerOptions> parsed =
      ParseOptions(argc, argv, &help, &rejoin_seconds, &join_seconds, &hosts);
  if (parsed.ok() && help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s\n%s", std::string(parsed.status().message()).c_str(), kUsage);
    return 2;
  }
  pw::WorkerServerOptions options = *parsed;

  // Signals go to one thread that waits for them; every thread started from here on (gRPC's,
  // the executor's, the devices') inherits the blocked mask. SIGUSR1 only wakes that thread
  // when the worker stops for another reason.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Many hosts of one process share one loop; it outlives every server (declared first).
  std::unique_ptr<pw::EventLoop> loop;
  if (hosts.hosts > 1) {
    loop = std::make_unique<pw::EventLoop>(pw::EventLoopOptions{
        .threads = static_cast<int>(hosts.threads), .name = "pw-worker"});
    options.loop = loop.get();
  }
  std::vector<std::unique_ptr<CurrentServer>> current;
  for (int64_t h = 0; h < hosts.hosts; ++h) current.push_back(std::make_unique<CurrentServer>());

  std::atomic<bool> by_signal = false;
  std::thread signal_thread([&current, &signals, &by_signal] {
    int signal = 0;
    sigwait(&signals, &signal);
    if (signal != SIGUSR1) {
      by_signal = true;
      std::fprintf(stderr, "pw-worker: %s, shutting down\n", strsignal(signal));
      StopAll(current);
    }
  });

  // The hosts join one after another (retrying while the controller does not answer, for
  // --join-seconds; a signal ends the wait): hundreds joining at once would only make the
  // controller answer each of them late.
  for (size_t h = 0; h < current.size(); ++h) {
    absl::StatusOr<std::unique_ptr<pw::WorkerServer>> started =
        StartUntil(options, absl::Now() + absl::Seconds(join_seconds), *current[h]);
    if (!started.ok()) {
      StopAll(current);  // those that joined leave again
      pthread_kill(signal_thread.native_handle(), SIGUSR1);  // no-op if it already returned
      signal_thread.join();
      if (by_signal) return 0;
      std::fprintf(stderr, "pw-worker: %s%s\n",
                   current.size() > 1 ? absl::StrCat("host ", h + 1, " of ", current.size(), ": ").c_str() : "",
                   started.status().ToString().c_str());
      return 1;
    }
    current[h]->Set(*std::move(started));
  }

  // Each host serves on a thread of its own (the first on this one). One stopping for good
  // stops the others: the process serves all its hosts or none, so a launcher sees a worker
  // that is gone rather than one quietly short of hosts.
  absl::Mutex stdout_mu;
  std::vector<absl::Status> why(current.size());
  std::once_flag stop_rest;
  auto serve = [&](size_t h) {
    why[h] = ServeHost(options, rejoin_seconds, *current[h], stdout_mu);
    if (!by_signal && current.size() > 1) std::call_once(stop_rest, [&] { StopAll(current); });
  };
  {
    std::vector<std::thread> serving;
    for (size_t h = 1; h < current.size(); ++h) serving.emplace_back(serve, h);
    serve(0);
    for (std::thread& t : serving) t.join();
  }
  pthread_kill(signal_thread.native_handle(), SIGUSR1);  // no-op if it already returned
  signal_thread.join();
  int exit_code = 0;
  for (size_t h = 0; h < why.size(); ++h) {
    if (!why[h].ok() && !by_signal) {
      std::fprintf(stderr, "pw-worker: %s%s\n",
                   why.size() > 1 ? absl::StrCat("host ", h + 1, " of ", why.size(), ": ").c_str() : "",
                   why[h].ToString().c_str());
      exit_code = 1;
    }
  }
  if (exit_code == 0) std::printf("pw-worker stopped\n");
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
