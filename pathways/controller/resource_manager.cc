// ResourceManager: topology bookkeeping, slice allocation, remapping and listener delivery.
#include "pathways/controller/resource_manager.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"

namespace pw {
namespace {

absl::Status ValidateHostSpec(const HostSpec& spec) {
  if (!spec.island.valid()) {
    return absl::InvalidArgumentError(
        absl::StrCat("AddHost: HostSpec.island is invalid (", spec.island.value(), ")"));
  }
  if (spec.address.empty()) {
    return absl::InvalidArgumentError("AddHost: HostSpec.address is empty");
  }
  if (spec.num_devices <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("AddHost ", spec.address,
                                                   ": HostSpec.num_devices must be positive, got ",
                                                   spec.num_devices));
  }
  if (spec.device_kind.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("AddHost ", spec.address, ": HostSpec.device_kind is empty"));
  }
  if (spec.memory_bytes_per_device < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("AddHost ", spec.address,
                     ": HostSpec.memory_bytes_per_device must not be negative, got ",
                     spec.memory_bytes_per_device));
  }
  return absl::OkStatus();
}

// Checks `request` and fills in the default mesh shape.
absl::Status NormalizeRequest(ClientId client, SliceRequest& request) {
  if (!client.valid()) {
    return absl::InvalidArgumentError(
        absl::StrCat("AllocateSlice: client id is invalid (", client.value(), ")"));
  }
  if (request.num_devices <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("AllocateSlice for ", client.DebugString(),
                     ": SliceRequest.num_devices must be positive, got ", request.num_devices));
  }
  if (request.device_kind.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AllocateSlice for ", client.DebugString(), ": SliceRequest.device_kind is empty"));
  }
  if (request.min_memory_bytes < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("AllocateSlice for ", client.DebugString(),
                     ": SliceRequest.min_memory_bytes must not be negative, got ",
                     request.min_memory_bytes));
  }
  if (request.mesh_shape.empty()) {
    request.mesh_shape = {request.num_devices};
    return absl::OkStatus();
  }
  int64_t product = 1;
  for (int64_t dim : request.mesh_shape) {
    // Stop once past num_devices, so a huge shape cannot overflow into a false match.
    if (dim <= 0 || product > request.num_devices) {
      product = -1;
      break;
    }
    product *= dim;
  }
  if (product != request.num_devices) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AllocateSlice for ", client.DebugString(), ": SliceRequest.mesh_shape [",
        absl::StrJoin(request.mesh_shape, ","), "] does not hold num_devices=",
        request.num_devices, " devices (every dimension must be positive and their product ",
        "must equal num_devices)"));
  }
  return absl::OkStatus();
}

// Length of the longest gap-free run of positions, for error messages.
int64_t LongestRun(const std::vector<PlacementCandidate>& candidates) {
  int64_t longest = 0;
  int64_t current = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    bool continues = i > 0 && candidates[i].position == candidates[i - 1].position + 1;
    current = continues ? current + 1 : 1;
    longest = std::max(longest, current);
  }
  return longest;
}

}  // namespace

absl::StatusOr<HostId> ResourceManager::AddHost(HostSpec spec) {
  PW_RETURN_IF_ERROR(ValidateHostSpec(spec));
  absl::MutexLock lock(&mu_);
  for (const auto& [id, host] : hosts_) {
    if (host.address == spec.address) {
      return absl::AlreadyExistsError(absl::StrCat("AddHost: address ", spec.address,
                                                   " is already registered as ", id.DebugString()));
    }
  }
  IslandRecord& island = islands_[spec.island];
  island.id = spec.island;
  HostInfo host;
  host.id = HostId(next_host_id_++);
  host.island = spec.island;
  host.address = spec.address;
  for (int i = 0; i < spec.num_devices; ++i) {
    DeviceRecord record;
    record.info.id = DeviceId(next_device_id_++);
    record.info.host = host.id;
    record.info.island = spec.island;
    record.info.kind = spec.device_kind;
    record.info.memory_bytes = spec.memory_bytes_per_device;
    record.info.index_in_island = island.next_position++;
    host.devices.push_back(record.info.id);
    island.devices.push_back(record.info.id);
    devices_.emplace(record.info.id, std::move(record));
  }
  island.hosts.push_back(host.id);
  HostId id = host.id;
  hosts_.emplace(id, std::move(host));
  return id;
}

