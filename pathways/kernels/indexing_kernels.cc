// Indexing, scan and selection kernels: dynamic_slice, dynamic_update_slice, cumsum and top_k.
//
// dynamic_slice and dynamic_update_slice read their start indices at run time, clamp them as
// XLA does, then copy the block row by row (its last dim is contiguous in both buffers).
// cumsum views its operand as [outer, axis, inner] and runs one sum per (outer, inner) column;
// top_k sorts each row's positions with a stable comparison (ties to the lower index).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <type_traits>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "pathways/base/status.h"
#include "pathways/kernels/kernel_step.h"
#include "pathways/kernels/strided_copy.h"

namespace pw::cpu {
namespace {

using ir::OpCode;

// A block of shape `block` inside a row-major buffer of shape `full` (elements of `elem` bytes).
struct BlockParams : KernelParams {
  absl::InlinedVector<int64_t, 6> full;
  absl::InlinedVector<int64_t, 6> block;
  absl::InlinedVector<int64_t, 6> full_strides;  // in elements
  int64_t elem = 1;
  int64_t first_start = 1;  // operand index of the start for dim 0
};

// Element offset of the block's origin in the full buffer: starts read from the step's scalar
// i32 operands and clamped to [0, full - block].
int64_t BlockOrigin(const KernelStep& s, const ExecutionFrame& f, const BlockParams& p) {
  int64_t origin = 0;
  for (size_t d = 0; d < p.full.size(); ++d) {
    const int32_t start = *s.in<int32_t>(f, static_cast<int>(p.first_start + d));
    origin += std::clamp<int64_t>(start, 0, p.full[d] - p.block[d]) * p.full_strides[d];
  }
  return origin;
}

// Copies the block out of (`to_dense`) or into the full buffer, whose block origin is element
// `origin`, one innermost row at a time: `src` is the full buffer and `dst` the dense block when
// `to_dense`, the other way round otherwise.
void CopyBlock(const BlockParams& p, int64_t origin, const char* src, char* dst, bool to_dense) {
  const int64_t rank = static_cast<int64_t>(p.block.size());
  int64_t count = 1;
  for (int64_t d : p.block) count *= d;
  if (count == 0) return;
  const int64_t row = rank == 0 ? 1 : p.block[rank - 1];
  const int64_t row_bytes = row * p.elem;
  absl::InlinedVector<int64_t, 6> index(std::max<int64_t>(rank - 1, 0), 0);
  for (int64_t dense = 0; dense < count * p.elem; dense += row_bytes) {
    int64_t full = origin;
    for (int64_t d = 0; d + 1 < rank; ++d) full += index[d] * p.full_strides[d];
    full *= p.elem;
    CopyBytes(dst + (to_dense ? dense : full), src + (to_dense ? full : dense), row_bytes);
    for (int64_t d = rank - 2; d >= 0; --d) {  // odometer over the outer dims
      if (++index[d] < p.block[d]) break;
      index[d] = 0;
    }
  }
}

absl::Status DynamicSliceKernel(const KernelStep& s, const ExecutionFrame& f) {
  const auto& p = s.params_as<BlockParams>();
  CopyBlock(p, BlockOrigin(s, f, p), s.in<char>(f, 0), s.out<char>(f), /*to_dense=*/true);
  return absl::OkStatus();
}

absl::Status DynamicUpdateSliceKernel(const KernelStep& s, const ExecutionFrame& f) {
  const auto& p = s.params_as<BlockParams>();
  char* out = s.out<char>(f);
  CopyBytes(out, s.in(f, 0), s.byte_size);
  CopyBlock(p, BlockOrigin(s, f, p), s.in<char>(f, 1), out, /*to_dense=*/false);
  return absl::OkStatus();
}

// cumsum: operand and result viewed as [outer, axis_size, inner].
struct CumsumParams : KernelParams {
  int64_t outer = 1;
  int64_t axis_size = 0;
  int64_t inner = 1;
  bool reverse = false;
};

template <typename T>
absl::Status CumsumKernel(const KernelStep& s, const ExecutionFrame& f) {
  const auto& p = s.params_as<CumsumParams>();
  const T* in = s.in<T>(f, 0);
  T* out = s.out<T>(f);
  for (int64_t o = 0; o < p.outer; ++o) {
    const T* src = in + o * p.axis_size * p.inner;
    T* dst = out + o * p.axis_size * p.inner;
    for (int64_t i = 0; i < p.inner; ++i) {
      T acc = T(0);
      for (int64_t step = 0; step < p.axis_size; ++step) {
        const int64_t a = p.reverse ? p.axis_size - 1 - step : step;
        if constexpr (std::is_integral_v<T>) {  // wraps like add
          acc = static_cast<T>(static_cast<uint32_t>(acc) + static_cast<uint32_t>(src[a * p.inner + i]));
        } else {
          acc += src[a * p.inner + i];
        }
        dst[a * p.inner + i] = acc;
      }
    }
  }
  return absl::OkStatus();
}

// top_k: the operand as [rows, n], the result as [rows, k].
struct TopKParams : KernelParams {
  int64_t rows = 0;
  int64_t n = 0;
  int64_t k = 0;
};

template <typename T>
bool Greater(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a)) return !std::isnan(b);
    if (std::isnan(b)) return false;
  }
  return a > b;
}

