// LoweringCache: lowerings keyed by (program, mapping versions of its slices).
#include "pathways/dataflow/lowering.h"

#include "absl/container/flat_hash_map.h"

namespace pw {

std::shared_ptr<const LoweredProgram> LoweringCache::Lookup(const Key& key) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  return it->second;
}

void LoweringCache::Insert(const Key& key, std::shared_ptr<const LoweredProgram> lowered) {
  absl::MutexLock lock(&mu_);
  entries_.insert_or_assign(key, std::move(lowered));
}

void LoweringCache::Erase(ProgramId program) {
  absl::MutexLock lock(&mu_);
  absl::erase_if(entries_, [&](const auto& entry) { return entry.first.program == program; });
}

int64_t LoweringCache::hits() const {
  absl::MutexLock lock(&mu_);
  return hits_;
}

int64_t LoweringCache::misses() const {
  absl::MutexLock lock(&mu_);
  return misses_;
}

}  // namespace pw
