// StridedCopy: a precomputed copy of a strided view into a dense row-major buffer.
//
// Transpose, slice, broadcast_in_dim, dot operand canonicalization and the collectives'
// rank-major rearrangements are all this one copy with different source strides.
#ifndef PATHWAYS_KERNELS_STRIDED_COPY_H_
#define PATHWAYS_KERNELS_STRIDED_COPY_H_

#include <cstdint>

#include "absl/container/inlined_vector.h"
#include "absl/types/span.h"

namespace pw::cpu {

class StridedCopy {
 public:
  StridedCopy() = default;
  // Result element (i0, ..., ik) of the dense row-major result of shape `dims` is read from
  // source element sum(i_j * src_strides[j]) (strides in elements; 0 broadcasts).
  // `elem_size` is 1, 4 or 8. Adjacent dims that are contiguous in the source are merged and
  // size-1 dims dropped, so the common cases run as memcpy of long rows.
  StridedCopy(int64_t elem_size, absl::Span<const int64_t> dims,
              absl::Span<const int64_t> src_strides);

  // Copies from `src` (pointing at source element 0) to `dst`. Thread-safe (const).
  void Run(const void* src, void* dst) const;

  int64_t num_elements() const { return num_elements_; }
  // Merged rank, for tests and debug strings.
  int64_t rank() const { return static_cast<int64_t>(dims_.size()); }

 private:
  template <typename E>
  void RunTyped(const E* src, E* dst) const;

  int64_t elem_size_ = 1;
  int64_t num_elements_ = 0;
  absl::InlinedVector<int64_t, 6> dims_;
  absl::InlinedVector<int64_t, 6> strides_;
};

// Row-major strides (in elements) of `dims`.
absl::InlinedVector<int64_t, 6> DenseStrides(absl::Span<const int64_t> dims);

}  // namespace pw::cpu

#endif  // PATHWAYS_KERNELS_STRIDED_COPY_H_
