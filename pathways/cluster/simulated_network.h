// SimulatedNetwork: a modelled network for the in-process cluster. Messages between the
// controller and the hosts pay a control-plane latency (data-center RPC); shard pushes between
// hosts pay a link latency plus their bytes over a link bandwidth (an accelerator interconnect).
// One timer thread delivers every message at its deadline, in order per link; the decorators
// below put the delays in front of the real interfaces, so the controller, executors and data
// plane are the same code as without the model.
#ifndef PATHWAYS_CLUSTER_SIMULATED_NETWORK_H_
#define PATHWAYS_CLUSTER_SIMULATED_NETWORK_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "pathways/base/async_value.h"
#include "pathways/base/ids.h"
#include "pathways/device/sim/interconnect_model.h"
#include "pathways/service/data_plane.h"
#include "pathways/service/worker_service.h"

namespace pw {

struct NetworkModel {
  // One way, controller -> worker (Run, Release, PeerLost, FetchShard) and worker -> controller
  // (OnHostRunDone, fetched shards).
  int64_t control_latency_nanos = 0;
  // Host -> host shard pushes: the interconnect's latency, plus bytes / bandwidth of link
  // occupancy (pushes on one link queue behind each other); its ICI figures inside an island,
  // its DCN figures between islands (as ICI when DCN is not modelled). All zero: not modelled.
  InterconnectModel interconnect;

  bool models_control() const { return control_latency_nanos > 0; }
  bool models_cross_island() const { return interconnect.dcn.modelled(); }
  bool models_transfers() const { return interconnect.ici.modelled() || models_cross_island(); }
  // The latency and link occupancy of a push of `bytes`, inside an island or across islands.
  int64_t PushLatencyNanos(bool cross_island) const {
    return interconnect.TransferLatencyNanos(cross_island);
  }
  int64_t PushOccupancyNanos(int64_t bytes, bool cross_island) const {
    return interconnect.TransferOccupancyNanos(bytes, cross_island);
  }
  // INVALID_ARGUMENT naming the field for negative values.
  absl::Status Validate() const;
};

// The timer: a deadline-ordered queue served by one thread. Thread-safe.
class SimulatedNetwork {
 public:
  // One direction between two endpoints; the controller is endpoint kController.
  static constexpr int64_t kController = -1;
  struct Link {
    int64_t from = 0;
    int64_t to = 0;
    template <typename H>
    friend H AbslHashValue(H h, const Link& l) {
      return H::combine(std::move(h), l.from, l.to);
    }
    friend bool operator==(const Link&, const Link&) = default;
  };

  SimulatedNetwork();
  // Shutdown().
  ~SimulatedNetwork();
  SimulatedNetwork(const SimulatedNetwork&) = delete;
  SimulatedNetwork& operator=(const SimulatedNetwork&) = delete;

  // Delivers `deliver` on the timer thread once the link has carried the message: it occupies
  // `link` for `occupancy_nanos` (after the messages before it), then arrives `latency_nanos`
  // later, never before a message sent earlier on the same link (FIFO per link). After
  // Shutdown, or if the network shuts down first, `drop` runs instead (on the calling or the
  // shutting-down thread). Never blocks on the delay.
  void Send(Link link, int64_t latency_nanos, int64_t occupancy_nanos,
            absl::AnyInvocable<void()> deliver, absl::AnyInvocable<void()> drop = nullptr);

  // Drops every message still in flight (running their `drop`), refuses later ones, and joins
  // the timer thread. Idempotent. Must not be called from a delivery.
  void Shutdown();

  // Messages sent and not yet delivered or dropped.
  int64_t in_flight() const;
  int64_t delivered() const { return delivered_.load(std::memory_order_relaxed); }
  int64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  // How late deliveries ran after their deadlines: the model's error on this machine.
  int64_t late_total_nanos() const { return late_total_.load(std::memory_order_relaxed); }
  int64_t late_max_nanos() const { return late_max_.load(std::memory_order_relaxed); }
  // CPU time the receiver spent in deliveries to the controller (its handling of the hosts'
  // reports, on this network's thread), as counted by DelayedRunObserver.
  int64_t controller_cpu_nanos() const { return controller_cpu_.load(std::memory_order_relaxed); }
  void AddControllerCpuNanos(int64_t nanos) {
    controller_cpu_.fetch_add(nanos, std::memory_order_relaxed);
  }
  std::string DebugString() const;

