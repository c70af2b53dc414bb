// Session: the Python process's connection to Pathways — a Client connected to a running cluster
// over gRPC, or to an embedded LocalCluster — and the handles (arrays, slices) that must not
// outlive it.
#ifndef PATHWAYS_PYTHON_SRC_SESSION_H_
#define PATHWAYS_PYTHON_SRC_SESSION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "pathways/client/client.h"
#include "pathways/cluster/local_cluster.h"

namespace pw::python {

struct SessionOptions {
  // A running cluster's controller ("host:port", e.g. from `pw up`); empty starts the embedded
  // LocalCluster with the sizes below.
  std::string address;
  // How long to wait for the controller at `address` to answer.
  double connect_timeout_seconds = 10;
  int64_t islands = 1;
  int64_t hosts_per_island = 2;
  int64_t devices_per_host = 2;
  int64_t memory_per_device_bytes = int64_t{1} << 30;
  // "cpu" (kernels run on this machine) or "sim": simulated accelerators whose kernels take the
  // performance model's time at sim_peak_flops (0: the model's default), computing the real
  // values only when sim_compute is set (otherwise outputs are undefined: timing studies).
  std::string device_kind = "cpu";
  double sim_peak_flops = 0;
  bool sim_compute = true;
  // The embedded cluster's interconnect (NetworkModel::interconnect; for "sim" devices also
  // the cost of their collectives). A negative value is "not given": sim devices then take the
  // InterconnectModel::TpuV4Class() figure, CPU devices model nothing. DCN: pushes between hosts
  // of different islands wait dcn_latency_us and share dcn_gbps (Gbit/s) per link; ICI: the
  // same inside an island, and the per-step latency and bandwidth of collectives.
  double dcn_latency_us = -1;
  double dcn_gbps = -1;
  double ici_latency_us = -1;
  double ici_gbps = -1;
  // "ring" or "tree" for the sim devices' collectives; empty: ring.
  std::string collective_algorithm;
  // This client's weight and priority for the islands' schedulers (ConnectOptions).
  int64_t weight = 1;
  int64_t priority = 0;
};

// Owns the cluster and the client. Every handle given to Python keeps a shared_ptr to its
// Session. A call into the runtime holds mu() shared for its whole duration and checks alive()
// first; Shutdown() holds it exclusively, so it waits for calls in flight (an Await on another
// thread, a trace that lost the GIL) and a stale handle fails with a clear error instead of
// touching a freed controller. Callers never wait for mu() while holding the GIL (see
// SessionUse in module.cc), so the two locks cannot deadlock.
class Session {
 public:
  static absl::StatusOr<std::shared_ptr<Session>> Start(SessionOptions options);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Disconnects the client (the controller frees its arrays), then stops the cluster. Arrays
  // still held by Python become invalid handles. Idempotent.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);
  // Read under mu() (shared or exclusive).
  bool alive() const { return client_ != nullptr; }
  // FAILED_PRECONDITION naming `what` once the session is shut down.
  absl::Status CheckAlive(const std::string& what) const;

  Client& client() { return *client_; }
  const SessionOptions& options() const { return options_; }
  int64_t generation() const { return generation_; }

  std::string DebugString() const;

  // Trace events of the embedded cluster (dispatch, execution, named scopes, transfers): Start
  // records from now; Stop writes Chrome trace JSON to `path` and drops the events.
  // FAILED_PRECONDITION for a session connected to a running cluster (its processes record
  // continuously: `pw trace` collects them). Called under mu() shared.
  absl::Status StartTrace();
  absl::Status StopTrace(const std::string& path);
  absl::Mutex& mu() const ABSL_LOCK_RETURNED(mu_) { return mu_; }

  // Remembers that a run producing `done` was submitted: Shutdown lets submitted runs finish
  // before it disconnects (tearing the cluster down under queued runs is not supported by the
  // controller, and a clean exit should not drop work already handed out as futures).
  void NoteRun(EventRef done) ABSL_LOCKS_EXCLUDED(pending_mu_);

 private:
  explicit Session(SessionOptions options);
  SessionOptions options_;
  int64_t generation_;
  mutable absl::Mutex mu_;
  absl::Mutex pending_mu_;
  std::vector<EventRef> pending_ ABSL_GUARDED_BY(pending_mu_);  // runs maybe not finished
  // Set by Start, reset by Shutdown under mu_ held exclusively.
  std::unique_ptr<LocalCluster> cluster_;  // null when connected to a running cluster
  std::unique_ptr<Client> client_;  // destroyed before cluster_
};

// One counted array reference held for Python. Dropping it talks to the controller, so the last
// copy's drop happens under the session's lock (session_use.cc); copies of Array taken for a
// call are never the last one while Python holds this.
class LockedArray {
 public:
  LockedArray(Array array, std::shared_ptr<Session> session)
      : array_(std::move(array)), session_(std::move(session)) {}
  ~LockedArray() { Release(); }
  LockedArray(const LockedArray&) = delete;
  LockedArray& operator=(const LockedArray&) = delete;

  // Drops the reference now. Called under the GIL (as every mutation from Python is).
  void Release();
  const Array& array() const { return array_; }
  const std::shared_ptr<Session>& session() const { return session_; }

 private:
  Array array_;
  std::shared_ptr<Session> session_;
};

// An array handle as Python sees it.
struct PyArray {
  std::shared_ptr<LockedArray> ref;
  const Array& array() const { return ref->array(); }
  const std::shared_ptr<Session>& session() const { return ref->session(); }
};

}  // namespace pw::python

#endif  // PATHWAYS_PYTHON_SRC_SESSION_H_