template <typename T>
absl::Status TopKKernel(const KernelStep& s, const ExecutionFrame& f) {
  const auto& p = s.params_as<TopKParams>();
  const T* in = s.in<T>(f, 0);
  int32_t* out = s.out<int32_t>(f);
  std::vector<int32_t> order(static_cast<size_t>(p.n));
  for (int64_t r = 0; r < p.rows; ++r) {
    const T* row = in + r * p.n;
    std::iota(order.begin(), order.end(), 0);
    // partial_sort is not stable: compare (value, then lower index) explicitly.
    std::partial_sort(order.begin(), order.begin() + p.k, order.end(), [row](int32_t a, int32_t b) {
      if (Greater(row[a], row[b])) return true;
      if (Greater(row[b], row[a])) return false;
      return a < b;
    });
    std::copy(order.begin(), order.begin() + p.k, out + r * p.k);
  }
  return absl::OkStatus();
}

// The kernel of `kernels` (f32, f64, i32) for `dtype`.
absl::StatusOr<KernelFn> ForNumeric(const ir::Instruction& inst, ir::DType dtype,
                                    std::array<KernelFn, 3> kernels) {
  switch (dtype) {
    case ir::DType::kF32: return kernels[0];
    case ir::DType::kF64: return kernels[1];
    case ir::DType::kI32: return kernels[2];
    default:
      return absl::InternalError(absl::StrCat(inst.DebugName(), ": ", ir::OpName(inst.op), " of ",
                                              ir::DTypeName(dtype), " has no kernel"));
  }
}

int64_t Product(absl::Span<const int64_t> dims, int64_t begin, int64_t end) {
  int64_t n = 1;
  for (int64_t i = begin; i < end; ++i) n *= dims[i];
  return n;
}

}  // namespace

absl::Status PrepareIndexing(const ir::Function& fn, const ir::Instruction& inst, KernelStep& step) {
  const ir::TensorType& in = fn.instruction(inst.operands[0]).type;
  const absl::Span<const int64_t> dims = in.shape.dims();
  switch (inst.op) {
    case OpCode::kDynamicSlice:
    case OpCode::kDynamicUpdateSlice: {
      const bool update = inst.op == OpCode::kDynamicUpdateSlice;
      auto p = std::make_unique<BlockParams>();
      p->full.assign(dims.begin(), dims.end());
      const absl::Span<const int64_t> block =
          update ? fn.instruction(inst.operands[1]).type.shape.dims() : inst.type.shape.dims();
      p->block.assign(block.begin(), block.end());
      p->full_strides = DenseStrides(dims);
      p->elem = ir::DTypeSize(in.dtype);
      p->first_start = update ? 2 : 1;
      step.params = std::move(p);
      step.fn = update ? &DynamicUpdateSliceKernel : &DynamicSliceKernel;
      return absl::OkStatus();
    }
    case OpCode::kCumsum: {
      PW_ASSIGN_OR_RETURN(step.fn, ForNumeric(inst, in.dtype, {&CumsumKernel<float>, &CumsumKernel<double>, &CumsumKernel<int32_t>}));
      auto p = std::make_unique<CumsumParams>();
      const int64_t axis = inst.attrs.axis;
      p->outer = Product(dims, 0, axis);
      p->axis_size = dims[axis];
      p->inner = Product(dims, axis + 1, in.shape.rank());
      p->reverse = inst.attrs.reverse;
      step.params = std::move(p);
      return absl::OkStatus();
    }
    case OpCode::kTopK: {
      PW_ASSIGN_OR_RETURN(step.fn, ForNumeric(inst, in.dtype, {&TopKKernel<float>, &TopKKernel<double>, &TopKKernel<int32_t>}));
      auto p = std::make_unique<TopKParams>();
      p->n = dims.back();
      p->rows = Product(dims, 0, in.shape.rank() - 1);
      p->k = inst.attrs.k;
      step.params = std::move(p);
      return absl::OkStatus();
    }
    default:
      return absl::InternalError(absl::StrCat(inst.DebugName(), ": not an indexing op"));
  }
}

}  // namespace pw::cpu
