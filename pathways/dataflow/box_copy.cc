#include "pathways/dataflow/box_copy.h"

#include <cstring>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pathways/ir/shape.h"

namespace pw {

int64_t ElementsOf(absl::Span<const int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0 || (d > 0 && n > ir::kMaxElements / d)) return -1;
    n *= d;
  }
  return n;
}

absl::Status CheckBoxCopy(const BoxCopy& copy) {
  const size_t rank = copy.extent.size();
  if (copy.src_dims.size() != rank || copy.src_offset.size() != rank ||
      copy.dst_dims.size() != rank || copy.dst_offset.size() != rank) {
    return absl::InvalidArgumentError(absl::StrCat(
        "box copy ranks differ: source dims ", copy.src_dims.size(), ", source offset ",
        copy.src_offset.size(), ", destination dims ", copy.dst_dims.size(),
        ", destination offset ", copy.dst_offset.size(), ", extent ", rank));
  }
  for (size_t d = 0; d < rank; ++d) {
    const int64_t e = copy.extent[d];
    const bool src_ok = copy.src_dims[d] >= 0 && copy.src_offset[d] >= 0 && e >= 0 &&
                        copy.src_offset[d] <= copy.src_dims[d] - e;
    const bool dst_ok = copy.dst_dims[d] >= 0 && copy.dst_offset[d] >= 0 && e >= 0 &&
                        copy.dst_offset[d] <= copy.dst_dims[d] - e;
    if (!src_ok || !dst_ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "box copy out of bounds in dimension ", d, ": extent [", absl::StrJoin(copy.extent, ","),
          "] from offset [", absl::StrJoin(copy.src_offset, ","), "] of [",
          absl::StrJoin(copy.src_dims, ","), "] to offset [", absl::StrJoin(copy.dst_offset, ","),
          "] of [", absl::StrJoin(copy.dst_dims, ","), "]"));
    }
  }
  return absl::OkStatus();
}

absl::Status CopyBox(const BoxCopy& copy, int64_t elem_bytes, const void* src, void* dst) {
  if (absl::Status s = CheckBoxCopy(copy); !s.ok()) return s;
  const size_t rank = copy.extent.size();
  for (int64_t e : copy.extent) {
    if (e == 0) return absl::OkStatus();
  }
  // Row-major strides in bytes.
  absl::InlinedVector<int64_t, 6> src_stride(rank), dst_stride(rank);
  int64_t s = elem_bytes, t = elem_bytes;
  for (size_t d = rank; d-- > 0;) {
    src_stride[d] = s;
    dst_stride[d] = t;
    s *= copy.src_dims[d];
    t *= copy.dst_dims[d];
  }
  // The innermost dimensions that are whole in both arrays form one contiguous run.
  size_t inner = rank;
  int64_t run = elem_bytes;
  while (inner > 0) {
    const size_t d = inner - 1;
    run *= copy.extent[d];
    --inner;
    if (copy.extent[d] != copy.src_dims[d] || copy.extent[d] != copy.dst_dims[d]) break;
  }
  // Dimensions [0, inner) are iterated; `inner` itself is folded into the run.
  const auto* from = static_cast<const char*>(src);
  auto* to = static_cast<char*>(dst);
  int64_t src_base = 0, dst_base = 0;
  for (size_t d = 0; d < rank; ++d) {
    src_base += copy.src_offset[d] * src_stride[d];
    dst_base += copy.dst_offset[d] * dst_stride[d];
  }
  absl::InlinedVector<int64_t, 6> index(inner, 0);
  while (true) {
    int64_t so = src_base, doff = dst_base;
    for (size_t d = 0; d < inner; ++d) {
      so += index[d] * src_stride[d];
      doff += index[d] * dst_stride[d];
    }
    std::memcpy(to + doff, from + so, static_cast<size_t>(run));
    size_t d = inner;
    while (d > 0) {
      --d;
      if (++index[d] < copy.extent[d]) break;
      index[d] = 0;
      if (d == 0) return absl::OkStatus();
    }
    if (inner == 0) return absl::OkStatus();
  }
}

}  // namespace pw
