// MeshAxisGroups: the shard groups of a collective over mesh axes.
#include "pathways/ir/mesh.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "pathways/ir/shape.h"

namespace pw::ir {

absl::StatusOr<ShardGroups> MeshAxisGroups(absl::Span<const int64_t> mesh_shape,
                                           absl::Span<const int64_t> axes) {
  const int64_t rank = static_cast<int64_t>(mesh_shape.size());
  if (rank == 0) return absl::InvalidArgumentError("MeshAxisGroups: empty mesh");
  int64_t n = 1;
  for (int64_t d : mesh_shape) {
    if (d < 1 || d > kMaxShards) {
      return absl::InvalidArgumentError(absl::StrCat("MeshAxisGroups: mesh dimension ", d));
    }
    n *= d;
    if (n > kMaxShards) {
      return absl::InvalidArgumentError(absl::StrCat("MeshAxisGroups: more than ", kMaxShards,
                                                     " devices"));
    }
  }
  std::vector<bool> in_axes(rank, false);
  for (int64_t a : axes) {
    if (a < 0 || a >= rank) {
      return absl::InvalidArgumentError(absl::StrCat("MeshAxisGroups: axis ", a,
                                                     " of a rank-", rank, " mesh"));
    }
    if (in_axes[a]) {
      return absl::InvalidArgumentError(absl::StrCat("MeshAxisGroups: axis ", a, " twice"));
    }
    in_axes[a] = true;
  }
  // Key: the coordinates off `axes` (row-major over the remaining axes); position within the
  // group: the coordinates along `axes`, row-major in the order given.
  std::map<int64_t, std::vector<std::pair<int64_t, int64_t>>> by_key;
  std::vector<int64_t> coord(rank);
  for (int64_t i = 0; i < n; ++i) {
    int64_t rest = i;
    for (int64_t d = rank - 1; d >= 0; --d) {
      coord[d] = rest % mesh_shape[d];
      rest /= mesh_shape[d];
    }
    int64_t key = 0, position = 0;
    for (int64_t d = 0; d < rank; ++d) {
      if (!in_axes[d]) key = key * mesh_shape[d] + coord[d];
    }
    for (int64_t a : axes) position = position * mesh_shape[a] + coord[a];
    by_key[key].push_back({position, i});
  }
  ShardGroups groups;
  for (auto& [key, members] : by_key) {
    std::sort(members.begin(), members.end());
    std::vector<int64_t> group;
    for (const auto& [position, shard] : members) group.push_back(shard);
    groups.push_back(std::move(group));
  }
  return groups;
}

}  // namespace pw::ir
