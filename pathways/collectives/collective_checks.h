// Argument checks every Communicator / CollectiveGroups implementation applies the same way.
#ifndef PATHWAYS_COLLECTIVES_COLLECTIVE_CHECKS_H_
#define PATHWAYS_COLLECTIVES_COLLECTIVE_CHECKS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "pathways/base/ids.h"
#include "pathways/base/status.h"
#include "pathways/kernels/reduction.h"
#include "pathways/ir/dtype.h"
#include "pathways/ir/op.h"

namespace pw::collectives {

// The operations of the Communicator interface. Values start at 1: 0 means "none" on the wire.
enum class CollectiveKind : uint8_t {
  kAllReduce = 1,
  kAllGather,
  kReduceScatter,
  kAllToAll,
  kCollectivePermute,
};

inline const char* CollectiveKindName(CollectiveKind kind) {
  switch (kind) {
    case CollectiveKind::kAllReduce: return "AllReduce";
    case CollectiveKind::kAllGather: return "AllGather";
    case CollectiveKind::kReduceScatter: return "ReduceScatter";
    case CollectiveKind::kAllToAll: return "AllToAll";
    case CollectiveKind::kCollectivePermute: return "CollectivePermute";
  }
  return "unknown collective";
}

// One rank's arguments to one collective. For kCollectivePermute, count is in bytes and dtype
// is kInvalid.
struct CollectiveCall {
  CollectiveKind kind = CollectiveKind::kAllReduce;
  const void* input = nullptr;
  void* output = nullptr;
  int64_t count = 0;
  ir::DType dtype = ir::DType::kInvalid;
  ir::ReduceKind reduce = ir::ReduceKind::kSum;
  absl::Span<const std::pair<int64_t, int64_t>> pairs;
};

// CollectiveGroups::Join arguments: size >= 1 and rank in [0, size).
inline absl::Status CheckJoin(std::string_view group_name, GangId gang, int64_t size, int64_t rank) {
  if (size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(group_name), ": ", gang.DebugString(), " joined with size ", size));
  }
  if (rank < 0 || rank >= size) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(group_name), ": rank ", rank,
                                                   " is out of range for ", gang.DebugString(),
                                                   " of ", size, " ranks"));
  }
  return absl::OkStatus();
}

// CollectivePermute pairs: every rank in [0, size), each source and each target at most once.
// Returns "" when valid, else the complaint (prefixed with `op`).
inline std::string CheckPermutePairs(const char* op,
                                     absl::Span<const std::pair<int64_t, int64_t>> pairs,
                                     int64_t size) {
  std::vector<bool> source_seen(size, false), target_seen(size, false);
  for (const auto& [source, target] : pairs) {
    if (source < 0 || source >= size || target < 0 || target >= size) {
      return absl::StrCat(op, " pair ", source, "->", target, " is outside ranks [0, ", size, ")");
    }
    if (source_seen[source] || target_seen[target]) {
      return absl::StrCat(op, " pair ", source, "->", target,
                          " repeats a source or a target (each may appear once)");
    }
    source_seen[source] = target_seen[target] = true;
  }
  return "";
}

// Checks one rank's own arguments against the Communicator contract for a group of `size`:
// counts, dtypes and reductions, permute pairs, null or overlapping buffers, size overflow.
// Returns "" when valid, else the complaint, naming the operation.
inline std::string CheckCallArguments(const CollectiveCall& c, int64_t size) {
  const char* op = CollectiveKindName(c.kind);
  if (c.count < 0) return absl::StrCat(op, " count ", c.count, " is negative");
  int64_t in_bytes = c.count;
  int64_t out_bytes = c.count;
  if (c.kind == CollectiveKind::kCollectivePermute) {
    std::string bad = CheckPermutePairs(op, c.pairs, size);
    if (!bad.empty()) return bad;
  } else {
    if (!ir::IsValidDType(c.dtype)) {
      return absl::StrCat(op, " has invalid dtype ", static_cast<int>(c.dtype));
    }
    const bool reduces = c.kind == CollectiveKind::kAllReduce || c.kind == CollectiveKind::kReduceScatter;
    if (reduces && !IsReducible(c.dtype)) {
      return absl::StrCat(op, " cannot reduce dtype ", ir::DTypeName(c.dtype),
                          " (reductions take f32, f64, i32)");
    }
    if (reduces && c.reduce != ir::ReduceKind::kSum && c.reduce != ir::ReduceKind::kMax &&
        c.reduce != ir::ReduceKind::kMin) {
      return absl::StrCat(op, " has invalid reduction ", static_cast<int>(c.reduce));
    }
    int64_t block = 0, all = 0;
    if (__builtin_mul_overflow(c.count, ir::DTypeSize(c.dtype), &block) ||
        __builtin_mul_overflow(block, size, &all)) {
      return absl::StrCat(op, " count ", c.count, " times ", size, " ranks overflows");
    }
    in_bytes = (c.kind == CollectiveKind::kReduceScatter || c.kind == CollectiveKind::kAllToAll) ? all : block;
    out_bytes = (c.kind == CollectiveKind::kAllGather || c.kind == CollectiveKind::kAllToAll) ? all : block;
  }
  if (in_bytes > 0 && c.input == nullptr) return absl::StrCat(op, " input is null");
  if (out_bytes > 0 && c.output == nullptr) return absl::StrCat(op, " output is null");
  if (in_bytes > 0 && out_bytes > 0) {
    auto in = reinterpret_cast<uintptr_t>(c.input);
    auto out = reinterpret_cast<uintptr_t>(c.output);
    if (in < out + out_bytes && out < in + in_bytes) return absl::StrCat(op, " input and output overlap");
  }
  return "";
}

}  // namespace pw::collectives

#endif  // PATHWAYS_COLLECTIVES_COLLECTIVE_CHECKS_H_
