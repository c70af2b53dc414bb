// ResourceManager: the one registry of islands, hosts and devices, and the allocator of virtual
// device slices on them (Pathways paper §4.1).
#ifndef PATHWAYS_CONTROLLER_RESOURCE_MANAGER_H_
#define PATHWAYS_CONTROLLER_RESOURCE_MANAGER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "pathways/base/ids.h"
#include "pathways/controller/placement.h"
#include "pathways/service/topology.h"
#include "pathways/service/virtual_slice.h"

namespace pw {

// Knows every island, host and device, and maps clients' virtual slices onto physical devices.
//
// Placement spreads load: a device's load is the number of live virtual devices mapped onto it,
// and a new slice goes to the island and devices with the lowest max load, then the lowest total
// load, then (if asked) a contiguous run of the island's interconnect order. Physical devices may
// be shared by several slices, as in Pathways; within one slice the devices are distinct, and a
// slice never spans islands.
//
// Hosts join and leave while slices are live. A slice that loses devices is remapped in place
// (only the lost virtual devices move; mapping_version grows) when its island still has enough
// matching devices, and fails otherwise. Slices that require contiguity are not remapped: a
// replacement would leave a gap, so they fail instead.
//
// Thread-safe: every method may be called from any thread. Metadata only; the runtime maps the
// ids to Device objects elsewhere.
class ResourceManager {
 public:
  using MappingListener = absl::AnyInvocable<void(const SliceEvent&)>;

  ResourceManager() = default;
  ResourceManager(const ResourceManager&) = delete;
  ResourceManager& operator=(const ResourceManager&) = delete;

  // Registers a host with `spec.num_devices` new devices, appended to the island's interconnect
  // order; creates the island on first use. Device and host ids are fresh, never reused.
  // INVALID_ARGUMENT for a bad spec (field named), ALREADY_EXISTS for an address in use.
  absl::StatusOr<HostId> AddHost(HostSpec spec);

  // Removes a host and its devices. Slices using them are remapped or failed (see class
  // comment); `reason` (UNAVAILABLE if OK) is carried by the failures. NOT_FOUND for an unknown
  // host. Listeners have seen the resulting events when this returns (unless it is called from
  // inside a listener; then they see them right after that listener returns).
  absl::Status RemoveHost(HostId host, absl::Status reason);

  // Maps a new virtual slice for `client`. INVALID_ARGUMENT for a malformed request, NOT_FOUND for
  // an unknown island, RESOURCE_EXHAUSTED when no island has enough matching devices (or no
  // contiguous run under kRequireContiguous); messages name the field or the request.
  absl::StatusOr<VirtualSlice> AllocateSlice(ClientId client, SliceRequest request);

  // Maps a failed slice of `client` again with its original request: the same id, size, mesh
  // and device filters, on the least loaded island that fits now (the same island if the request
  // named one), every virtual device placed afresh; mapping_version grows and a kRemapped event
  // naming every index goes out. A live slice is returned as it is. RESOURCE_EXHAUSTED (naming
  // the slice and what is missing) while no island fits: a host joining later lets a retry
  // succeed. NOT_FOUND for an unknown slice or another client's.
  absl::StatusOr<VirtualSlice> RepairSlice(ClientId client, SliceId slice);

  // The slice's current mapping. NOT_FOUND if unknown or released; UNAVAILABLE (naming the lost
  // host and the reason) if it failed.
  absl::StatusOr<VirtualSlice> GetSlice(SliceId slice) const;

  // Current mapping version of a live or failed slice; 0 if the slice is unknown or released.
  uint64_t mapping_version(SliceId slice) const;

  // Gives a slice back (a failed one too), returning its load. NOT_FOUND if unknown/released.
  absl::Status ReleaseSlice(SliceId slice);
  // Releases every slice the client holds.
  void ReleaseClient(ClientId client);