absl::Status ResourceManager::RemoveHost(HostId host_id, absl::Status reason) {
  if (reason.ok()) reason = absl::UnavailableError("host removed");
  {
    absl::MutexLock lock(&mu_);
    auto host_it = hosts_.find(host_id);
    if (host_it == hosts_.end()) {
      return absl::NotFoundError(
          absl::StrCat("RemoveHost: ", host_id.DebugString(), " is not registered"));
    }
    HostInfo host = std::move(host_it->second);
    hosts_.erase(host_it);
    absl::flat_hash_set<DeviceId> lost(host.devices.begin(), host.devices.end());
    IslandRecord& island = islands_.at(host.island);
    std::erase(island.hosts, host.id);
    std::erase_if(island.devices, [&](DeviceId d) { return lost.contains(d); });
    for (DeviceId device : host.devices) devices_.erase(device);

    for (auto& [slice_id, record] : slices_) {
      if (record.failure.has_value() || record.slice.island != host.island) continue;
      std::vector<int64_t> lost_indices;
      for (size_t i = 0; i < record.slice.devices.size(); ++i) {
        if (lost.contains(record.slice.devices[i])) lost_indices.push_back(i);
      }
      if (!lost_indices.empty()) RepairSliceLocked(record, host, reason, lost_indices);
    }
  }
  DeliverPendingEvents();
  return absl::OkStatus();
}

void ResourceManager::RepairSliceLocked(SliceRecord& record, const HostInfo& host,
                                        const absl::Status& reason,
                                        const std::vector<int64_t>& lost_indices) {
  VirtualSlice& slice = record.slice;
  // The lost devices no longer exist (their load went with them); keep the survivors in place.
  absl::flat_hash_set<DeviceId> kept;
  for (size_t i = 0; i < slice.devices.size(); ++i) {
    if (!std::binary_search(lost_indices.begin(), lost_indices.end(), static_cast<int64_t>(i))) {
      kept.insert(slice.devices[i]);
    }
  }
  std::vector<DeviceId> replacements;
  std::string why_not;
  if (record.request.contiguity == ContiguityPolicy::kRequireContiguous) {
    why_not = "the slice requires a contiguous run, which a partial remap cannot keep";
  } else {
    std::vector<PlacementCandidate> candidates =
        CandidatesLocked(islands_.at(slice.island), record.request, kept);
    replacements = PickLeastLoaded(candidates, static_cast<int64_t>(lost_indices.size()));
    if (replacements.size() < lost_indices.size()) {
      why_not = absl::StrCat(slice.island.DebugString(), " has ", candidates.size(),
                             " other matching devices left, the slice needs ",
                             lost_indices.size());
    }
  }

  ++slice.mapping_version;
  SliceEvent event;
  if (why_not.empty()) {
    for (size_t k = 0; k < lost_indices.size(); ++k) {
      slice.devices[lost_indices[k]] = replacements[k];
    }
    AddLoadLocked(replacements, +1);
    event.kind = SliceEventKind::kRemapped;
    event.changed_indices = lost_indices;
    PW_LOG(INFO) << "remapped " << slice.DebugString() << " after removing "
                 << host.id.DebugString();
  } else {
    // A failed slice holds no devices: give back the load of the survivors too.
    AddLoadLocked(std::vector<DeviceId>(kept.begin(), kept.end()), -1);
    record.failure = absl::UnavailableError(absl::StrCat(
        slice.id.DebugString(), " of ", slice.client.DebugString(), " failed: ",
        host.id.DebugString(), " (", host.address, ") was removed (", reason.ToString(),
        ") taking virtual devices [", absl::StrJoin(lost_indices, ","), "], and ", why_not));
    event.kind = SliceEventKind::kFailed;
    event.status = *record.failure;
    PW_LOG(WARNING) << record.failure->message();
  }
  event.slice = slice;
  pending_events_.push_back(std::move(event));
}

std::vector<PlacementCandidate> ResourceManager::CandidatesLocked(
    const IslandRecord& island, const SliceRequest& request,
    const absl::flat_hash_set<DeviceId>& exclude) const {
  std::vector<PlacementCandidate> candidates;
  candidates.reserve(island.devices.size());
  for (DeviceId id : island.devices) {
    const DeviceRecord& device = devices_.at(id);
    if (device.info.kind != request.device_kind) continue;
    if (device.info.memory_bytes < request.min_memory_bytes) continue;
    if (exclude.contains(id)) continue;
    candidates.push_back({id, device.info.index_in_island, device.load});
  }
  return candidates;
}

