// Reduction kernel: reduce (sum / max / min) over any set of axes.
//
// The operand is walked once in memory order; each element is folded into the result element
// it maps to. At compile time adjacent dims with the same role (reduced or kept) are merged, so
// reducing the last axes becomes a dense inner fold and reducing leading axes a dense
// accumulate-into-row loop, both vectorizable.
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "pathways/kernels/kernel_step.h"

namespace pw::cpu {
namespace {

using ir::ReduceKind;

template <ReduceKind kKind, typename T>
inline T Identity() {
  if constexpr (kKind == ReduceKind::kSum) return T(0);
  if constexpr (kKind == ReduceKind::kMax) {
    if constexpr (std::is_floating_point_v<T>) return -std::numeric_limits<T>::infinity();
    return std::numeric_limits<T>::lowest();
  }
  if constexpr (std::is_floating_point_v<T>) return std::numeric_limits<T>::infinity();
  return std::numeric_limits<T>::max();
}

template <ReduceKind kKind, typename T>
inline T Fold(T acc, T x) {
  if constexpr (kKind == ReduceKind::kSum) {
    if constexpr (std::is_integral_v<T>) {  // wraps like XLA instead of overflowing (UB)
      return static_cast<T>(static_cast<uint32_t>(acc) + static_cast<uint32_t>(x));
    }
    return acc + x;
  }
  // NaN-propagating, as maximum / minimum.
  if constexpr (kKind == ReduceKind::kMax) return (acc != acc || acc > x) ? acc : x;
  return (acc != acc || acc < x) ? acc : x;
}

// Merged operand dims; out_strides[d] is 0 for reduced dims.
struct ReduceParams : KernelParams {
  absl::InlinedVector<int64_t, 6> dims;
  absl::InlinedVector<int64_t, 6> out_strides;
  int64_t in_elements = 0;
};

template <ReduceKind kKind, typename T>
absl::Status ReduceKernel(const KernelStep& s, const ExecutionFrame& f) {
  const auto& p = s.params_as<ReduceParams>();
  const T* in = s.in<T>(f, 0);
  T* out = s.out<T>(f);
  const T init = Identity<kKind, T>();
  for (int64_t i = 0; i < s.num_elements; ++i) out[i] = init;
  if (p.in_elements == 0) return absl::OkStatus();
  const int64_t rank = static_cast<int64_t>(p.dims.size());
  if (rank == 0) {  // nothing reduced, or only size-1 dims
    out[0] = Fold<kKind, T>(out[0], in[0]);
    return absl::OkStatus();
  }
  const int64_t inner = p.dims[rank - 1];
  const bool inner_reduced = p.out_strides[rank - 1] == 0;
  const int64_t rows = p.in_elements / inner;
  absl::InlinedVector<int64_t, 6> index(rank, 0);
  int64_t out_offset = 0;
  for (int64_t row = 0; row < rows; ++row) {
    if (inner_reduced) {
      T acc = out[out_offset];
      for (int64_t j = 0; j < inner; ++j) acc = Fold<kKind, T>(acc, in[j]);
      out[out_offset] = acc;
    } else {
      T* __restrict o = out + out_offset;
      for (int64_t j = 0; j < inner; ++j) o[j] = Fold<kKind, T>(o[j], in[j]);
    }
    in += inner;
    for (int64_t d = rank - 2; d >= 0; --d) {
      out_offset += p.out_strides[d];
      if (++index[d] < p.dims[d]) break;
      out_offset -= p.out_strides[d] * p.dims[d];
      index[d] = 0;
    }
  }
  return absl::OkStatus();
}

template <typename T>
KernelFn ReduceFor(ReduceKind kind) {
  switch (kind) {
    case ReduceKind::kSum: return &ReduceKernel<ReduceKind::kSum, T>;
    case ReduceKind::kMax: return &ReduceKernel<ReduceKind::kMax, T>;
    case ReduceKind::kMin: return &ReduceKernel<ReduceKind::kMin, T>;
  }
  return nullptr;
}

}  // namespace

absl::Status PrepareReduction(const ir::Function& fn, const ir::Instruction& inst,
                              KernelStep& step) {
  const ir::TensorType& in = fn.instruction(inst.operands[0]).type;
  std::vector<bool> reduced(in.shape.rank(), false);
  for (int64_t d : inst.attrs.dims) reduced[d] = true;
  // Row-major strides of the result, indexed by operand dim (0 where reduced).
  std::vector<int64_t> out_stride(in.shape.rank(), 0);
  int64_t acc = 1;
  for (int64_t d = in.shape.rank() - 1; d >= 0; --d) {
    if (reduced[d]) continue;
    out_stride[d] = acc;
    acc *= in.shape.dim(d);
  }
  auto p = std::make_unique<ReduceParams>();
  p->in_elements = in.num_elements();
  for (int64_t d = 0; d < in.shape.rank(); ++d) {
    const int64_t size = in.shape.dim(d);
    if (size == 1) continue;
    const bool prev_same = !p->dims.empty() && (p->out_strides.back() == 0) == reduced[d];
    if (prev_same) {  // contiguous in the operand; in the result too when both are kept
      p->dims.back() *= size;
      p->out_strides.back() = out_stride[d];
      continue;
    }
    p->dims.push_back(size);
    p->out_strides.push_back(out_stride[d]);
  }
  step.params = std::move(p);
  step.fn = DispatchKernelType(in.dtype, [&](auto t) -> KernelFn {
    using T = decltype(t);
    if constexpr (std::is_same_v<T, uint8_t>) return nullptr;
    else return ReduceFor<T>(inst.attrs.reduce_kind);
  });
  if (step.fn == nullptr) {
    return absl::UnimplementedError(inst.DebugName() + ": reduce needs a numeric operand");
  }
  return absl::OkStatus();
}

}  // namespace pw::cpu
