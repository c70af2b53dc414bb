// LocalCluster: a whole Pathways cluster in one process — controller, resource manager, and
// simulated hosts each with CPU devices and an executor — wired through the in-process transport
// (the same ControllerService / WorkerService / DataPlane / CollectiveGroups interfaces the gRPC
// transport implements). Tests, benchmarks and the embedded default use it.
#ifndef PATHWAYS_CLUSTER_LOCAL_CLUSTER_H_
#define PATHWAYS_CLUSTER_LOCAL_CLUSTER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pathways/base/event_loop.h"
#include "pathways/base/trace.h"
#include "pathways/cluster/host_membership.h"
#include "pathways/collectives/in_process/in_process_collective_groups.h"
#include "pathways/controller/controller.h"
#include "pathways/controller/resource_manager.h"
#include "pathways/device/device_kind.h"
#include "pathways/device/sim/sim_device.h"
#include "pathways/cluster/simulated_network.h"
#include "pathways/worker/host_executor.h"
#include "pathways/dataplane/in_process/in_process_data_plane.h"

namespace pw {

struct LocalClusterOptions {
  int64_t islands = 1;
  int64_t hosts_per_island = 2;
  int64_t devices_per_host = 2;
  int64_t memory_per_device_bytes = int64_t{1} << 30;
  // Start recording trace events at once (otherwise call trace().Start()).
  bool trace = false;
  // Each island's scheduling policy ("fifo", "priority", "share") and admission window
  // (0: the policy's default), as ControllerOptions.
  std::string scheduler = "fifo";
  int64_t scheduler_window = 0;
  // Every client's limits on its arrays (0: none), as ControllerOptions::quota.
  ArrayQuota quota;
  // kCpu: CpuDevices (kernels really run). kSim: SimDevices configured by `sim` (its id, host,
  // memory and trace fields are filled per device), for studies beyond this machine's cores.
  DeviceKind device_kind = DeviceKind::kCpu;
  SimDeviceOptions sim;
  // Modelled latencies between the controller and the hosts and between hosts. All zero (the
  // default): direct calls, no timer thread.
  NetworkModel network;
  // 0 (the default): every host's dispatch and every device has a thread of its own. N > 0: one
  // EventLoop of N threads serves every host's dispatch and every simulated device's stream, so
  // hundreds of hosts and thousands of devices cost N threads (CPU devices keep their threads).
  // With simulated devices it needs sim.execute = false: a kernel run for real may block in a
  // collective, waiting for a device whose tasks need the very thread it holds. For the same
  // reason allocations do not wait for memory there (HostExecutorOptions::allocation_wait 0):
  // what does not fit the memory free now fails at once with RESOURCE_EXHAUSTED.
  int shared_threads = 0;

  // INVALID_ARGUMENT naming the field: non-positive sizes, negative latencies, negative
  // shared_threads or shared threads for simulated devices that execute their kernels.
  absl::Status Validate() const;
};

class LocalCluster {
 public:
  // Errors: options.Validate()'s.
  static absl::StatusOr<std::unique_ptr<LocalCluster>> Start(LocalClusterOptions options);
  // Stops every host executor, then the controller. Clients must be gone first.
  ~LocalCluster();
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  ControllerService& controller() { return *controller_; }
  Controller& controller_impl() { return *controller_; }
  ResourceManager& resources() { return resources_; }
  TraceRecorder& trace() { return trace_; }
  const LocalClusterOptions& options() const { return options_; }

  int64_t num_hosts() const { return static_cast<int64_t>(hosts_.size()); }
  HostId host_id(int64_t index) const { return hosts_[index].id; }
  HostExecutor& host(int64_t index) { return *hosts_[index].executor; }
  // Every device of every host, in host order.
  std::vector<Device*> devices() const;

  // Loses a host as a real host loss does (HostMembership::Lose): peers can no longer push to
  // it, the collective gangs it had a shard in are aborted, the controller fails what depends
  // on it with UNAVAILABLE naming it and `reason`'s message, and the resource manager remaps
  // or fails the slices that used its devices. Its executor keeps running until the cluster
  // goes (a dead host's process, as far as everyone else can tell). NOT_FOUND for an unknown
  // or already lost host.
  absl::Status RemoveHost(HostId host, absl::Status reason);

  HostMembership& membership() { return *membership_; }

  // The modelled network's timer, or null when the network model is all zero.
  const SimulatedNetwork* network() const { return network_.get(); }
  // The loop shared by every host and simulated device, or null (shared_threads = 0). Its
  // timer slack is the simulation's error.
  const EventLoop* shared_loop() const { return shared_loop_.get(); }

  // Sum of busy time over every device, for utilization = busy / (wall * devices).
  int64_t total_busy_nanos() const;

  std::string DebugString() const;

 private:
  struct Host {
    HostId id;
    IslandId island;
    std::vector<std::unique_ptr<Device>> devices;
    std::unique_ptr<HostExecutor> executor;
  };
  explicit LocalCluster(LocalClusterOptions options) : options_(std::move(options)) {}
  absl::Status Init();
  // Makes host `info`'s devices and executor (wired through the network model, if any).
  absl::StatusOr<HostMembership::Member> MakeHost(const HostInfo& info);

  const LocalClusterOptions options_;
  TraceRecorder trace_;
  ResourceManager resources_;
  InProcessDataPlane data_plane_;
  InProcessCollectiveGroups collectives_;
  std::unique_ptr<Controller> controller_;
  std::unique_ptr<HostMembership> membership_;
  // The network model: its timer and the decorators in front of the controller, the executors'
  // reports and their pushes. Shut down before the executors go; destroyed after them.
  std::unique_ptr<SimulatedNetwork> network_;
  std::vector<std::unique_ptr<DelayedWorkerService>> delayed_workers_;
  std::vector<std::unique_ptr<DelayedRunObserver>> delayed_observers_;
  std::vector<std::unique_ptr<DelayedDataPlane>> delayed_data_planes_;
  // Outlives the hosts, whose dispatch and devices run on it.
  std::unique_ptr<EventLoop> shared_loop_;
  // Destroyed before the controller: executors report to it from their threads.
  std::vector<Host> hosts_;
};

}  // namespace pw

#endif  // PATHWAYS_CLUSTER_LOCAL_CLUSTER_H_