absl::StatusOr<std::pair<IslandId, Placement>> ResourceManager::PlaceLocked(
    const SliceRequest& request) const {
  std::vector<const IslandRecord*> islands;
  if (request.island.has_value()) {
    auto it = islands_.find(*request.island);
    if (it == islands_.end()) {
      return absl::NotFoundError(absl::StrCat("AllocateSlice: SliceRequest.island ",
                                              request.island->DebugString(),
                                              " is not known to the resource manager"));
    }
    islands.push_back(&it->second);
  } else {
    for (const auto& [id, island] : islands_) islands.push_back(&island);
  }

  std::optional<std::pair<IslandId, Placement>> best;
  int64_t largest = 0;
  int64_t longest_run = 0;
  IslandId largest_island;
  for (const IslandRecord* island : islands) {
    std::vector<PlacementCandidate> candidates = CandidatesLocked(*island, request, {});
    if (!largest_island.valid() || static_cast<int64_t>(candidates.size()) > largest) {
      largest = static_cast<int64_t>(candidates.size());
      largest_island = island->id;
    }
    longest_run = std::max(longest_run, LongestRun(candidates));
    std::optional<Placement> placement =
        PlaceInIsland(candidates, request.num_devices, request.contiguity);
    // Islands are visited by id, so on a tie the lowest island id wins.
    if (placement.has_value() && (!best.has_value() || placement->BetterThan(best->second))) {
      best.emplace(island->id, std::move(*placement));
    }
  }
  if (best.has_value()) {
    // A mesh's rows (its last axis: the model-parallel groups) on one host where they can be.
    if (request.mesh_shape.size() > 1) {
      best->second.devices = OrderForMesh(best->second.devices, request.mesh_shape.back(),
                                          [this](DeviceId d) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                            return devices_.at(d).info.host;
                                          });
    }
    return *std::move(best);
  }

  if (largest < request.num_devices) {
    std::string where = largest_island.valid()
                            ? absl::StrCat("the largest island (", largest_island.DebugString(),
                                           ") has ", largest, " matching devices")
                            : "there are no islands";
    if (request.island.has_value()) {
      where = absl::StrCat(request.island->DebugString(), " has only ", largest,
                           " matching devices");
    }
    return absl::ResourceExhaustedError(
        absl::StrCat("AllocateSlice: cannot place ", request.DebugString(), ": ", where));
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "AllocateSlice: cannot place ", request.DebugString(), ": no contiguous run of ",
      request.num_devices, " matching devices; the longest run has ", longest_run));
}

void ResourceManager::AddLoadLocked(const std::vector<DeviceId>& devices, int64_t delta) {
  for (DeviceId id : devices) {
    auto it = devices_.find(id);
    PW_CHECK(it != devices_.end()) << "slice maps onto unknown " << id;
    it->second.load += delta;
    PW_CHECK(it->second.load >= 0) << "negative load on " << id;
  }
}

absl::StatusOr<VirtualSlice> ResourceManager::AllocateSlice(ClientId client,
                                                            SliceRequest request) {
  PW_RETURN_IF_ERROR(NormalizeRequest(client, request));
  absl::MutexLock lock(&mu_);
  PW_ASSIGN_OR_RETURN(auto placed, PlaceLocked(request));
  SliceRecord record;
  record.slice.id = SliceId(next_slice_id_++);
  record.slice.client = client;
  record.slice.island = placed.first;
  record.slice.devices = std::move(placed.second.devices);
  record.slice.mesh_shape = request.mesh_shape;
  record.slice.mapping_version = 1;
  record.request = std::move(request);
  AddLoadLocked(record.slice.devices, +1);
  VirtualSlice slice = record.slice;
  slices_.emplace(slice.id, std::move(record));
  return slice;
}

