// BufferStore: a host's object store — the device buffers of array shards, by (ArrayId, shard).
#ifndef PATHWAYS_WORKER_BUFFER_STORE_H_
#define PATHWAYS_WORKER_BUFFER_STORE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "pathways/base/async_value.h"
#include "pathways/base/ids.h"
#include "pathways/device/device_buffer.h"
#include "pathways/ir/shape.h"

namespace pw {

// One shard of an array on this host. Created on first mention — by the step that will produce
// it, by a consumer enqueued before its producer, by a push arriving before the receive step, or
// by PutShard — so everyone shares one `ready` event however the mentions interleave.
//
// Exactly one producer claims the entry (Claim) and completes it (Complete) once; the buffer is
// installed once (InstallBuffer) by whoever allocates it first (producer, receive step or push).
// Readers touch the buffer's bytes only after `ready` is available: the event orders them after
// the producer's writes.
class ShardEntry {
 public:
  explicit ShardEntry(ArrayId array, int32_t shard)
      : array_(array), shard_(shard), ready_(AsyncEvent::Create()) {}
  ShardEntry(const ShardEntry&) = delete;
  ShardEntry& operator=(const ShardEntry&) = delete;

  ArrayId array() const { return array_; }
  int32_t shard() const { return shard_; }
  const EventRef& ready() const { return ready_; }

  // Takes the producer role; false when another producer already has it.
  bool Claim() { return !claimed_.exchange(true, std::memory_order_acq_rel); }
  bool claimed() const { return claimed_.load(std::memory_order_acquire); }

  // Makes the shard ready (OK) or failed; false (and no effect) if it was already completed.
  bool Complete(absl::Status status);

  // Installs `buffer` as the shard's storage on `device` with `type` unless one is installed
  // already; returns the installed buffer either way (compare to detect losing the race).
  std::shared_ptr<DeviceBuffer> InstallBuffer(DeviceId device, const ir::TensorType& type,
                                              std::shared_ptr<DeviceBuffer> buffer);
  // The installed buffer (null if none yet), its device and type.
  std::shared_ptr<DeviceBuffer> buffer() const;
  DeviceId device() const;
  ir::TensorType type() const;
  // Bytes of the installed buffer (0 if none).
  int64_t bytes() const;

  std::string DebugString() const;

 private:
  const ArrayId array_;
  const int32_t shard_;
  const EventRef ready_;
  std::atomic<bool> claimed_{false};
  std::atomic<bool> completed_{false};
  mutable absl::Mutex mu_;
  DeviceId device_ ABSL_GUARDED_BY(mu_);
  ir::TensorType type_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<DeviceBuffer> buffer_ ABSL_GUARDED_BY(mu_);
};

using ShardEntryRef = std::shared_ptr<ShardEntry>;

// Thread-safe. The map is split into independently locked parts by ArrayId so the dispatch
// thread, pushes from peers and controller calls rarely meet on one lock, and every critical
// section is one hash lookup.
class BufferStore {
 public:
  BufferStore() = default;
  BufferStore(const BufferStore&) = delete;
  BufferStore& operator=(const BufferStore&) = delete;

  // The entry of (array, shard), created (unclaimed, no buffer, not ready) if absent.
  ShardEntryRef GetOrCreate(ArrayId array, int32_t shard);
  // The entry, or null.
  ShardEntryRef Find(ArrayId array, int32_t shard) const;

  // Drops the store's references to every shard of `array`; buffers are freed when in-flight
  // steps holding them finish. Unknown arrays are ignored.
  void Release(ArrayId array);
  // Takes every entry out of the store (shutdown).
  std::vector<ShardEntryRef> TakeAll();

  struct Stats {
    int64_t entries = 0;
    int64_t bytes = 0;  // of installed buffers
  };
  // O(entries): for status reports, not hot paths.
  Stats GetStats() const;
  std::string DebugString() const;

 private:
  static constexpr int kNumParts = 16;
  struct Part {
    mutable absl::Mutex mu;
    // A host holds a few shards of each array (one per device, usually) whatever the array's
    // shard count: a short list searched by shard, not a vector indexed by it.
    absl::flat_hash_map<ArrayId, absl::InlinedVector<ShardEntryRef, 4>> arrays ABSL_GUARDED_BY(mu);
  };
  Part& PartOf(ArrayId array) const;

  mutable std::array<Part, kNumParts> parts_;
};

}  // namespace pw

#endif  // PATHWAYS_WORKER_BUFFER_STORE_H_
