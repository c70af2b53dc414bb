// Data movement kernels: broadcast_in_dim, reshape, transpose, slice, concatenate, gather and
// scatter_add.
//
// All index arithmetic is done at compile time: broadcast, transpose and slice become one
// StridedCopy each; concatenate and gather become loops of row memcpys; scatter_add copies its
// operand and adds rows into it.
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "pathways/kernels/kernel_step.h"
#include "pathways/kernels/strided_copy.h"

namespace pw::cpu {
namespace {

using ir::OpCode;

struct StridedCopyParams : KernelParams {
  StridedCopy copy;
  int64_t src_offset_bytes = 0;
};

absl::Status StridedCopyKernel(const KernelStep& s, const ExecutionFrame& f) {
  const auto& p = s.params_as<StridedCopyParams>();
  p.copy.Run(static_cast<const char*>(s.in(f, 0)) + p.src_offset_bytes, s.out(f));
  return absl::OkStatus();
}

absl::Status MemcpyKernel(const KernelStep& s, const ExecutionFrame& f) {
  CopyBytes(s.out(f), s.in(f, 0), s.byte_size);
  return absl::OkStatus();
}

// The result is `outer` rows; operand i contributes `row_bytes[i]` bytes to each row.
struct ConcatenateParams : KernelParams {
  int64_t outer = 1;
  std::vector<int64_t> row_bytes;
};

absl::Status ConcatenateKernel(const KernelStep& s, const ExecutionFrame& f) {
  const auto& p = s.params_as<ConcatenateParams>();
  char* out = s.out<char>(f);
  for (int64_t o = 0; o < p.outer; ++o) {
    for (size_t i = 0; i < p.row_bytes.size(); ++i) {
      const int64_t n = p.row_bytes[i];
      CopyBytes(out, static_cast<const char*>(s.in(f, static_cast<int>(i))) + o * n, n);
      out += n;
    }
  }
  return absl::OkStatus();
}

// operand viewed as [outer, axis_size, inner_bytes]; result as [outer, num_indices, inner_bytes].
struct GatherParams : KernelParams {
  int64_t outer = 1;
  int64_t axis_size = 0;
  int64_t inner_bytes = 0;
  int64_t num_indices = 0;
};

absl::Status GatherKernel(const KernelStep& s, const ExecutionFrame& f) {
  const auto& p = s.params_as<GatherParams>();
  const char* operand = s.in<char>(f, 0);
  const int32_t* indices = s.in<int32_t>(f, 1);
  char* out = s.out<char>(f);
  if (p.axis_size == 0) {
    // Nothing to take from; an empty axis gathers zeros rather than reading out of bounds.
    if (s.byte_size > 0) std::memset(out, 0, static_cast<size_t>(s.byte_size));
    return absl::OkStatus();
  }
  const int64_t last = p.axis_size - 1;
  for (int64_t o = 0; o < p.outer; ++o) {
    const char* base = operand + o * p.axis_size * p.inner_bytes;
    for (int64_t i = 0; i < p.num_indices; ++i) {
      const int64_t index = std::clamp<int64_t>(indices[i], 0, last);
      CopyBytes(out, base + index * p.inner_bytes, p.inner_bytes);
      out += p.inner_bytes;
    }
  }
  return absl::OkStatus();
}

// operand and result viewed as [outer, axis_size, inner]; updates as [outer, num_indices, inner].
struct ScatterAddParams : KernelParams {
  int64_t outer = 1;
  int64_t axis_size = 0;
  int64_t inner = 0;  // elements
  int64_t num_indices = 0;
};

// out = operand, then each updates row is added to the row its (clamped) index names, in index
// order. i32 wraps like the add kernel instead of overflowing.
template <typename T>
absl::Status ScatterAddKernel(const KernelStep& s, const ExecutionFrame& f) {
  const auto& p = s.params_as<ScatterAddParams>();
  const int32_t* indices = s.in<int32_t>(f, 1);
  const T* updates = s.in<T>(f, 2);
  T* out = s.out<T>(f);
  CopyBytes(out, s.in(f, 0), s.byte_size);
  if (p.axis_size == 0) return absl::OkStatus();  // no row to add into: the updates are dropped
  const int64_t last = p.axis_size - 1;
  for (int64_t o = 0; o < p.outer; ++o) {
    T* base = out + o * p.axis_size * p.inner;
    for (int64_t i = 0; i < p.num_indices; ++i) {
      T* row = base + std::clamp<int64_t>(indices[i], 0, last) * p.inner;
      for (int64_t k = 0; k < p.inner; ++k) {
        if constexpr (std::is_integral_v<T>) {
          row[k] = static_cast<T>(static_cast<uint32_t>(row[k]) + static_cast<uint32_t>(updates[k]));
        } else {
          row[k] += updates[k];
        }
      }
      updates += p.inner;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<KernelFn> ScatterAddFor(const ir::Instruction& inst) {
  switch (inst.type.dtype) {
    case ir::DType::kF32: return &ScatterAddKernel<float>;
    case ir::DType::kF64: return &ScatterAddKernel<double>;
    case ir::DType::kI32: return &ScatterAddKernel<int32_t>;
    default:
      return absl::InternalError(absl::StrCat(inst.DebugName(), ": scatter_add of ",
                                              inst.type.DebugString(), " has no kernel"));
  }
}

int64_t Product(absl::Span<const int64_t> dims, int64_t begin, int64_t end) {
  int64_t n = 1;
  for (int64_t i = begin; i < end; ++i) n *= dims[i];
  return n;
}

}  // namespace

absl::Status PrepareDataMovement(const ir::Function& fn, const ir::Instruction& inst,
                                 KernelStep& step) {
  const ir::TensorType& in = fn.instruction(inst.operands[0]).type;
  const int64_t es = ir::DTypeSize(inst.type.dtype);
  const absl::Span<const int64_t> in_dims = in.shape.dims();
  const auto in_strides = DenseStrides(in_dims);
  const absl::Span<const int64_t> out_dims = inst.type.shape.dims();
  const ir::Attributes& a = inst.attrs;
  switch (inst.op) {
    case OpCode::kReshape:
      step.fn = &MemcpyKernel;
      return absl::OkStatus();
    case OpCode::kBroadcastInDim: {
      std::vector<int64_t> strides(out_dims.size(), 0);
      for (size_t i = 0; i < a.dims.size(); ++i) {
        if (in_dims[i] != 1) strides[a.dims[i]] = in_strides[i];
      }
      auto p = std::make_unique<StridedCopyParams>();
      p->copy = StridedCopy(es, out_dims, strides);
      step.params = std::move(p);
      step.fn = &StridedCopyKernel;
      return absl::OkStatus();
    }
    case OpCode::kTranspose: {
      std::vector<int64_t> strides(out_dims.size());
      for (size_t i = 0; i < a.dims.size(); ++i) strides[i] = in_strides[a.dims[i]];
      auto p = std::make_unique<StridedCopyParams>();
      p->copy = StridedCopy(es, out_dims, strides);
      step.params = std::move(p);
      step.fn = &StridedCopyKernel;
      return absl::OkStatus();
    }
    case OpCode::kSlice: {
      std::vector<int64_t> strides(out_dims.size());
      int64_t offset = 0;
      for (size_t i = 0; i < out_dims.size(); ++i) {
        strides[i] = in_strides[i] * a.strides[i];
        offset += in_strides[i] * a.starts[i];
      }
      auto p = std::make_unique<StridedCopyParams>();
      p->copy = StridedCopy(es, out_dims, strides);
      // A zero-sized result never reads, so a start at the end of the operand is harmless.
      p->src_offset_bytes = p->copy.num_elements() == 0 ? 0 : offset * es;
      step.params = std::move(p);
      step.fn = &StridedCopyKernel;
      return absl::OkStatus();
    }
    case OpCode::kConcatenate: {
      auto p = std::make_unique<ConcatenateParams>();
      p->outer = Product(out_dims, 0, a.axis);
      const int64_t inner = Product(out_dims, a.axis + 1, static_cast<int64_t>(out_dims.size()));
      for (int64_t id : inst.operands) {
        p->row_bytes.push_back(fn.instruction(id).type.shape.dim(a.axis) * inner * es);
      }
      step.params = std::move(p);
      step.fn = &ConcatenateKernel;
      return absl::OkStatus();
    }
    case OpCode::kGather: {
      auto p = std::make_unique<GatherParams>();
      p->outer = Product(in_dims, 0, a.axis);
      p->axis_size = in_dims[a.axis];
      p->inner_bytes = Product(in_dims, a.axis + 1, in.shape.rank()) * es;
      p->num_indices = fn.instruction(inst.operands[1]).type.num_elements();
      step.params = std::move(p);
      step.fn = &GatherKernel;
      return absl::OkStatus();
    }
    case OpCode::kScatterAdd: {
      absl::StatusOr<KernelFn> kernel = ScatterAddFor(inst);
      if (!kernel.ok()) return kernel.status();
      auto p = std::make_unique<ScatterAddParams>();
      p->outer = Product(in_dims, 0, a.axis);
      p->axis_size = in_dims[a.axis];
      p->inner = Product(in_dims, a.axis + 1, in.shape.rank());
      p->num_indices = fn.instruction(inst.operands[1]).type.num_elements();
      step.params = std::move(p);
      step.fn = *kernel;
      return absl::OkStatus();
    }
    default:
      return absl::InternalError(
          absl::StrCat(inst.DebugName(), ": not a data movement op"));
  }
}

}  // namespace pw::cpu
