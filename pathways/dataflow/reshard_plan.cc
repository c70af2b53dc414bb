#include "pathways/dataflow/reshard_plan.h"

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"

namespace pw {
namespace {

using BlockKey = absl::InlinedVector<int64_t, 6>;

// The shards holding each block of a layout, by the block's grid coordinates (offset / extent
// per dimension).
struct SourceBlocks {
  absl::InlinedVector<int64_t, 6> extent;  // of every block
  absl::flat_hash_map<BlockKey, std::vector<int32_t>> holders;
};

SourceBlocks BlocksOf(const ShardLayout& from) {
  SourceBlocks blocks;
  blocks.extent = ShardView(from.shard, from.sharding);
  for (size_t i = 0; i < from.devices.size(); ++i) {
    const Box box = ShardBox(from.shard, from.sharding, from.mesh, static_cast<int64_t>(i));
    BlockKey key(box.offset.size());
    for (size_t d = 0; d < key.size(); ++d) {
      key[d] = box.extent[d] == 0 ? 0 : box.offset[d] / box.extent[d];
    }
    blocks.holders[key].push_back(static_cast<int32_t>(i));
  }
  return blocks;
}

int32_t PickHolder(const std::vector<int32_t>& holders, const ShardLayout& from, DeviceId device,
                   HostId host, size_t j) {
  for (int32_t i : holders) {
    if (from.devices[i] == device) return i;
  }
  for (int32_t i : holders) {
    if (from.hosts[i] == host) return i;
  }
  return holders[j % holders.size()];
}

std::vector<int64_t> Minus(absl::Span<const int64_t> a, absl::Span<const int64_t> b) {
  std::vector<int64_t> out(a.size());
  for (size_t d = 0; d < a.size(); ++d) out[d] = a[d] - b[d];
  return out;
}

}  // namespace

std::vector<std::vector<ReshardPiece>> PlanReshard(const ShardLayout& from,
                                                   const ShardLayout& to) {
  const SourceBlocks blocks = BlocksOf(from);
  std::vector<std::vector<ReshardPiece>> plan(to.devices.size());
  for (size_t j = 0; j < to.devices.size(); ++j) {
    const Box want = ShardBox(to.shard, to.sharding, to.mesh, static_cast<int64_t>(j));
    if (want.num_elements() == 0) continue;
    // The grid cells of the source layout that `want` overlaps, in row-major order.
    const size_t rank = want.offset.size();
    BlockKey lo(rank), hi(rank);
    for (size_t d = 0; d < rank; ++d) {
      lo[d] = want.offset[d] / blocks.extent[d];
      hi[d] = (want.offset[d] + want.extent[d] - 1) / blocks.extent[d];
    }
    BlockKey key = lo;
    for (bool more = true; more;) {
      Box cell;
      for (size_t d = 0; d < rank; ++d) {
        cell.offset.push_back(key[d] * blocks.extent[d]);
        cell.extent.push_back(blocks.extent[d]);
      }
      const Box piece = Intersect(want, cell);
      ReshardPiece p;
      p.holder = PickHolder(blocks.holders.at(key), from, to.devices[j], to.hosts[j], j);
      p.src_offset = Minus(piece.offset, cell.offset);
      p.dst_offset = Minus(piece.offset, want.offset);
      p.extent.assign(piece.extent.begin(), piece.extent.end());
      p.whole_src = piece == cell;
      p.whole_dst = piece == want;
      plan[j].push_back(std::move(p));
      more = false;
      for (size_t d = rank; d-- > 0;) {
        if (++key[d] <= hi[d]) {
          more = true;
          break;
        }
        key[d] = lo[d];
      }
    }
  }
  return plan;
}

}  // namespace pw
