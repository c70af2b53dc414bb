// StridedCopy: dims merging and the copy loops.
#include "pathways/kernels/strided_copy.h"

#include <algorithm>
#include <cstring>

#include "pathways/base/logging.h"

namespace pw::cpu {

absl::InlinedVector<int64_t, 6> DenseStrides(absl::Span<const int64_t> dims) {
  absl::InlinedVector<int64_t, 6> s(dims.size());
  int64_t acc = 1;
  for (int64_t i = static_cast<int64_t>(dims.size()) - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= dims[i];
  }
  return s;
}

StridedCopy::StridedCopy(int64_t elem_size, absl::Span<const int64_t> dims,
                         absl::Span<const int64_t> src_strides)
    : elem_size_(elem_size) {
  PW_CHECK(dims.size() == src_strides.size()) << dims.size() << " vs " << src_strides.size();
  PW_CHECK(elem_size == 1 || elem_size == 4 || elem_size == 8) << elem_size;
  num_elements_ = 1;
  for (int64_t d : dims) num_elements_ *= d;
  if (num_elements_ == 0) return;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == 1) continue;
    // The destination is dense, so a dim merges into the previous one whenever the source
    // is contiguous across them too.
    if (!dims_.empty() && strides_.back() == src_strides[i] * dims[i]) {
      dims_.back() *= dims[i];
      strides_.back() = src_strides[i];
      continue;
    }
    dims_.push_back(dims[i]);
    strides_.push_back(src_strides[i]);
  }
}

template <typename E>
void StridedCopy::RunTyped(const E* src, E* dst) const {
  const int64_t rank = static_cast<int64_t>(dims_.size());
  if (rank == 0) {
    *dst = *src;
    return;
  }
  const int64_t inner = dims_[rank - 1];
  const int64_t inner_stride = strides_[rank - 1];
  absl::InlinedVector<int64_t, 6> index(rank, 0);
  int64_t src_offset = 0;
  // A transpose of the two innermost dims (the source is contiguous along the outer one and
  // strided along the inner one) runs in square tiles so reads and writes both stay in cache.
  constexpr int64_t kTile = 16;
  if (rank >= 2 && strides_[rank - 2] == 1 && inner_stride > 1 && inner >= kTile &&
      dims_[rank - 2] >= kTile) {
    const int64_t rows = dims_[rank - 2];
    const int64_t planes = num_elements_ / (rows * inner);
    for (int64_t plane = 0; plane < planes; ++plane) {
      const E* s = src + src_offset;
      for (int64_t r0 = 0; r0 < rows; r0 += kTile) {
        const int64_t r1 = std::min(rows, r0 + kTile);
        for (int64_t c0 = 0; c0 < inner; c0 += kTile) {
          const int64_t c1 = std::min(inner, c0 + kTile);
          for (int64_t r = r0; r < r1; ++r) {
            for (int64_t c = c0; c < c1; ++c) dst[r * inner + c] = s[r + c * inner_stride];
          }
        }
      }
      dst += rows * inner;
      for (int64_t d = rank - 3; d >= 0; --d) {
        src_offset += strides_[d];
        if (++index[d] < dims_[d]) break;
        src_offset -= strides_[d] * dims_[d];
        index[d] = 0;
      }
    }
    return;
  }
  const int64_t rows = num_elements_ / inner;
  for (int64_t row = 0; row < rows; ++row) {
    const E* s = src + src_offset;
    if (inner_stride == 1) {
      std::memcpy(dst, s, static_cast<size_t>(inner) * sizeof(E));
    } else if (inner_stride == 0) {
      const E v = *s;
      for (int64_t j = 0; j < inner; ++j) dst[j] = v;
    } else {
      for (int64_t j = 0; j < inner; ++j) dst[j] = s[j * inner_stride];
    }
    dst += inner;
    // Odometer over the outer dims.
    for (int64_t d = rank - 2; d >= 0; --d) {
      src_offset += strides_[d];
      if (++index[d] < dims_[d]) break;
      src_offset -= strides_[d] * dims_[d];
      index[d] = 0;
    }
  }
}

void StridedCopy::Run(const void* src, void* dst) const {
  if (num_elements_ == 0) return;
  switch (elem_size_) {
    case 1: RunTyped(static_cast<const uint8_t*>(src), static_cast<uint8_t*>(dst)); break;
    case 4: RunTyped(static_cast<const uint32_t*>(src), static_cast<uint32_t*>(dst)); break;
    default: RunTyped(static_cast<const uint64_t*>(src), static_cast<uint64_t*>(dst)); break;
  }
}

}  // namespace pw::cpu
