// BufferStore implementation.
#include "pathways/worker/buffer_store.h"

#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"

namespace pw {

bool ShardEntry::Complete(absl::Status status) {
  if (completed_.exchange(true, std::memory_order_acq_rel)) return false;
  ready_->SetStatus(std::move(status));
  return true;
}

std::shared_ptr<DeviceBuffer> ShardEntry::InstallBuffer(DeviceId device, const ir::TensorType& type,
                                                        std::shared_ptr<DeviceBuffer> buffer) {
  absl::MutexLock lock(&mu_);
  if (buffer_ == nullptr) {
    device_ = device;
    type_ = type;
    buffer_ = std::move(buffer);
  }
  return buffer_;
}

std::shared_ptr<DeviceBuffer> ShardEntry::buffer() const {
  absl::MutexLock lock(&mu_);
  return buffer_;
}

DeviceId ShardEntry::device() const {
  absl::MutexLock lock(&mu_);
  return device_;
}

ir::TensorType ShardEntry::type() const {
  absl::MutexLock lock(&mu_);
  return type_;
}

int64_t ShardEntry::bytes() const {
  absl::MutexLock lock(&mu_);
  return buffer_ == nullptr ? 0 : buffer_->size();
}

std::string ShardEntry::DebugString() const {
  absl::MutexLock lock(&mu_);
  const char* state = !ready_->IsAvailable() ? "pending" : ready_->IsError() ? "failed" : "ready";
  return absl::StrCat(array_.DebugString(), " shard ", shard_, " (", state,
                      buffer_ == nullptr ? ", no buffer" : absl::StrCat(", ", buffer_->size(),
                                                                          " bytes on ",
                                                                          device_.DebugString()),
                      ")");
}

BufferStore::Part& BufferStore::PartOf(ArrayId array) const {
  return parts_[absl::Hash<ArrayId>{}(array) % kNumParts];
}

ShardEntryRef BufferStore::GetOrCreate(ArrayId array, int32_t shard) {
  PW_CHECK(shard >= 0) << "negative shard " << shard << " of " << array;
  Part& part = PartOf(array);
  absl::MutexLock lock(&part.mu);
  auto& shards = part.arrays[array];
  for (const ShardEntryRef& e : shards) {
    if (e->shard() == shard) return e;
  }
  shards.push_back(std::make_shared<ShardEntry>(array, shard));
  return shards.back();
}

ShardEntryRef BufferStore::Find(ArrayId array, int32_t shard) const {
  Part& part = PartOf(array);
  absl::MutexLock lock(&part.mu);
  auto it = part.arrays.find(array);
  if (it == part.arrays.end()) return nullptr;
  for (const ShardEntryRef& e : it->second) {
    if (e->shard() == shard) return e;
  }
  return nullptr;
}

void BufferStore::Release(ArrayId array) {
  absl::InlinedVector<ShardEntryRef, 4> dropped;
  {
    Part& part = PartOf(array);
    absl::MutexLock lock(&part.mu);
    auto it = part.arrays.find(array);
    if (it == part.arrays.end()) return;
    dropped = std::move(it->second);
    part.arrays.erase(it);
  }
  // `dropped` frees buffers here, outside the lock, when the store held the last reference.
}

std::vector<ShardEntryRef> BufferStore::TakeAll() {
  std::vector<ShardEntryRef> all;
  for (Part& part : parts_) {
    absl::MutexLock lock(&part.mu);
    for (auto& [array, shards] : part.arrays) {
      for (ShardEntryRef& e : shards) all.push_back(std::move(e));
    }
    part.arrays.clear();
  }
  return all;
}

BufferStore::Stats BufferStore::GetStats() const {
  Stats stats;
  for (Part& part : parts_) {
    absl::MutexLock lock(&part.mu);
    for (const auto& [array, shards] : part.arrays) {
      for (const ShardEntryRef& e : shards) {
        ++stats.entries;
        stats.bytes += e->bytes();
      }
    }
  }
  return stats;
}

std::string BufferStore::DebugString() const {
  const Stats stats = GetStats();
  return absl::StrCat("buffer store (", stats.entries, " shards, ", stats.bytes, " bytes)");
}

}  // namespace pw
