// DashboardServer: the controller's read-only HTTP side — a page (embedded HTML/CSS/JS), its
// JSON documents, Prometheus metrics and a trace download — served with cpp-httplib.
//
//   GET /                              the page; /dashboard.css, /dashboard.js its parts
//   GET /api/cluster                   islands -> hosts -> devices (utilisation, memory)
//   GET /api/islands/{id}, /api/hosts/{id}
//   GET /api/clients, /api/clients/{id}
//   GET /api/programs                  runs in flight and recent failures with their errors
//   GET /api/lost_hosts
//   GET /api/trace?seconds=N           Chrome trace JSON of the last N seconds (1..max)
//   GET /metrics                       Prometheus text format 0.0.4
//
// Errors: an unknown path or island/host/client is 404, a method other than GET or HEAD is 405,
// a malformed or unknown query parameter is 400, a missing or wrong credential is 401; each
// with a message naming the culprit. No endpoint changes the cluster: requests only read
// snapshots (ClusterSampler) and the controller's counters.
#ifndef PATHWAYS_DASHBOARD_DASHBOARD_SERVER_H_
#define PATHWAYS_DASHBOARD_DASHBOARD_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "pathways/dashboard/cluster_sampler.h"
#include "pathways/dashboard/dashboard_source.h"

namespace httplib {
class Server;
}

namespace pw {

// Who may read the dashboard without the operator's credential.
enum class DashboardAccess {
  // Anyone who can reach a loopback address; every other bind needs the credential.
  kOpenOnLoopback,
  // The credential on every data request, wherever it listens.
  kTokenAlways,
};

struct DashboardServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: a free one (port() says which)
  DashboardAccess access = DashboardAccess::kOpenOnLoopback;
  // The cluster's operator token; requests present it as "Authorization: Bearer <token>".
  // Required unless access is kOpenOnLoopback and `host` is a loopback address.
  std::string operator_token;
  // Upper bound of /api/trace's `seconds`.
  int64_t max_trace_seconds = 600;
  // Threads serving requests (each request holds one until answered).
  int threads = 8;
  ClusterSamplerOptions sampler;
};

// Threads: a listener thread of its own plus `threads` workers; Start returns once it listens.
// `source` must outlive the server; Stop (or destruction) before the source goes.
class DashboardServer {
 public:
  // INVALID_ARGUMENT for a bad port, a non-loopback host without a token, or bad bounds;
  // UNAVAILABLE naming the address when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<DashboardServer>> Start(DashboardServerOptions options,
                                                                DashboardSource* source);
  ~DashboardServer();  // Stop()
  DashboardServer(const DashboardServer&) = delete;
  DashboardServer& operator=(const DashboardServer&) = delete;

  int port() const { return port_; }
  // "http://host:port/" (an IPv6 host in brackets).
  std::string url() const;
  bool requires_token() const { return requires_token_; }
  ClusterSampler& sampler() { return sampler_; }

  // Stops listening and waits for the requests in progress to be answered; no thread of the
  // server runs once it returns (the source may go). Idempotent, callable from any thread.
  void Stop();

 private:
  DashboardServer(DashboardServerOptions options, DashboardSource* source);
  void Route();

  const DashboardServerOptions options_;
  DashboardSource* const source_;
  ClusterSampler sampler_;
  bool requires_token_ = false;
  int port_ = 0;
  std::unique_ptr<httplib::Server> http_;
  std::thread listener_;
  absl::Mutex trace_mu_;  // one trace collection at a time
  absl::Mutex stop_mu_;   // serializes Stop()
};

// Whether `host` names a loopback address ("localhost", 127.0.0.0/8, "::1").
bool IsLoopbackHost(const std::string& host);

}  // namespace pw

#endif  // PATHWAYS_DASHBOARD_DASHBOARD_SERVER_H_
