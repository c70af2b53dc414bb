// ControllerServer: the controller process's gRPC side — the Controller, its resource manager
// and trace recorder, served to clients (ControllerApi) and workers (ControllerWorkers,
// Rendezvous), with a GrpcWorkerClient per joined host and host-loss detection.
#ifndef PATHWAYS_CLUSTER_CONTROLLER_SERVER_H_
#define PATHWAYS_CLUSTER_CONTROLLER_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "pathways/base/ids.h"
#include "pathways/base/trace.h"
#include "pathways/cluster/host_membership.h"
#include "pathways/collectives/in_process/in_memory_rendezvous_store.h"
#include "pathways/controller/controller.h"
#include "pathways/cluster/client_sessions.h"
#include "pathways/controller/resource_manager.h"
#include "pathways/rpc/grpc_worker_client.h"

namespace pw {

class RendezvousServiceImpl;

struct ControllerServerOptions {
  // Where to listen; port 0 picks a free one (address() tells which).
  std::string listen_address = "127.0.0.1:0";
  // A host that sends no heartbeat for this long is declared lost. Workers are told to beat
  // five times as often.
  absl::Duration heartbeat_timeout = absl::Milliseconds(1500);
  // Each island's scheduling policy ("fifo", "priority", "share") and admission window
  // (0: the policy's default), as ControllerOptions.
  std::string scheduler = "fifo";
  int64_t scheduler_window = 0;
  // Every client's limits on its arrays (0: none), as ControllerOptions::quota.
  ArrayQuota quota;
  // Record trace events from the start (the recent max_trace_events are kept).
  bool trace = true;
  size_t max_trace_events = 200000;
  // Gloo gang keys in the rendezvous store are "<gang_key_prefix>gang:N/"; a lost host's gangs
  // get "<...>/abort". Workers learn it when they join (JoinResponse). Empty: made at Start,
  // "gloo/<128 random bits>/", so no key can be guessed.
  std::string gang_key_prefix;
  // How long a host gets to answer Status (pw status) before it is shown unreachable.
  absl::Duration worker_status_timeout = absl::Seconds(1);
  // Shutdown() asks every live worker to stop too (a cluster ends with its controller), 16 at a
  // time, each given 500 ms to answer.
  bool stop_workers_on_shutdown = true;
  // The cluster's secrets. A client connects only with `cluster_token`; shutting down, the
  // trace and every client's usage need `operator_token` (gRPC metadata "pw-operator"). Empty:
  // made at Start (RandomToken; read them back with cluster_token() / operator_token()).
  std::string cluster_token;
  std::string operator_token;
  // A client whose session is not renewed for this long is disconnected (checked every
  // lease / 16): its runs cancelled, its arrays, programs and slices freed. The client library
  // renews every lease / 4.
  absl::Duration client_lease = absl::Seconds(4);

  // INVALID_ARGUMENT naming the field: non-positive timeouts or lease, a negative window, an
  // unknown scheduler, no listen address.
  absl::Status Validate() const;
};

// Threads: gRPC's. Blocking requests (Run, PutArray, Status, Trace, Join...) run on the sync
// server's threads; AwaitArray and FetchArray are callback methods that hold no thread while the
// array is pending — their reactor finishes from the array's future. Hosts join, beat and are
// lost through a HostMembership, whose monitor thread declares hosts lost (missed heartbeats,
// or a failed call reported by a GrpcWorkerClient) and removes them: the host's devices leave
// the resource manager, every array depending on it fails with UNAVAILABLE
// "host:N (ip:port) lost: <why>", the Gloo gangs it had a shard in are aborted through the
// rendezvous store, and other programs carry on.
class ControllerServer {
 public:
  // Errors: options.Validate()'s; UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<ControllerServer>> Start(ControllerServerOptions options);
  ~ControllerServer();  // Shutdown()
  ControllerServer(const ControllerServer&) = delete;
  ControllerServer& operator=(const ControllerServer&) = delete;

  // "ip:port" actually bound (what workers and clients dial).
  const std::string& address() const { return address_; }
  Controller& controller() { return *controller_; }
  ResourceManager& resources() { return resources_; }
  TraceRecorder& trace() { return trace_; }
  RendezvousStore& rendezvous_store() { return store_; }
  const ControllerServerOptions& options() const { return options_; }
  const std::string& cluster_token() const { return options_.cluster_token; }
  const std::string& operator_token() const { return options_.operator_token; }
  ClientSessions& sessions() { return *sessions_; }

