// pw-controller: the controller process of a Pathways cluster — serves clients, workers and the
// collectives' rendezvous store over gRPC until SIGTERM / SIGINT or a Shutdown request.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "pathways/base/status.h"
#include "pathways/rpc/cluster_credentials.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/tools/flags.h"
#include "pathways/cluster/controller_server.h"
#include "pathways/launch/launch_environment.h"
#include "pathways/dashboard/controller_server_source.h"
#include "pathways/dashboard/dashboard_server.h"

namespace {

constexpr char kUsage[] =
    "usage: pw-controller [--listen ADDR] [--heartbeat-timeout-ms N] [--address-file PATH]\n"
    "                     [--scheduler fifo|priority|share] [--scheduler-window N] [--no-trace]\n"
    "  --listen ADDR             where clients and workers reach the controller (default:\n"
    "                            0.0.0.0:$PATHWAYS_CONTROLLER_PORT (8470) when started by\n"
    "                            Slurm or Kubernetes, see pw-worker --help; else\n"
    "                            127.0.0.1:0: a free port on loopback)\n"
    "  --heartbeat-timeout-ms N  a worker silent this long is declared lost (default 1500)\n"
    "  --scheduler POLICY        how each island orders the runs of its clients: fifo\n"
    "                            (default), priority (clients' priorities), share\n"
    "                            (device time in proportion to the clients' weights)\n"
    "  --scheduler-window N      runs admitted ahead of an island's devices (0, the\n"
    "                            default: the policy's own, 1024 for fifo, 4 otherwise)\n"
    "  --client-lease-ms N       a client that renews no lease for N ms is disconnected\n"
    "                            and its arrays and slices freed (default 4000)\n"
    "  --client-memory-quota S   each client's arrays may take at most S per device\n"
    "                            (e.g. 2GiB; default: no limit)\n"
    "  --client-array-quota N    each client may hold at most N live arrays (default and\n"
    "                            0: no limit)\n"
    "  --credentials-file PATH   write the cluster and operator tokens there (mode 0600)\n"
    "The cluster's secrets come from $PATHWAYS_TOKEN (what clients present to connect) and\n"
    "$PATHWAYS_OPERATOR_TOKEN (what shutting down, the trace and every client's status need);\n"
    "unset ones are made at random (see --credentials-file).\n"
    "  --address-file PATH       once serving, write the bound ip:port there (atomically)\n"
    "  --no-trace                do not record trace events (pw trace shows nothing)\n"
    "  --dashboard-host HOST     where the dashboard (page, /api, /metrics) listens\n"
    "                            (default 127.0.0.1; any other address needs the operator\n"
    "                            token on every request: Authorization: Bearer <token>)\n"
    "  --dashboard-port N        its port (default 0: a free one)\n"
    "  --dashboard-url-file PATH once serving, write the dashboard's URL there\n"
    "  --no-dashboard            serve no dashboard\n"
    "Stops on SIGTERM, SIGINT or a Shutdown request (pw down), asking its workers to stop.\n";

// Writes `text` to `path` through a temporary file and a rename, so a reader polling for the
// file never sees it half written.
absl::Status WriteAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::UnavailableError(absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

// Where to listen when --listen is not given: what Slurm's or Kubernetes' environment says
// (pathways/launch), else a free port on loopback.
absl::StatusOr<std::string> ListenFromEnvironment() {
  absl::StatusOr<pw::launch::ControllerLaunch> launch =
      pw::launch::ControllerLaunchFromEnvironment(pw::launch::ProcessEnvironment());
  if (!launch.ok()) return absl::InvalidArgumentError(absl::StrCat("pw-controller: ", launch.status().message()));
  if (launch->launcher == pw::launch::Launcher::kNone) return std::string("127.0.0.1:0");
  std::fprintf(stderr, "pw-controller: %s: listening on %s\n", launch->description.c_str(),
               launch->listen_address->c_str());
  return *launch->listen_address;
}

struct DashboardFlags {
  std::string host = "127.0.0.1";
  int64_t port = 0;
  std::string url_file;
  bool off = false;

  void Add(pw::FlagParser& flags) {
    flags.String("--dashboard-host", &host);
    flags.Int("--dashboard-port", &port);
    flags.String("--dashboard-url-file", &url_file);
    flags.Bool("--no-dashboard", &off);
  }
};

// The dashboard over `source` (null with --no-dashboard), its URL written to --dashboard-url-file.
absl::StatusOr<std::unique_ptr<pw::DashboardServer>> StartDashboard(const DashboardFlags& flags,
                                                                     const pw::ControllerServer& server,
                                                                     pw::DashboardSource& source) {
  if (flags.off) return nullptr;
  if (flags.port < 0 || flags.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--dashboard-port must be in [0, 65535], got ", flags.port));
  }
  PW_ASSIGN_OR_RETURN(std::unique_ptr<pw::DashboardServer> dashboard,
                      pw::DashboardServer::Start({.host = flags.host,
                                                  .port = static_cast<int>(flags.port),
                                                  .operator_token = server.operator_token()},
                                                 &source));
  if (!flags.url_file.empty()) PW_RETURN_IF_ERROR(WriteAtomically(flags.url_file, dashboard->url() + "\n"));
  std::printf("pw-controller dashboard at %s\n", dashboard->url().c_str());
  return dashboard;
}

// What pw-controller's flags say.
struct ControllerFlags {
  std::string listen;  // unset: the launcher's environment, else 127.0.0.1:0
  int64_t heartbeat_timeout_ms = 1500;
  std::string address_file;
  bool no_trace = false;
  bool help = false;
  std::string scheduler = "fifo";
  int64_t scheduler_window = 0;
  int64_t client_lease_ms = 4000;
  std::string credentials_file;
  pw::ArrayQuota quota;
  DashboardFlags dashboard;
};

// The flags, checked (INVALID_ARGUMENT naming the flag); --listen from the launcher's
// environment when unset.
absl::Status ParseFlags(int argc, char** argv, ControllerFlags& f) {
  pw::FlagParser flags("pw-controller");
  f.dashboard.Add(flags);
  flags.Int("--client-lease-ms", &f.client_lease_ms);
  flags.ByteSize("--client-memory-quota", &f.quota.memory_per_device_bytes);
  flags.Int("--client-array-quota", &f.quota.live_arrays);
  flags.String("--credentials-file", &f.credentials_file);
  flags.String("--scheduler", &f.scheduler);
  flags.Int("--scheduler-window", &f.scheduler_window);
  flags.String("--listen", &f.listen);
  flags.Int("--heartbeat-timeout-ms", &f.heartbeat_timeout_ms);
  flags.String("--address-file", &f.address_file);
  flags.Bool("--no-trace", &f.no_trace);
  flags.Bool("--help", &f.help);
  PW_RETURN_IF_ERROR(flags.Parse(argc, argv));
  if (!flags.positional().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("pw-controller: unexpected argument '", flags.positional()[0], "'"));
  }
  if (f.heartbeat_timeout_ms < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pw-controller: --heartbeat-timeout-ms must be >= 1, got ", f.heartbeat_timeout_ms));
  }
  if (!f.help && f.listen.empty()) {
    PW_ASSIGN_OR_RETURN(f.listen, ListenFromEnvironment());
  }
  return absl::OkStatus();
}

// The server's options from the flags and the environment's tokens.
pw::ControllerServerOptions ServerOptions(const ControllerFlags& f) {
  pw::ControllerServerOptions options;
  options.listen_address = f.listen;
  options.heartbeat_timeout = absl::Milliseconds(f.heartbeat_timeout_ms);
  options.trace = !f.no_trace;
  options.scheduler = f.scheduler;
  options.scheduler_window = f.scheduler_window;
  options.client_lease = absl::Milliseconds(f.client_lease_ms);
  options.quota = f.quota;
  if (const char* t = std::getenv("PATHWAYS_TOKEN"); t != nullptr) options.cluster_token = t;
  if (const char* t = std::getenv("PATHWAYS_OPERATOR_TOKEN"); t != nullptr) options.operator_token = t;
  return options;
}

int Run(int argc, char** argv) {
  ControllerFlags f;
  if (absl::Status parsed = ParseFlags(argc, argv, f); !parsed.ok()) {
    std::fprintf(stderr, "%s\n%s", std::string(parsed.message()).c_str(), kUsage);
    return 2;
  }
  if (f.help) {
    std::fputs(kUsage, stdout);
    return 0;
  }

  // Signals go to one thread that waits for them; every thread started from here on (gRPC's)
  // inherits the blocked mask. SIGUSR1 only wakes that thread when the process stops otherwise.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const pw::ControllerServerOptions options = ServerOptions(f);
  // The controller's own calls (to its workers) present it too.
  pw::grpc_transport::SetProcessOperatorToken(options.operator_token);
  absl::StatusOr<std::unique_ptr<pw::ControllerServer>> started =
      pw::ControllerServer::Start(options);
  if (!started.ok()) {
    std::fprintf(stderr, "pw-controller: %s\n", started.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<pw::ControllerServer> server = *std::move(started);

  // The dashboard reads the server: it starts after it and stops before it. Its URL is written
  // before the address, so a launcher that sees the address finds the URL too.
  pw::ControllerServerSource dashboard_source(server.get());
  absl::StatusOr<std::unique_ptr<pw::DashboardServer>> started_dashboard =
      StartDashboard(f.dashboard, *server, dashboard_source);
  if (!started_dashboard.ok()) {
    std::fprintf(stderr, "pw-controller: dashboard: %s\n", started_dashboard.status().ToString().c_str());
    server->Shutdown();
    return 1;
  }
  std::unique_ptr<pw::DashboardServer> dashboard = *std::move(started_dashboard);

  std::thread signal_thread([&server, &dashboard, &signals] {
    int signal = 0;
    sigwait(&signals, &signal);
    if (signal != SIGUSR1) {
      std::fprintf(stderr, "pw-controller: %s, shutting down\n", strsignal(signal));
      if (dashboard != nullptr) dashboard->Stop();
      server->Shutdown();
    }
  });
  auto stop = [&] {
    if (dashboard != nullptr) dashboard->Stop();
    server->Shutdown();
    pthread_kill(signal_thread.native_handle(), SIGUSR1);  // no-op if it already returned
    signal_thread.join();
  };

  if (!f.credentials_file.empty()) {
    if (absl::Status s = pw::WriteCredentialsFile(
            f.credentials_file, {server->cluster_token(), server->operator_token()});
        !s.ok()) {
      std::fprintf(stderr, "pw-controller: --credentials-file: %s\n", s.ToString().c_str());
      stop();
      return 1;
    }
  }
  if (!f.address_file.empty()) {
    if (absl::Status s = WriteAtomically(f.address_file, server->address() + "\n"); !s.ok()) {
      std::fprintf(stderr, "pw-controller: --address-file: %s\n", s.ToString().c_str());
      stop();
      return 1;
    }
  }
  std::printf("pw-controller listening on %s\n", server->address().c_str());
  std::fflush(stdout);

  (void)server->Wait();
  stop();
  dashboard.reset();
  server.reset();
  std::printf("pw-controller stopped\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