 private:
  struct Message {
    absl::AnyInvocable<void()> deliver;
    absl::AnyInvocable<void()> drop;
  };
  struct LinkState {
    int64_t busy_until = 0;     // end of the last message's occupancy
    int64_t last_arrival = 0;   // deadline of the last message
  };
  void Loop();

  mutable absl::Mutex mu_;
  // (deadline, sequence) -> message: deadline order, ties in send order.
  std::map<std::pair<int64_t, int64_t>, Message> queue_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<Link, LinkState> links_ ABSL_GUARDED_BY(mu_);
  int64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool front_changed_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<int64_t> delivered_{0};
  std::atomic<int64_t> dropped_{0};
  std::atomic<int64_t> late_total_{0};
  std::atomic<int64_t> controller_cpu_{0};
  std::atomic<int64_t> late_max_{0};
  std::thread thread_;
};

// The controller's view of a worker across the modelled control plane: Run, Release, PeerLost
// and FetchShard reach `inner` control_latency later (and a fetched shard comes back as late);
// RegisterFunction, PutShard and Status return a value synchronously, so they go straight
// through (modelling them would block the caller). `inner` and `network` must outlive this.
class DelayedWorkerService final : public WorkerService {
 public:
  DelayedWorkerService(WorkerService* inner, SimulatedNetwork* network, int64_t latency_nanos)
      : inner_(inner), network_(network), latency_(latency_nanos), host_(inner->host()) {}

  HostId host() const override { return host_; }
  absl::Status RegisterFunction(FunctionId id, const ir::Function& function) override {
    return inner_->RegisterFunction(id, function);
  }
  void Run(HostRun run) override;
  absl::Status PutShard(ArrayId array, int32_t shard, DeviceId device,
                        const ir::Literal& data) override {
    return inner_->PutShard(array, shard, device, data);
  }
  AsyncValueRef<ir::Literal> FetchShard(ArrayId array, int32_t shard) override;
  void Release(absl::Span<const ArrayId> arrays) override;
  void PeerLost(HostId peer, absl::Status reason) override;
  void FailShards(ArrayId array, absl::Span<const int32_t> shards, absl::Status status) override;
  void CancelRun(RunId run, absl::Status status) override;
  HostStatus Status() const override { return inner_->Status(); }

 private:
  SimulatedNetwork::Link ToHost() const { return {SimulatedNetwork::kController, host_.value()}; }
  SimulatedNetwork::Link ToController() const { return {host_.value(), SimulatedNetwork::kController}; }

  WorkerService* const inner_;
  SimulatedNetwork* const network_;
  const int64_t latency_;
  const HostId host_;
};

// A host's reports to the controller across the modelled control plane. One per host (the link
// is host -> controller). `inner` and `network` must outlive this.
class DelayedRunObserver final : public RunObserver {
 public:
  DelayedRunObserver(RunObserver* inner, SimulatedNetwork* network, HostId host,
                     int64_t latency_nanos)
      : inner_(inner), network_(network), host_(host), latency_(latency_nanos) {}
  void OnHostRunDone(HostRunResult result) override;

 private:
  RunObserver* const inner_;
  SimulatedNetwork* const network_;
  const HostId host_;
  const int64_t latency_;
};

// A host's pushes across a modelled interconnect link: each push reaches `inner` (the real data
// plane) after the link latency plus its bytes over the link bandwidth, in order per
// (this host, destination). The pushed bytes are read at delivery (DataPlane::Push keeps them
// alive until the returned event). One per sending host.
class DelayedDataPlane final : public DataPlane {
 public:
  // `island_of` names the island of a destination host (pushes to another island than this
  // host's pay the model's cross-island costs); it may be null when the model has none.
  DelayedDataPlane(DataPlane* inner, SimulatedNetwork* network, HostId host, NetworkModel model,
                   std::function<IslandId(HostId)> island_of = nullptr)
      : inner_(inner), network_(network), host_(host), model_(model),
        island_of_(std::move(island_of)) {}
  EventRef Push(HostId dest_host, ArrayId array, int32_t shard, DeviceId dest_device,
                const ir::TensorType& type, const void* data, int64_t bytes) override;
  void PushError(HostId dest_host, ArrayId array, int32_t shard, DeviceId dest_device,
                 const ir::TensorType& type, absl::Status error) override;

 private:
  bool CrossIsland(HostId dest) const;

  DataPlane* const inner_;
  SimulatedNetwork* const network_;
  const HostId host_;
  const NetworkModel model_;
  const std::function<IslandId(HostId)> island_of_;
};

}  // namespace pw

#endif  // PATHWAYS_CLUSTER_SIMULATED_NETWORK_H_
