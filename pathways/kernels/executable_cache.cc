// ExecutableCache.
#include "pathways/kernels/executable_cache.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "pathways/ir/serialization.h"

namespace pw {

absl::StatusOr<std::shared_ptr<const CpuExecutable>> ExecutableCache::GetOrCompile(
    const ir::Function& function) {
  return GetOrCompile(function, ir::Fingerprint(function));
}

absl::StatusOr<std::shared_ptr<const CpuExecutable>> ExecutableCache::GetOrCompile(
    const ir::Function& function, uint64_t fingerprint) {
  Key key{fingerprint, function.parameter_types()};
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      ++hits_;
      return it->second;
    }
    ++misses_;
  }
  absl::StatusOr<std::shared_ptr<const CpuExecutable>> compiled =
      CpuExecutable::Compile(function, options_);
  if (!compiled.ok()) return compiled.status();
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = entries_.try_emplace(std::move(key), *std::move(compiled));
  return it->second;
}

int64_t ExecutableCache::hits() const {
  absl::MutexLock lock(&mu_);
  return hits_;
}

int64_t ExecutableCache::misses() const {
  absl::MutexLock lock(&mu_);
  return misses_;
}

int64_t ExecutableCache::size() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(entries_.size());
}

std::string ExecutableCache::DebugString() const {
  absl::MutexLock lock(&mu_);
  return absl::StrCat("ExecutableCache{entries=", entries_.size(), ", hits=", hits_,
                      ", misses=", misses_, "}");
}

}  // namespace pw
