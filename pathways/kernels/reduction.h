// Element-wise reduction loops shared by the collective implementations and the grouped
// collectives of kernels/group_communicator.h (sum, max, min over
// f32, f64, i32), written so the compiler vectorizes them.
#ifndef PATHWAYS_KERNELS_REDUCTION_H_
#define PATHWAYS_KERNELS_REDUCTION_H_

#include <cstdint>
#include <type_traits>

#include "pathways/ir/dtype.h"
#include "pathways/ir/op.h"

namespace pw::collectives {

// True for the dtypes reductions accept.
inline bool IsReducible(ir::DType dtype) {
  return dtype == ir::DType::kF32 || dtype == ir::DType::kF64 || dtype == ir::DType::kI32;
}

template <typename T>
inline T ReduceOne(T a, T b, ir::ReduceKind kind) {
  switch (kind) {
    case ir::ReduceKind::kSum:
      if constexpr (std::is_integral_v<T>) {
        // Wraps like the hardware instead of signed-overflow UB.
        return static_cast<T>(static_cast<std::make_unsigned_t<T>>(a) +
                              static_cast<std::make_unsigned_t<T>>(b));
      } else {
        return a + b;
      }
    case ir::ReduceKind::kMax:
      return (a > b || a != a) ? a : b;  // a NaN operand wins, as in XLA
    case ir::ReduceKind::kMin:
      return (a < b || a != a) ? a : b;
  }
  return a;
}

// out[i] = a[i] (op) b[i]. `out` may alias `a`.
template <typename T, ir::ReduceKind kKind>
void CombineLoop(T* out, const T* a, const T* __restrict b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = ReduceOne<T>(a[i], b[i], kKind);
}

template <typename T>
void Combine(T* out, const T* a, const T* b, int64_t n, ir::ReduceKind kind) {
  switch (kind) {
    case ir::ReduceKind::kSum: return CombineLoop<T, ir::ReduceKind::kSum>(out, a, b, n);
    case ir::ReduceKind::kMax: return CombineLoop<T, ir::ReduceKind::kMax>(out, a, b, n);
    case ir::ReduceKind::kMin: return CombineLoop<T, ir::ReduceKind::kMin>(out, a, b, n);
  }
}

// out = inputs[0] (op) inputs[1] (op) ... in that order, each input offset by `offset`
// elements; n elements. `dtype` must be reducible and there must be at least one input.
inline void ReduceInto(void* out, const void* const* inputs, int64_t num_inputs, int64_t offset,
                       int64_t n, ir::DType dtype, ir::ReduceKind kind) {
  auto run = [&](auto zero) {
    using T = decltype(zero);
    T* o = static_cast<T*>(out);
    const T* first = static_cast<const T*>(inputs[0]) + offset;
    if (num_inputs == 1) {
      for (int64_t i = 0; i < n; ++i) o[i] = first[i];
      return;
    }
    Combine<T>(o, first, static_cast<const T*>(inputs[1]) + offset, n, kind);
    for (int64_t p = 2; p < num_inputs; ++p) {
      Combine<T>(o, o, static_cast<const T*>(inputs[p]) + offset, n, kind);
    }
  };
  switch (dtype) {
    case ir::DType::kF32: return run(float{});
    case ir::DType::kF64: return run(double{});
    case ir::DType::kI32: return run(int32_t{});
    default: return;
  }
}

}  // namespace pw::collectives

#endif  // PATHWAYS_KERNELS_REDUCTION_H_
