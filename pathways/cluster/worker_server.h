// WorkerServer: everything one worker process runs — the Worker and DataPlane gRPC services and
// the TCP shard listener over a HostExecutor with its CPU devices, the data plane (TCP or gRPC)
// and Gloo collectives, joining the
// controller and keeping it informed (heartbeats, batched run reports). pw-worker is a thin
// main() around it; tests run several in one process.
#ifndef PATHWAYS_CLUSTER_WORKER_SERVER_H_
#define PATHWAYS_CLUSTER_WORKER_SERVER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "pathways/base/event_loop.h"
#include "pathways/base/ids.h"
#include "pathways/base/trace.h"
#include "pathways/cluster/simulated_network.h"
#include "pathways/collectives/gloo/gloo_collective_groups.h"
#include "pathways/device/sim/sim_device.h"
#include "pathways/dataplane/grpc/data_plane_service.h"
#include "pathways/dataplane/grpc/grpc_data_plane.h"
#include "pathways/rpc/rendezvous_service.h"
#include "pathways/rpc/run_reporter.h"
#include "pathways/dataplane/data_plane_kind.h"
#include "pathways/device/device_kind.h"
#include "pathways/rpc/services.grpc.pb.h"
#include "pathways/dataplane/tcp/tcp_data_plane.h"
#include "pathways/dataplane/tcp/tcp_shard_listener.h"
#include "pathways/rpc/worker_service_impl.h"
#include "pathways/worker/host_executor.h"

namespace pw {

struct WorkerServerOptions {
  std::string controller_address;               // required, "host:port"
  std::string listen_address = "127.0.0.1:0";  // Worker + DataPlane services
  // What the Worker and DataPlane services require of every call (the cluster's operator token;
  // its channels present it). Empty: this process's (grpc_transport::ProcessOperatorToken).
  std::string operator_token;
  int64_t island = 0;
  int64_t num_devices = 2;
  int64_t memory_per_device_bytes = int64_t{1} << 30;
  // Used unless the controller asks for another interval in its JoinResponse.
  absl::Duration heartbeat_interval = absl::Milliseconds(200);
  absl::Duration join_timeout = absl::Seconds(10);
  // The worker stops (UNAVAILABLE) when the controller has not answered a heartbeat this long.
  absl::Duration controller_lost_after = absl::Seconds(5);
  // Where Gloo peers reach this host's collectives. Empty: the host part of listen_address
  // (127.0.0.1 when that is a wildcard address), so a worker reached at 10.0.0.5:7001 also
  // meets its Gloo peers there.
  std::string gloo_hostname;
  // GlooCollectiveGroupsOptions::loop_thread_nice.
  int64_t gloo_loop_nice = 19;
  // kCpu: CpuDevices (kernels really run). kSim: SimDevices configured by `sim` (its id, host,
  // memory and trace fields are filled per device): simulated accelerators, for studies beyond
  // this machine's cores.
  DeviceKind device_kind = DeviceKind::kCpu;
  SimDeviceOptions sim;
  // How this host sends shards to its peers: kTcp (TcpDataPlane, one socket per peer, the
  // default: less CPU and latency per push, see docs/benchmarks.md) or kGrpc (GrpcDataPlane,
  // one call per push). Either way the host receives both (gRPC DataPlane service and a
  // TcpShardListener), so hosts choosing differently still exchange shards.
  DataPlaneKind data_plane = DataPlaneKind::kTcp;
  // Where the TcpShardListener listens; empty: listen_address's host, any free port.
  std::string data_plane_listen_address;
  // Pushes to hosts of another island are paced to the data-center network: each waits this
  // one-way latency, and the link to each such host carries at most dcn_gbps (0: unpaced).
  // Inside an island pushes go straight out (Gloo collectives stay inside an island).
  int64_t dcn_latency_us = 0;
  double dcn_gbps = 0;
  bool trace = true;
  size_t max_trace_events = 200000;  // TraceRecorder::set_max_events
  // Where the executor's dispatch and the simulated devices run; not owned, must outlive the
  // server. Null: the executor and each device make a loop of their own. One process serving
  // many simulated hosts (pw-worker --hosts) shares one loop among all of them. Only for
  // simulated devices that skip their kernels (sim.execute false): a kernel blocked in a
  // collective would hold a thread the other hosts need.
  EventLoop* loop = nullptr;

  // INVALID_ARGUMENT naming the field and its value.
  absl::Status Validate() const;
};

// Threads: gRPC's callback threads serve both services; one heartbeat thread; the executor's
// dispatch thread and one thread per device; the data plane's resolver thread; Gloo's TCP loop.
class WorkerServer {
 public:
  // Listens, joins the controller (ControllerWorkers.Join with this server's "ip:port"), creates
  // the CPU devices with the ids the controller assigned, the executor, the data plane and the
  // Gloo groups (rendezvous through the controller), then starts heartbeats.
  // Errors: INVALID_ARGUMENT for bad options (naming the option) or an address it cannot listen
  // on; UNAVAILABLE naming the controller address when the controller does not answer within
  // join_timeout; the controller's refusal of the join, annotated.
  static absl::StatusOr<std::unique_ptr<WorkerServer>> Start(WorkerServerOptions options);
  // Shutdown().
  ~WorkerServer();
  WorkerServer(const WorkerServer&) = delete;
  WorkerServer& operator=(const WorkerServer&) = delete;

