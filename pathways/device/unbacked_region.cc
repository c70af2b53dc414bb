// UnbackedRegion: one growing MAP_NORESERVE mapping.
#include "pathways/device/unbacked_region.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace pw {
namespace {

struct Region {
  absl::Mutex mu;
  void* base ABSL_GUARDED_BY(mu) = nullptr;
  int64_t size ABSL_GUARDED_BY(mu) = 0;
};

Region& TheRegion() {
  static Region* region = new Region;  // never destroyed: buffers may outlive static teardown
  return *region;
}

constexpr int64_t kGranule = int64_t{2} << 20;  // grow in 2 MiB steps at least

}  // namespace

absl::StatusOr<void*> UnbackedRegion::Get(int64_t bytes) {
  if (bytes < 0) {
    return absl::InvalidArgumentError(absl::StrCat("unbacked region: negative size ", bytes));
  }
  Region& r = TheRegion();
  absl::MutexLock lock(&r.mu);
  if (r.base != nullptr && bytes <= r.size) return r.base;
  // Double, so a growing series of requests maps O(log) regions.
  const int64_t want = std::max({kGranule, 2 * r.size, (bytes + kGranule - 1) / kGranule * kGranule});
  void* fresh = mmap(nullptr, static_cast<size_t>(want), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (fresh == MAP_FAILED) {
    return absl::ResourceExhaustedError(absl::StrCat("unbacked region: cannot reserve ", want,
                                                     " bytes of address space for a ", bytes,
                                                     "-byte buffer: ", std::strerror(errno)));
  }
  if (r.base != nullptr) {
    // Old buffers may still point here: keep the mapping, give its pages back.
    madvise(r.base, static_cast<size_t>(r.size), MADV_DONTNEED);
  }
  r.base = fresh;
  r.size = want;
  return r.base;
}

int64_t UnbackedRegion::reserved_bytes() {
  Region& r = TheRegion();
  absl::MutexLock lock(&r.mu);
  return r.size;
}

}  // namespace pw
