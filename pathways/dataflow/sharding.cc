#include "pathways/dataflow/sharding.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace pw {
namespace {

// Mesh coordinates of shard `index` (row-major).
absl::InlinedVector<int64_t, 6> Coordinates(absl::Span<const int64_t> mesh, int64_t index) {
  absl::InlinedVector<int64_t, 6> coords(mesh.size());
  for (size_t a = mesh.size(); a-- > 0;) {
    coords[a] = index % mesh[a];
    index /= mesh[a];
  }
  return coords;
}

int64_t Blocks(const std::vector<int32_t>& axes, absl::Span<const int64_t> mesh) {
  int64_t n = 1;
  for (int32_t a : axes) n *= mesh[a];
  return n;
}

}  // namespace

Sharding Sharding::Split(int32_t dim, std::vector<int32_t> axes) {
  Sharding s{Kind::kPartitioned, {}};
  if (dim >= 0) {
    s.spec.resize(static_cast<size_t>(dim) + 1);
    s.spec[dim] = std::move(axes);
  }
  return s;
}

bool Sharding::replicated() const {
  return kind == Kind::kPartitioned &&
         std::all_of(spec.begin(), spec.end(), [](const auto& axes) { return axes.empty(); });
}

std::string Sharding::DebugString() const {
  if (stacked()) return "stacked";
  if (replicated()) return "replicated";
  std::vector<std::string> parts;
  for (size_t d = 0; d < spec.size(); ++d) {
    if (!spec[d].empty()) parts.push_back(absl::StrCat(d, ":[", absl::StrJoin(spec[d], ","), "]"));
  }
  return absl::StrCat("split(", absl::StrJoin(parts, ", "), ")");
}

int64_t Box::num_elements() const {
  int64_t n = 1;
  for (int64_t e : extent) n *= e;
  return n;
}

std::vector<int64_t> MeshOrLine(absl::Span<const int64_t> mesh_shape, int64_t num_devices) {
  if (mesh_shape.empty()) return {num_devices};
  return std::vector<int64_t>(mesh_shape.begin(), mesh_shape.end());
}

absl::Status ValidateSharding(const Sharding& sharding, int64_t shard_rank,
                              absl::Span<const int64_t> mesh) {
  if (sharding.kind != Sharding::Kind::kStacked && sharding.kind != Sharding::Kind::kPartitioned) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown sharding kind ", static_cast<int>(sharding.kind)));
  }
  if (sharding.stacked()) return absl::OkStatus();
  if (static_cast<int64_t>(sharding.spec.size()) > shard_rank) {
    return absl::InvalidArgumentError(absl::StrCat("sharding ", sharding.DebugString(), " names ",
                                                   sharding.spec.size(),
                                                   " dimensions of an array of rank ", shard_rank));
  }
  std::vector<bool> used(mesh.size(), false);
  for (size_t d = 0; d < sharding.spec.size(); ++d) {
    for (int32_t a : sharding.spec[d]) {
      if (a < 0 || static_cast<size_t>(a) >= mesh.size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "sharding ", sharding.DebugString(), " splits dimension ", d, " over mesh axis ", a,
            " but the mesh [", absl::StrJoin(mesh, ","), "] has ", mesh.size(), " axes"));
      }
      if (used[a]) {
        return absl::InvalidArgumentError(absl::StrCat("sharding ", sharding.DebugString(),
                                                       " names mesh axis ", a, " twice"));
      }
      used[a] = true;
    }
  }
  return absl::OkStatus();
}

ir::Shape GlobalShape(const ir::Shape& shard, const Sharding& sharding,
                      absl::Span<const int64_t> mesh) {
  if (sharding.stacked()) {
    int64_t n = 1;
    for (int64_t m : mesh) n *= m;
    absl::InlinedVector<int64_t, 6> dims = {n};
    dims.insert(dims.end(), shard.dims().begin(), shard.dims().end());
    return ir::Shape(absl::MakeConstSpan(dims));
  }
  ir::Shape global = shard;
  for (size_t d = 0; d < sharding.spec.size(); ++d) {
    global.set_dim(static_cast<int64_t>(d), shard.dim(d) * Blocks(sharding.spec[d], mesh));
  }
  return global;
}

absl::StatusOr<ir::Shape> ShardShape(const ir::Shape& global, const Sharding& sharding,
                                     absl::Span<const int64_t> mesh) {
  if (sharding.stacked()) {
    int64_t n = 1;
    for (int64_t m : mesh) n *= m;
    if (global.rank() == 0 || global.dim(0) != n) {
      return absl::InvalidArgumentError(
          absl::StrCat("a stacked array of shape ", global.DebugString(),
                       " needs a leading dimension equal to the ", n, " devices"));
    }
    return ir::Shape(global.dims().subspan(1));
  }
  if (absl::Status s = ValidateSharding(sharding, global.rank(), mesh); !s.ok()) return s;
  ir::Shape shard = global;
  for (size_t d = 0; d < sharding.spec.size(); ++d) {
    const int64_t blocks = Blocks(sharding.spec[d], mesh);
    if (global.dim(d) % blocks != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sharding ", sharding.DebugString(), " splits dimension ", d, " of shape ",
          global.DebugString(), " into ", blocks, " blocks, which does not divide it"));
    }
    shard.set_dim(static_cast<int64_t>(d), global.dim(d) / blocks);
  }
  return shard;
}

absl::InlinedVector<int64_t, 6> ShardView(const ir::Shape& shard, const Sharding& sharding) {
  absl::InlinedVector<int64_t, 6> view;
  if (sharding.stacked()) view.push_back(1);
  view.insert(view.end(), shard.dims().begin(), shard.dims().end());
  return view;
}

Box ShardBox(const ir::Shape& shard, const Sharding& sharding, absl::Span<const int64_t> mesh,
             int64_t index) {
  Box box;
  box.extent = ShardView(shard, sharding);
  box.offset.assign(box.extent.size(), 0);
  if (sharding.stacked()) {
    box.offset[0] = index;
    return box;
  }
  const absl::InlinedVector<int64_t, 6> coords = Coordinates(mesh, index);
  for (size_t d = 0; d < sharding.spec.size(); ++d) {
    int64_t block = 0;
    for (int32_t a : sharding.spec[d]) block = block * mesh[a] + coords[a];
    box.offset[d] = block * box.extent[d];
  }
  return box;
}

Box Intersect(const Box& a, const Box& b) {
  Box out;
  out.offset.resize(a.offset.size());
  out.extent.resize(a.offset.size());
  for (size_t d = 0; d < a.offset.size(); ++d) {
    const int64_t lo = std::max(a.offset[d], b.offset[d]);
    const int64_t hi = std::min(a.offset[d] + a.extent[d], b.offset[d] + b.extent[d]);
    out.offset[d] = lo;
    out.extent[d] = std::max<int64_t>(0, hi - lo);
  }
  return out;
}

}  // namespace pw