absl::StatusOr<VirtualSlice> ResourceManager::RepairSlice(ClientId client, SliceId slice) {
  VirtualSlice repaired;
  {
    absl::MutexLock lock(&mu_);
    auto it = slices_.find(slice);
    if (it == slices_.end() || it->second.slice.client != client) {
      return absl::NotFoundError(absl::StrCat("RepairSlice: unknown ", slice.DebugString(),
                                              " for ", client.DebugString()));
    }
    SliceRecord& record = it->second;
    if (!record.failure.has_value()) return record.slice;
    absl::StatusOr<std::pair<IslandId, Placement>> placed = PlaceLocked(record.request);
    if (!placed.ok()) {
      return absl::Status(placed.status().code(),
                          absl::StrCat("RepairSlice: ", slice.DebugString(), " (",
                                       record.request.num_devices, " devices) cannot be mapped yet: ",
                                       placed.status().message()));
    }
    record.slice.island = placed->first;
    record.slice.devices = std::move(placed->second.devices);
    ++record.slice.mapping_version;
    record.failure.reset();
    AddLoadLocked(record.slice.devices, +1);
    SliceEvent event;
    event.kind = SliceEventKind::kRemapped;
    for (size_t i = 0; i < record.slice.devices.size(); ++i) event.changed_indices.push_back(i);
    event.slice = record.slice;
    pending_events_.push_back(std::move(event));
    PW_LOG(INFO) << "repaired " << record.slice.DebugString();
    repaired = record.slice;
  }
  DeliverPendingEvents();
  return repaired;
}

absl::StatusOr<VirtualSlice> ResourceManager::GetSlice(SliceId slice) const {
  absl::MutexLock lock(&mu_);
  auto it = slices_.find(slice);
  if (it == slices_.end()) {
    return absl::NotFoundError(
        absl::StrCat("GetSlice: ", slice.DebugString(), " is unknown or was released"));
  }
  if (it->second.failure.has_value()) return *it->second.failure;
  return it->second.slice;
}

uint64_t ResourceManager::mapping_version(SliceId slice) const {
  absl::MutexLock lock(&mu_);
  auto it = slices_.find(slice);
  return it == slices_.end() ? 0 : it->second.slice.mapping_version;
}

void ResourceManager::ReleaseLocked(SliceId slice) {
  auto it = slices_.find(slice);
  PW_CHECK(it != slices_.end()) << slice;
  SliceRecord record = std::move(it->second);
  slices_.erase(it);
  if (!record.failure.has_value()) AddLoadLocked(record.slice.devices, -1);
  SliceEvent event;
  event.kind = SliceEventKind::kReleased;
  event.slice = std::move(record.slice);
  pending_events_.push_back(std::move(event));
}

absl::Status ResourceManager::ReleaseSlice(SliceId slice) {
  {
    absl::MutexLock lock(&mu_);
    if (!slices_.contains(slice)) {
      return absl::NotFoundError(
          absl::StrCat("ReleaseSlice: ", slice.DebugString(), " is unknown or already released"));
    }
    ReleaseLocked(slice);
  }
  DeliverPendingEvents();
  return absl::OkStatus();
}

void ResourceManager::ReleaseClient(ClientId client) {
  {
    absl::MutexLock lock(&mu_);
    std::vector<SliceId> owned;
    for (const auto& [id, record] : slices_) {
      if (record.slice.client == client) owned.push_back(id);
    }
    for (SliceId id : owned) ReleaseLocked(id);
  }
  DeliverPendingEvents();
}

int ResourceManager::AddMappingListener(MappingListener listener) {
  absl::MutexLock lock(&listeners_mu_);
  int id = next_listener_id_++;
  listeners_.emplace(id, std::make_shared<MappingListener>(std::move(listener)));
  return id;
}

void ResourceManager::RemoveMappingListener(int listener_id) {
  {
    absl::MutexLock lock(&listeners_mu_);
    listeners_.erase(listener_id);
  }
  // A delivery in flight may still hold the listener; wait it out, unless it is this very thread.
  if (delivering_thread_.load() != std::this_thread::get_id()) {
    absl::MutexLock wait(&delivery_mu_);
  }
}

void ResourceManager::DeliverPendingEvents() {
  // A listener that mutated the manager: the delivery loop below it picks the new events up.
  if (delivering_thread_.load() == std::this_thread::get_id()) return;
  absl::MutexLock delivery(&delivery_mu_);
  delivering_thread_.store(std::this_thread::get_id());
  while (true) {
    SliceEvent event;
    {
      absl::MutexLock lock(&mu_);
      if (pending_events_.empty()) break;
      event = std::move(pending_events_.front());
      pending_events_.pop_front();
    }
    std::vector<std::shared_ptr<MappingListener>> listeners;
    {
      absl::MutexLock lock(&listeners_mu_);
      for (const auto& [id, listener] : listeners_) listeners.push_back(listener);
    }
    for (const auto& listener : listeners) (*listener)(event);
  }
  delivering_thread_.store(std::thread::id());
}

