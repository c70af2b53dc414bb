// ExecutableCache: compiled CpuExecutables keyed by function fingerprint and input signature.
#ifndef PATHWAYS_KERNELS_EXECUTABLE_CACHE_H_
#define PATHWAYS_KERNELS_EXECUTABLE_CACHE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "pathways/ir/function.h"
#include "pathways/kernels/compile_options.h"
#include "pathways/kernels/cpu_executable.h"

namespace pw {

// One per host (or device kind): every executable in it is compiled with the same options.
// Thread-safe. Entries live as long as the cache (functions are few and executables small).
class ExecutableCache {
 public:
  explicit ExecutableCache(CompileOptions options = {}) : options_(options) {}
  ExecutableCache(const ExecutableCache&) = delete;
  ExecutableCache& operator=(const ExecutableCache&) = delete;

  // Returns the cached executable for `function`, compiling it on a miss. Compilation runs
  // outside the lock, so a slow compile does not block hits; two threads missing on the same
  // function at once may both compile, and the first one stored wins. A compile error is
  // returned and not cached (the next call tries again).
  absl::StatusOr<std::shared_ptr<const CpuExecutable>> GetOrCompile(const ir::Function& function);
  // Same, with ir::Fingerprint(function) computed by the caller (it is linear in the function's
  // size, constants included; callers on a hot path keep it).
  absl::StatusOr<std::shared_ptr<const CpuExecutable>> GetOrCompile(const ir::Function& function,
                                                                    uint64_t fingerprint);

  int64_t hits() const;
  int64_t misses() const;
  int64_t size() const;
  std::string DebugString() const;

 private:
  // The fingerprint already covers parameter types; the signature is kept explicitly so a
  // fingerprint collision between functions of different signatures can never be served.
  struct Key {
    uint64_t fingerprint;
    std::vector<ir::TensorType> signature;
    friend bool operator==(const Key& a, const Key& b) {
      return a.fingerprint == b.fingerprint && a.signature == b.signature;
    }
    template <typename H>
    friend H AbslHashValue(H h, const Key& k) {
      h = H::combine(std::move(h), k.fingerprint, k.signature.size());
      for (const ir::TensorType& t : k.signature) {
        h = H::combine(std::move(h), static_cast<int>(t.dtype));
        h = H::combine_contiguous(std::move(h), t.shape.dims().data(), t.shape.dims().size());
      }
      return h;
    }
  };

  const CompileOptions options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<Key, std::shared_ptr<const CpuExecutable>> entries_ ABSL_GUARDED_BY(mu_);
  int64_t hits_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t misses_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace pw

#endif  // PATHWAYS_KERNELS_EXECUTABLE_CACHE_H_
