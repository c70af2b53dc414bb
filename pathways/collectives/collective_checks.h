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

namespace pw::collectives {

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

}  // namespace pw::collectives

#endif  // PATHWAYS_COLLECTIVES_COLLECTIVE_CHECKS_H_