std::vector<DeviceInfo> ResourceManager::Devices() const {
  absl::MutexLock lock(&mu_);
  std::vector<DeviceInfo> out;
  out.reserve(devices_.size());
  for (const auto& [id, device] : devices_) out.push_back(device.info);
  return out;
}

std::vector<HostInfo> ResourceManager::Hosts() const {
  absl::MutexLock lock(&mu_);
  std::vector<HostInfo> out;
  for (const auto& [id, host] : hosts_) out.push_back(host);
  return out;
}

std::vector<IslandInfo> ResourceManager::Islands() const {
  absl::MutexLock lock(&mu_);
  std::vector<IslandInfo> out;
  for (const auto& [id, island] : islands_) out.push_back({id, island.hosts, island.devices});
  return out;
}

std::vector<VirtualSlice> ResourceManager::Slices() const {
  absl::MutexLock lock(&mu_);
  std::vector<VirtualSlice> out;
  for (const auto& [id, record] : slices_) {
    if (!record.failure.has_value()) out.push_back(record.slice);
  }
  return out;
}

std::vector<DeviceLoad> ResourceManager::Loads() const {
  absl::MutexLock lock(&mu_);
  std::vector<DeviceLoad> out;
  out.reserve(devices_.size());
  for (const auto& [id, device] : devices_) out.push_back({id, device.load});
  return out;
}

absl::StatusOr<int64_t> ResourceManager::Load(DeviceId device) const {
  absl::MutexLock lock(&mu_);
  auto it = devices_.find(device);
  if (it == devices_.end()) {
    return absl::NotFoundError(absl::StrCat("Load: ", device.DebugString(), " is not registered"));
  }
  return it->second.load;
}

absl::StatusOr<DeviceInfo> ResourceManager::GetDevice(DeviceId device) const {
  absl::MutexLock lock(&mu_);
  auto it = devices_.find(device);
  if (it == devices_.end()) {
    return absl::NotFoundError(
        absl::StrCat("GetDevice: ", device.DebugString(), " is not registered"));
  }
  return it->second.info;
}

absl::StatusOr<HostInfo> ResourceManager::GetHost(HostId host) const {
  absl::MutexLock lock(&mu_);
  auto it = hosts_.find(host);
  if (it == hosts_.end()) {
    return absl::NotFoundError(absl::StrCat("GetHost: ", host.DebugString(), " is not registered"));
  }
  return it->second;
}

std::string ResourceManager::DebugString() const {
  absl::MutexLock lock(&mu_);
  int64_t failed = 0;
  for (const auto& [id, record] : slices_) failed += record.failure.has_value() ? 1 : 0;
  std::string out = absl::StrCat("ResourceManager: ", islands_.size(), " islands, ",
                                 hosts_.size(), " hosts, ", devices_.size(), " devices, ",
                                 slices_.size() - failed, " live slices, ", failed, " failed\n");
  for (const auto& [island_id, island] : islands_) {
    absl::StrAppend(&out, island_id.DebugString(), ": ", island.hosts.size(), " hosts, ",
                    island.devices.size(), " devices\n");
    for (HostId host_id : island.hosts) {
      const HostInfo& host = hosts_.at(host_id);
      absl::StrAppend(&out, "  ", host_id.DebugString(), " @ ", host.address, "\n");
      for (DeviceId device_id : host.devices) {
        const DeviceRecord& device = devices_.at(device_id);
        absl::StrAppend(&out, absl::StrFormat("    %-12s pos %-4d %-6s %14d B  load %d\n",
                                              device_id.DebugString(),
                                              device.info.index_in_island, device.info.kind,
                                              device.info.memory_bytes, device.load));
      }
    }
  }
  if (!slices_.empty()) absl::StrAppend(&out, "slices:\n");
  for (const auto& [id, record] : slices_) {
    absl::StrAppend(&out, "  ", record.slice.DebugString());
    if (record.failure.has_value()) absl::StrAppend(&out, " FAILED: ", record.failure->message());
    absl::StrAppend(&out, "\n");
  }
  return out;
}

}  // namespace pw
