// Session: the Python process's connection to Pathways — an embedded LocalCluster and the Client
// connected to it — and the handles (arrays, slices) that must not outlive it.
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
#include "pathways/transport/local_cluster.h"

namespace pw::python {

struct SessionOptions {
  int64_t islands = 1;
  int64_t hosts_per_island = 2;
  int64_t devices_per_host = 2;
  int64_t memory_per_device_bytes = int64_t{1} << 30;
};

// Owns the cluster and the client. Every handle given to Python keeps a shared_ptr to its
// Session and checks alive() before calling into the runtime: after Shutdown() the controller
// is gone, so a stale handle must fail with a clear error instead of touching freed memory.
// Calls from Python hold the GIL, which serializes Shutdown against every other call.
class Session {
 public:
  static absl::StatusOr<std::shared_ptr<Session>> Start(SessionOptions options);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Disconnects the client (the controller frees its arrays), then stops the cluster. Arrays
  // still held by Python become invalid handles. Idempotent.
  void Shutdown();
  bool alive() const { return client_ != nullptr; }
  // FAILED_PRECONDITION naming `what` once the session is shut down.
  absl::Status CheckAlive(const std::string& what) const;

  Client& client() { return *client_; }
  LocalCluster& cluster() { return *cluster_; }
  const SessionOptions& options() const { return options_; }
  int64_t generation() const { return generation_; }

  std::string DebugString() const;

 private:
  explicit Session(SessionOptions options);
  SessionOptions options_;
  int64_t generation_;
  std::unique_ptr<LocalCluster> cluster_;
  std::unique_ptr<Client> client_;  // destroyed before cluster_
};

// An array handle as Python sees it: the C++ Array (one counted reference, dropped when Python
// drops the object) and the session it lives in.
struct PyArray {
  Array array;
  std::shared_ptr<Session> session;
};

}  // namespace pw::python

#endif  // PATHWAYS_PYTHON_SRC_SESSION_H_
