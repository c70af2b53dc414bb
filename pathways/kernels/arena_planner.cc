// ArenaPlanner.
#include "pathways/kernels/arena_planner.h"

#include <iterator>

#include "pathways/base/logging.h"
#include "pathways/kernels/kernel_step.h"

namespace pw::cpu {

int64_t ArenaPlanner::Allocate(int64_t bytes) {
  PW_CHECK(bytes > 0) << bytes;
  const int64_t size = AlignUp(bytes);
  auto best = free_.end();
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second >= size && (best == free_.end() || it->second < best->second)) best = it;
  }
  if (best != free_.end()) {
    const int64_t offset = best->first;
    const int64_t rest = best->second - size;
    free_.erase(best);
    if (rest > 0) free_[offset + size] = rest;
    return offset;
  }
  // Grow the arena, reusing a free block at its end if there is one.
  if (!free_.empty()) {
    auto last = std::prev(free_.end());
    if (last->first + last->second == end_) {
      const int64_t offset = last->first;
      free_.erase(last);
      end_ = offset + size;
      return offset;
    }
  }
  const int64_t offset = end_;
  end_ += size;
  return offset;
}

void ArenaPlanner::Free(int64_t offset, int64_t bytes) {
  int64_t size = AlignUp(bytes);
  auto next = free_.lower_bound(offset);
  if (next != free_.end() && offset + size == next->first) {
    size += next->second;
    next = free_.erase(next);
  }
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == offset) {
      prev->second += size;
      return;
    }
  }
  free_[offset] = size;
}

}  // namespace pw::cpu
