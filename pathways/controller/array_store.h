// Controller-side array metadata: ArrayRecord (owner, spec, devices, refcount, ready future) and
// ArrayStore (the client-visible handles).
#ifndef PATHWAYS_CONTROLLER_ARRAY_STORE_H_
#define PATHWAYS_CONTROLLER_ARRAY_STORE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "pathways/base/async_value.h"
#include "pathways/base/ids.h"
#include "pathways/service/controller_service.h"

namespace pw {

// One sharded array as the controller knows it. The data lives on the hosts; this is its
// metadata and its ready future. Shared by the store (client handles) and by the runs reading
// or producing it; `refs` counts all of them, and when it reaches zero the hosts may free it.
class ArrayRecord {
 public:
  enum class Initial { kReady, kPending };

  // `mesh`: the slice's mesh (empty: its devices in a line).
  ArrayRecord(ArrayId id, ClientId owner, ArraySpec spec, std::vector<DeviceId> devices,
              std::vector<HostId> shard_hosts, Initial initial, std::vector<int64_t> mesh = {});
  ArrayRecord(const ArrayRecord&) = delete;
  ArrayRecord& operator=(const ArrayRecord&) = delete;

  ArrayId id() const { return id_; }
  ClientId owner() const { return owner_; }
  const ArraySpec& spec() const { return spec_; }
  const std::vector<DeviceId>& devices() const { return devices_; }
  const std::vector<HostId>& shard_hosts() const { return shard_hosts_; }
  int64_t num_shards() const { return static_cast<int64_t>(devices_.size()); }
  ArrayInfo info() const { return ArrayInfo{id_, spec_, devices_, mesh_}; }
  bool OnHost(HostId host) const;

  // Available once every shard is ready, or failed with the first error to reach a shard.
  const EventRef& ready() const { return ready_; }

  // A host reported shard `shard`. The first error fails the array at once (later reports are
  // then ignored); repeated or out-of-range reports are ignored. Thread-safe.
  void ResolveShard(int32_t shard, const absl::Status& status);
  // Fails the array unless it is already available. Thread-safe.
  void Fail(const absl::Status& status);

  // References: client handles, runs reading or writing it, fetches in progress.
  void AddRef(int64_t n = 1) { refs_.fetch_add(n, std::memory_order_relaxed); }
  // True when this dropped the last reference: the hosts may free the shards.
  bool DropRef(int64_t n = 1);
  int64_t refs() const { return refs_.load(std::memory_order_relaxed); }

  std::string DebugString() const;

 private:
  const ArrayId id_;
  const ClientId owner_;
  const ArraySpec spec_;
  const std::vector<DeviceId> devices_;
  const std::vector<HostId> shard_hosts_;
  const std::vector<int64_t> mesh_;
  const EventRef ready_;
  std::atomic<int64_t> refs_{0};

  absl::Mutex mu_;
  std::vector<bool> resolved_ ABSL_GUARDED_BY(mu_);
  int64_t pending_ ABSL_GUARDED_BY(mu_) = 0;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

// What arrays take of their owner's quota: how many, and their shards' bytes per device.
struct ArrayFootprint {
  int64_t arrays = 0;
  absl::flat_hash_map<DeviceId, int64_t> bytes;
  // One array of `shard_type` with a shard on each of `devices`.
  void Add(const ir::TensorType& shard_type, absl::Span<const DeviceId> devices);
};

// The arrays clients hold handles to, with the number of handles each client holds (a program
// returning the same value twice gives two handles to one array). Thread-safe. Arrays of
// another client are NOT_FOUND, as if they did not exist.
//
// Usage: every array is charged to its owner (Charge) before it is created and refunded when
// it leaves the store (its last handle released, or its client gone), so the store always knows
// what each client holds, and refuses what would take a client over its quota.
class ArrayStore {
 public:
  ArrayStore() = default;
  ArrayStore(const ArrayStore&) = delete;
  ArrayStore& operator=(const ArrayStore&) = delete;

  // A fresh id (never reused).
  ArrayId NewId() { return ArrayId(next_id_.fetch_add(1, std::memory_order_relaxed)); }
  // Reserves `n` consecutive fresh ids; returns the first.
  int64_t NewIds(int64_t n) { return next_id_.fetch_add(n, std::memory_order_relaxed); }

  // Adds one client handle to `record` (inserting it if new) and takes a reference for it.
  void AddHandle(std::shared_ptr<ArrayRecord> record);

  // The record behind a handle of `client`. NOT_FOUND naming the array otherwise.
  absl::StatusOr<std::shared_ptr<ArrayRecord>> Get(ClientId client, ArrayId array) const;

  // Drops one handle of `client`; the array leaves the store with its last handle. Returns the
  // record, whose reference the caller must drop (DropRef). NOT_FOUND for an unknown array.
  absl::StatusOr<std::shared_ptr<ArrayRecord>> Release(ClientId client, ArrayId array);

  // Removes every array of `client`; each record comes with the number of references the
  // caller must drop.
  std::vector<std::pair<std::shared_ptr<ArrayRecord>, int64_t>> ReleaseClient(ClientId client);

  // Counts arrays about to be created for `client`: RESOURCE_EXHAUSTED naming the quota and the
  // device when they would take it over `quota` (nothing is counted then). Once charged, an
  // array that is not created after all is refunded with Refund; one that is created (AddHandle)
  // is refunded when it leaves the store.
  absl::Status Charge(ClientId client, const ArrayFootprint& footprint, const ArrayQuota& quota);
  void Refund(ClientId client, const ArrayFootprint& footprint);
  // Bytes of the client's arrays, summed over devices.
  int64_t BytesOf(ClientId client) const;

  int64_t size() const;
  int64_t CountOf(ClientId client) const;
  std::vector<std::shared_ptr<ArrayRecord>> All() const;

 private:
  struct Entry {
    std::shared_ptr<ArrayRecord> record;
    int64_t handles = 0;
  };
  void RefundLocked(ClientId client, const ArrayFootprint& footprint) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RefundRecordLocked(const ArrayRecord& record) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::atomic<int64_t> next_id_{0};
  mutable absl::Mutex mu_;
  absl::flat_hash_map<ArrayId, Entry> arrays_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<ClientId, ArrayFootprint> used_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pw

#endif  // PATHWAYS_CONTROLLER_ARRAY_STORE_H_