  HostId host() const { return host_; }
  // The address peers and the controller reach this worker at ("ip:port").
  const std::string& address() const { return address_; }
  // Where peers' TcpDataPlanes reach this worker ("ip:port").
  const std::string& data_plane_address() const { return data_plane_address_; }
  const std::vector<DeviceId>& device_ids() const { return device_ids_; }

  // Blocks until the worker stops and returns why: OK after Shutdown() or the Worker.Shutdown
  // RPC; FAILED_PRECONDITION when the controller no longer knows this host; UNAVAILABLE naming
  // the controller when it has not answered for controller_lost_after. Any thread, any number
  // of times. Shutdown() still has to run (the destructor does it).
  absl::Status Wait();
  // Stops serving and tears everything down: calls still waiting are answered UNAVAILABLE,
  // pushes in flight are cancelled, the executor finishes or aborts its work. Idempotent and
  // thread-safe; blocks until done.
  void Shutdown();

  // For tests and diagnostics.
  HostExecutor& executor() { return *executor_; }
  TraceRecorder& trace() { return trace_; }
  // Shards sent, by whichever data plane this host uses.
  struct SentStats {
    int64_t pushes = 0;
    int64_t payload_bytes = 0;
    int64_t copied_bytes = 0;  // in user space on this side
  };
  SentStats data_plane_stats() const;
  // Shards received, over gRPC and TCP together.
  struct ReceivedStats {
    int64_t received_bytes = 0;
    int64_t copied_bytes = 0;  // in user space by the transport (TCP: 0, gRPC: each byte once)
  };
  ReceivedStats received_stats() const;
  RunReporter::Stats report_stats() const { return reporter_->stats(); }
  std::string DebugString() const;

 private:
  explicit WorkerServer(WorkerServerOptions options);
  absl::Status Init();
  absl::Status Listen();
  absl::Status Join();
  absl::Status Build();
  // options_.gloo_hostname, or the host listen_address names (see WorkerServerOptions).
  std::string GlooHostname() const;
  // The host's Worker address and TCP data plane address (empty if it published none).
  absl::StatusOr<std::pair<std::string, std::string>> LookupHost(HostId host);
  // The island of `host` (asked of the controller once, then cached); invalid if unknown.
  IslandId IslandOf(HostId host);
  void HeartbeatLoop();
  // The first reason sticks; wakes Wait() and the heartbeat thread.
  void RequestStop(absl::Status reason);
  void TearDown();

  const WorkerServerOptions options_;
  TraceRecorder trace_;
  std::string address_;
  std::string data_plane_address_;
  HostId host_;
  std::vector<DeviceId> device_ids_;
  absl::Duration heartbeat_interval_;
  std::string gang_key_prefix_ = "gloo/";  // from the JoinResponse

  std::shared_ptr<grpc::Channel> controller_channel_;
  std::unique_ptr<pathways::wire::ControllerWorkers::Stub> controller_;

  // Declared in dependency order: everything below may use what is above it, and teardown
  // (TearDown) runs in the reverse order.
  std::unique_ptr<RunReporter> reporter_;
  std::unique_ptr<WorkerServiceImpl> worker_service_;
  std::unique_ptr<DataPlaneServiceImpl> data_plane_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<TcpShardListener> tcp_listener_;
  std::unique_ptr<GrpcRendezvousStore> store_;
  std::unique_ptr<GlooCollectiveGroups> gloo_;
  std::vector<std::unique_ptr<Device>> devices_;
  // One of the two, by options_.data_plane.
  std::unique_ptr<GrpcDataPlane> grpc_data_plane_;
  std::unique_ptr<TcpDataPlane> tcp_data_plane_;
  // The DCN pacing in front of the data plane (when configured): its timer and the decorator.
  std::unique_ptr<SimulatedNetwork> dcn_network_;
  std::unique_ptr<DelayedDataPlane> dcn_paced_;
  absl::Mutex islands_mu_;
  absl::flat_hash_map<HostId, IslandId> islands_ ABSL_GUARDED_BY(islands_mu_);
  std::unique_ptr<HostExecutor> executor_;
  std::thread heartbeat_thread_;

  mutable absl::Mutex mu_;
  std::optional<absl::Status> stop_reason_ ABSL_GUARDED_BY(mu_);
  // Serializes Shutdown callers; `torn_down_` makes it idempotent.
  absl::Mutex shutdown_mu_;
  bool torn_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace pw

#endif  // PATHWAYS_CLUSTER_WORKER_SERVER_H_