  // Until at least `n` hosts are live. DEADLINE_EXCEEDED naming how many joined otherwise.
  absl::Status WaitForHosts(int64_t n, absl::Duration timeout);
  int64_t num_hosts() const;
  // Live hosts, by id.
  std::vector<HostId> hosts() const;

  // Until `host` was declared lost and its removal finished (the controller failed what
  // depended on it, the resource manager dropped its devices). DEADLINE_EXCEEDED otherwise.
  absl::Status WaitForHostLost(HostId host, absl::Duration timeout);

  // Recent trace events of the controller and every live host, into `into` (recording). A host
  // that does not answer is logged and marked by an instant event on the controller's lane.
  void CollectTrace(TraceRecorder& into);
  // The hosts lost so far, by id, with why (the dashboard shows them).
  std::vector<LostHost> lost_hosts() const { return membership_->LostHosts(); }

  // Declares `host` lost now (as a missed heartbeat would). NOT_FOUND for an unknown host.
  absl::Status DeclareLost(HostId host, std::string why);

  // Blocks until Shutdown() or the ControllerApi.Shutdown RPC. Returns OK.
  absl::Status Wait();
  // Stops serving: pending AwaitArray / FetchArray calls and clients' session streams end
  // UNAVAILABLE, workers are asked
  // to stop (stop_workers_on_shutdown), every worker is removed from the controller, the server
  // stops. Idempotent; callable from any thread but a gRPC handler.
  void Shutdown();

  std::string DebugString() const;

 private:
  class ApiService;
  class WorkersService;
  class PendingReactors;
  struct HostEntry {
    std::string data_plane_address;  // its TCP data plane listener; empty if none
    std::unique_ptr<GrpcWorkerClient> client;
  };

  explicit ControllerServer(ControllerServerOptions options);
  absl::Status Init();
  // The gRPC client of member `host`, or null. It lives until the server stopped.
  GrpcWorkerClient* ClientOf(HostId host);

  // ControllerWorkers.
  absl::StatusOr<std::pair<HostId, std::vector<DeviceId>>> Join(HostSpec spec,
                                                                std::string data_plane_address);
  absl::Status Heartbeat(HostId host);
  // The host's Worker address and its TCP data plane address (empty if it has none).
  absl::StatusOr<std::pair<std::string, std::string>> LookupHost(HostId host) const;
  void RequestShutdown();

  // The host's client, once the host is lost: its calls in flight end with `reason`, and it
  // is kept (the controller may still be inside a call to it) until shutdown.
  void RetireClient(HostId host, const absl::Status& reason);

  // Disconnects the clients whose lease ran out, every lease / 16, until Shutdown.
  void ReapSessions();

  ControllerServerOptions options_;  // tokens filled at Start
  std::unique_ptr<ClientSessions> sessions_;
  absl::Notification stop_reaper_;
  std::thread reaper_;
  TraceRecorder trace_;
  ResourceManager resources_;
  InMemoryRendezvousStore store_;
  std::unique_ptr<Controller> controller_;
  std::unique_ptr<HostMembership> membership_;
  std::shared_ptr<PendingReactors> pending_;
  std::unique_ptr<ApiService> api_service_;
  std::unique_ptr<WorkersService> workers_service_;
  std::unique_ptr<RendezvousServiceImpl> rendezvous_service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;

  mutable absl::Mutex mu_;
  // The gRPC side of each live host (membership_ says which hosts are live).
  absl::btree_map<HostId, HostEntry> hosts_ ABSL_GUARDED_BY(mu_);
  // Clients of removed hosts: the controller may still be inside a call to one (a client
  // request racing the removal), so they live until shutdown.
  std::vector<std::unique_ptr<GrpcWorkerClient>> retired_ ABSL_GUARDED_BY(mu_);
  bool shutdown_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex shutdown_mu_;  // serializes Shutdown()
};

}  // namespace pw

#endif  // PATHWAYS_CLUSTER_CONTROLLER_SERVER_H_