  std::vector<DeviceInfo> Devices() const;     // live devices, by id
  std::vector<HostInfo> Hosts() const;         // live hosts, by id
  std::vector<IslandInfo> Islands() const;     // every island ever created, by id
  std::vector<VirtualSlice> Slices() const;    // live (not failed) slices, by id
  std::vector<DeviceLoad> Loads() const;       // every live device, by id
  absl::StatusOr<int64_t> Load(DeviceId device) const;
  absl::StatusOr<DeviceInfo> GetDevice(DeviceId device) const;
  absl::StatusOr<HostInfo> GetHost(HostId host) const;

  // Calls `listener` on every remap, failure and release, in the order they happened, outside
  // the manager's lock (a listener may call back into the manager). One event is delivered at a
  // time. Mutating calls return only once their events went out, so a listener must not block
  // on another thread that is calling into the manager. Returns an id for RemoveMappingListener.
  int AddMappingListener(MappingListener listener);
  // After this returns, the listener is not called again (if called from inside a listener, the
  // current call completes). Unknown ids are ignored.
  void RemoveMappingListener(int listener_id);

  // A table of islands, hosts and devices with their load, then the slices.
  std::string DebugString() const;

 private:
  struct DeviceRecord {
    DeviceInfo info;
    int64_t load = 0;
  };
  struct IslandRecord {
    IslandId id;
    std::vector<HostId> hosts;
    std::vector<DeviceId> devices;  // live, in interconnect order
    int64_t next_position = 0;      // positions are never reused
  };
  struct SliceRecord {
    VirtualSlice slice;
    SliceRequest request;                 // normalized; remaps honour its filters
    std::optional<absl::Status> failure;  // set once the slice could not be remapped
  };

  // Matching devices of `island` (kind, memory), in interconnect order, minus `exclude`.
  std::vector<PlacementCandidate> CandidatesLocked(const IslandRecord& island,
                                                   const SliceRequest& request,
                                                   const absl::flat_hash_set<DeviceId>& exclude)
      const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::pair<IslandId, Placement>> PlaceLocked(const SliceRequest& request) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddLoadLocked(const std::vector<DeviceId>& devices, int64_t delta)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Erases the slice, returns its load and queues a kReleased event.
  void ReleaseLocked(SliceId slice) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Remaps or fails `record`, which just lost the virtual devices at `lost_indices`.
  void RepairSliceLocked(SliceRecord& record, const HostInfo& host, const absl::Status& reason,
                         const std::vector<int64_t>& lost_indices)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs listeners on queued events until none are left.
  void DeliverPendingEvents() ABSL_LOCKS_EXCLUDED(mu_, delivery_mu_, listeners_mu_);

  mutable absl::Mutex mu_;
  absl::btree_map<IslandId, IslandRecord> islands_ ABSL_GUARDED_BY(mu_);
  absl::btree_map<HostId, HostInfo> hosts_ ABSL_GUARDED_BY(mu_);
  absl::btree_map<DeviceId, DeviceRecord> devices_ ABSL_GUARDED_BY(mu_);
  absl::btree_map<SliceId, SliceRecord> slices_ ABSL_GUARDED_BY(mu_);
  int64_t next_host_id_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t next_device_id_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t next_slice_id_ ABSL_GUARDED_BY(mu_) = 0;
  // Events wait here in the order they happened until a thread delivers them.
  std::deque<SliceEvent> pending_events_ ABSL_GUARDED_BY(mu_);

  // Held while listeners run, so events go out one at a time and in order, and so
  // RemoveMappingListener can wait for a call in flight. Taken before mu_, never under it.
  absl::Mutex delivery_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  // The thread holding delivery_mu_, so a listener that calls back does not wait for itself.
  std::atomic<std::thread::id> delivering_thread_{};
  absl::Mutex listeners_mu_;
  absl::btree_map<int, std::shared_ptr<MappingListener>> listeners_ ABSL_GUARDED_BY(listeners_mu_);
  int next_listener_id_ ABSL_GUARDED_BY(listeners_mu_) = 0;
};

}  // namespace pw

#endif  // PATHWAYS_CONTROLLER_RESOURCE_MANAGER_H_
