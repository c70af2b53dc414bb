// pw-worker: one worker process of a Pathways cluster — joins the controller, then runs its
// host's part of every program on its CPU devices until told to stop.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "pathways/device/device_kinds.h"
#include "pathways/tools/flags.h"
#include "pathways/transport/worker_server.h"

namespace {

constexpr char kUsage[] =
    "usage: pw-worker --controller ADDR [--listen ADDR] [--island N] [--devices N]\n"
    "                 [--memory-per-device SIZE] [--data-plane tcp|grpc]\n"
    "                 [--gloo-loop-nice N] [--device-kind cpu|sim] [--sim-kernel-us N]\n"
    "                 [--sim-skip-compute] [--no-trace]\n"
    "  --controller ADDR         the controller's ip:port (default: $PATHWAYS_ADDRESS)\n"
    "  --listen ADDR             where the controller and peer workers reach this worker\n"
    "                            (default 127.0.0.1:0: a free port on loopback)\n"
    "  --island N                the island this host belongs to (default 0)\n"
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
    "  --no-trace                do not record trace events (pw trace shows nothing)\n"
    "Prints 'pw-worker host:<id> listening on <addr>' once joined. Exits 0 after SIGTERM,\n"
    "SIGINT or a Shutdown request, 1 when the controller drops or forgets this host.\n";

int Run(int argc, char** argv) {
  pw::WorkerServerOptions options;
  if (const char* env = std::getenv("PATHWAYS_ADDRESS"); env != nullptr) {
    options.controller_address = env;
  }
  bool no_trace = false;
  bool help = false;
  pw::FlagParser flags("pw-worker");
  flags.String("--controller", &options.controller_address);
  flags.String("--listen", &options.listen_address);
  flags.Int("--island", &options.island);
  flags.Int("--devices", &options.num_devices);
  flags.ByteSize("--memory-per-device", &options.memory_per_device_bytes);
  flags.String("--data-plane", &options.data_plane);
  flags.Int("--gloo-loop-nice", &options.gloo_loop_nice);
  flags.String("--device-kind", &options.device_kind);
  int64_t sim_kernel_us = 0;
  bool sim_skip_compute = false;
  flags.Int("--sim-kernel-us", &sim_kernel_us);
  flags.Bool("--sim-skip-compute", &sim_skip_compute);
  flags.Bool("--no-trace", &no_trace);
  flags.Bool("--help", &help);
  absl::Status parsed = flags.Parse(argc, argv);
  if (parsed.ok() && help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (parsed.ok() && !flags.positional().empty()) {
    parsed = absl::InvalidArgumentError(
        absl::StrCat("pw-worker: unexpected argument '", flags.positional()[0], "'"));
  }
  if (parsed.ok() && options.controller_address.empty()) {
    parsed = absl::InvalidArgumentError(
        "pw-worker: --controller: required (or set PATHWAYS_ADDRESS)");
  }
  if (parsed.ok() && options.island < 0) {
    parsed = absl::InvalidArgumentError(
        absl::StrCat("pw-worker: --island must be >= 0, got ", options.island));
  }
  if (parsed.ok() && options.num_devices < 1) {
    parsed = absl::InvalidArgumentError(
        absl::StrCat("pw-worker: --devices must be >= 1, got ", options.num_devices));
  }
  if (parsed.ok() && options.data_plane != "tcp" && options.data_plane != "grpc") {
    parsed = absl::InvalidArgumentError(absl::StrCat(
        "pw-worker: --data-plane must be tcp or grpc, got '", options.data_plane, "'"));
  }
  if (parsed.ok() && (options.gloo_loop_nice < 0 || options.gloo_loop_nice > 19)) {
    parsed = absl::InvalidArgumentError(absl::StrCat(
        "pw-worker: --gloo-loop-nice must be in [0, 19], got ", options.gloo_loop_nice));
  }
  if (parsed.ok() && !pw::IsDeviceKind(options.device_kind)) {
    parsed = absl::InvalidArgumentError(absl::StrCat(
        "pw-worker: --device-kind must be cpu or sim, got '", options.device_kind, "'"));
  }
  if (parsed.ok() && sim_kernel_us < 0) {
    parsed = absl::InvalidArgumentError(
        absl::StrCat("pw-worker: --sim-kernel-us must be >= 0, got ", sim_kernel_us));
  }
  if (parsed.ok() && options.device_kind != "sim" && (sim_kernel_us > 0 || sim_skip_compute)) {
    parsed = absl::InvalidArgumentError(
        "pw-worker: --sim-kernel-us and --sim-skip-compute need --device-kind sim");
  }
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s\n%s", std::string(parsed.message()).c_str(), kUsage);
    return 2;
  }
  options.trace = !no_trace;
  options.sim.model.kernel_nanos = sim_kernel_us * 1000;
  options.sim.execute = !sim_skip_compute;

  // Signals go to one thread that waits for them; every thread started from here on (gRPC's,
  // the executor's, the devices') inherits the blocked mask. SIGUSR1 only wakes that thread
  // when the worker stops for another reason.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::unique_ptr<pw::WorkerServer>> started = pw::WorkerServer::Start(options);
  if (!started.ok()) {
    std::fprintf(stderr, "pw-worker: %s\n", started.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<pw::WorkerServer> server = *std::move(started);

  bool by_signal = false;
  std::thread signal_thread([&server, &signals, &by_signal] {
    int signal = 0;
    sigwait(&signals, &signal);
    if (signal != SIGUSR1) {
      by_signal = true;
      std::fprintf(stderr, "pw-worker: %s, shutting down\n", strsignal(signal));
      server->Shutdown();
    }
  });

  std::printf("pw-worker %s listening on %s\n", server->host().DebugString().c_str(),
              server->address().c_str());
  std::fflush(stdout);

  const absl::Status why = server->Wait();
  server->Shutdown();
  pthread_kill(signal_thread.native_handle(), SIGUSR1);  // no-op if it already returned
  signal_thread.join();
  server.reset();
  if (!why.ok() && !by_signal) {
    std::fprintf(stderr, "pw-worker: stopped: %s\n", why.ToString().c_str());
    return 1;
  }
  std::printf("pw-worker stopped\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
