// ArenaPlanner: compile-time placement of buffers in one scratch arena (offsets, not memory).
#ifndef PATHWAYS_KERNELS_ARENA_PLANNER_H_
#define PATHWAYS_KERNELS_ARENA_PLANNER_H_

#include <cstdint>
#include <map>

namespace pw::cpu {

// Best-fit allocator over byte offsets. Every block is a multiple of kScratchAlignment (64)
// and starts at a multiple of it; freed neighbours coalesce. Not thread-safe (compile time).
class ArenaPlanner {
 public:
  ArenaPlanner() = default;
  ArenaPlanner(const ArenaPlanner&) = delete;
  ArenaPlanner& operator=(const ArenaPlanner&) = delete;

  // Offset of a new block of at least `bytes` (> 0) bytes.
  int64_t Allocate(int64_t bytes);
  // Returns a block; `bytes` is what was passed to Allocate.
  void Free(int64_t offset, int64_t bytes);
  // Size the arena must have for every placement made so far.
  int64_t peak_bytes() const { return end_; }

 private:
  std::map<int64_t, int64_t> free_;  // offset -> size
  int64_t end_ = 0;
};

}  // namespace pw::cpu

#endif  // PATHWAYS_KERNELS_ARENA_PLANNER_H_
