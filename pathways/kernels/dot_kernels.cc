// dot_general kernel: canonicalizes both operands to [batch, M, K] x [batch, K, N].
//
// Each operand is first described as a strided view of its own buffer (no copy) when its
// batch, free and contracting dims each merge into one stride; otherwise it is copied into
// the step's temp scratch in dense canonical order. f32 then runs a oneDNN matmul primitive
// created here, at compile time; f64 and i32 (and f32 with DotImplementation::kLoops) run a
// plain loop over the same views. The result is always dense [batch..., lhs free..., rhs free...].
#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pathways/base/status.h"
#include "pathways/kernels/kernel_step.h"
#include "pathways/kernels/onednn_matmul.h"
#include "pathways/kernels/strided_copy.h"

namespace pw::cpu {
namespace {

// One operand as a [batch, rows, cols] view.
struct OperandPlan {
  Strides3 strides = {0, 0, 0};
  std::optional<StridedCopy> copy;  // set when the operand must be copied to temp first
  int64_t temp_offset = 0;          // of the copy, within the step's temp region
};

struct DotParams : KernelParams {
  MatmulShape shape;
  OperandPlan lhs, rhs;
  std::unique_ptr<OneDnnMatmul> matmul;  // f32 with oneDNN only
  int64_t scratchpad_offset = 0;         // within the step's temp region
};

// Stride of `dims` (in this order) merged into one dim, or nullopt if they are not one run
// of memory. Size-1 dims do not constrain; an all-size-1 group gets `fallback`.
std::optional<int64_t> MergedStride(absl::Span<const int64_t> dims, absl::Span<const int64_t> sizes,
                                    absl::Span<const int64_t> strides, int64_t fallback) {
  std::optional<int64_t> stride;
  for (int64_t d : dims) {
    if (sizes[d] == 1) continue;
    if (stride.has_value() && *stride != strides[d] * sizes[d]) return std::nullopt;
    stride = strides[d];
  }
  return stride.has_value() ? *stride : fallback;
}

int64_t ProductOf(absl::Span<const int64_t> dims, absl::Span<const int64_t> sizes) {
  int64_t n = 1;
  for (int64_t d : dims) n *= sizes[d];
  return n;
}

// Plans one operand whose dims are grouped as (outer, middle, inner) = the canonical
// [batch, rows, cols]. `force_copy` asks for the dense copy even if a view would do.
OperandPlan PlanOperand(const ir::TensorType& type, const std::vector<int64_t> groups[3],
                        bool force_copy, int64_t& temp_bytes) {
  OperandPlan plan;
  const absl::Span<const int64_t> sizes = type.shape.dims();
  const auto strides = DenseStrides(sizes);
  const int64_t group_size[3] = {ProductOf(groups[0], sizes), ProductOf(groups[1], sizes),
                                 ProductOf(groups[2], sizes)};
  // A size-1 group's stride is irrelevant; give it the dense value for its position so
  // oneDNN sees a plain layout.
  const int64_t dense[3] = {group_size[1] * group_size[2], group_size[2], 1};
  bool mergeable = !force_copy;
  for (int g = 0; g < 3 && mergeable; ++g) {
    std::optional<int64_t> s = MergedStride(groups[g], sizes, strides, dense[g]);
    if (!s.has_value()) mergeable = false;
    else plan.strides[g] = *s;
  }
  if (mergeable) return plan;
  std::vector<int64_t> perm_dims, perm_strides;
  for (int g = 0; g < 3; ++g) {
    for (int64_t d : groups[g]) {
      perm_dims.push_back(sizes[d]);
      perm_strides.push_back(strides[d]);
    }
  }
  plan.copy = StridedCopy(ir::DTypeSize(type.dtype), perm_dims, perm_strides);
  plan.strides = {dense[0], dense[1], dense[2]};
  plan.temp_offset = temp_bytes;
  temp_bytes += AlignUp(type.byte_size());
  return plan;
}

// Source pointer of an operand for this execution: its own buffer, or its canonical copy.
const char* Materialize(const OperandPlan& plan, const void* src, char* temp) {
  if (!plan.copy.has_value()) return static_cast<const char*>(src);
  plan.copy->Run(src, temp + plan.temp_offset);
  return temp + plan.temp_offset;
}

template <typename T>
absl::Status DotLoopKernel(const KernelStep& s, const ExecutionFrame& f) {
  const auto& p = s.params_as<DotParams>();
  char* temp = s.temp(f);
  const T* lhs = reinterpret_cast<const T*>(Materialize(p.lhs, s.in(f, 0), temp));
  const T* rhs = reinterpret_cast<const T*>(Materialize(p.rhs, s.in(f, 1), temp));
  T* out = s.out<T>(f);
  // Integer products wrap instead of overflowing (undefined behaviour).
  using Acc = std::conditional_t<std::is_integral_v<T>, uint32_t, T>;
  const auto [lb, lm, lk] = p.lhs.strides;
  const auto [rb, rk, rn] = p.rhs.strides;
  const MatmulShape& sh = p.shape;
  for (int64_t b = 0; b < sh.batch; ++b) {
    for (int64_t m = 0; m < sh.m; ++m) {
      Acc* __restrict row = reinterpret_cast<Acc*>(out + (b * sh.m + m) * sh.n);
      for (int64_t n = 0; n < sh.n; ++n) row[n] = 0;
      const T* l = lhs + b * lb + m * lm;
      for (int64_t k = 0; k < sh.k; ++k) {
        const Acc a = static_cast<Acc>(l[k * lk]);
        const T* r = rhs + b * rb + k * rk;
        for (int64_t n = 0; n < sh.n; ++n) row[n] += a * static_cast<Acc>(r[n * rn]);
      }
    }
  }
  return absl::OkStatus();
}

absl::Status DotOneDnnKernel(const KernelStep& s, const ExecutionFrame& f) {
  const auto& p = s.params_as<DotParams>();
  char* temp = s.temp(f);
  const char* lhs = Materialize(p.lhs, s.in(f, 0), temp);
  const char* rhs = Materialize(p.rhs, s.in(f, 1), temp);
  return p.matmul->Run(reinterpret_cast<const float*>(lhs), reinterpret_cast<const float*>(rhs),
                       s.out<float>(f), temp + p.scratchpad_offset);
}

absl::Status ZeroFillKernel(const KernelStep& s, const ExecutionFrame& f) {
  if (s.byte_size > 0) std::memset(s.out(f), 0, static_cast<size_t>(s.byte_size));
  return absl::OkStatus();
}

}  // namespace

absl::Status PrepareDot(const ir::Function& fn, const ir::Instruction& inst,
                        const CompileOptions& options, KernelStep& step) {
  const ir::TensorType& lt = fn.instruction(inst.operands[0]).type;
  const ir::TensorType& rt = fn.instruction(inst.operands[1]).type;
  const ir::DotDimensionNumbers& d = inst.attrs.dot;
  auto free_dims = [](int64_t rank, const std::vector<int64_t>& batch,
                      const std::vector<int64_t>& contracting) {
    std::vector<int64_t> out;
    for (int64_t i = 0; i < rank; ++i) {
      if (std::find(batch.begin(), batch.end(), i) == batch.end() &&
          std::find(contracting.begin(), contracting.end(), i) == contracting.end()) {
        out.push_back(i);
      }
    }
    return out;
  };
  const std::vector<int64_t> lhs_groups[3] = {
      d.lhs_batch, free_dims(lt.shape.rank(), d.lhs_batch, d.lhs_contracting), d.lhs_contracting};
  const std::vector<int64_t> rhs_groups[3] = {
      d.rhs_batch, d.rhs_contracting, free_dims(rt.shape.rank(), d.rhs_batch, d.rhs_contracting)};

  auto p = std::make_unique<DotParams>();
  p->shape.batch = ProductOf(lhs_groups[0], lt.shape.dims());
  p->shape.m = ProductOf(lhs_groups[1], lt.shape.dims());
  p->shape.k = ProductOf(lhs_groups[2], lt.shape.dims());
  p->shape.n = ProductOf(rhs_groups[2], rt.shape.dims());
  if (step.num_elements == 0 || p->shape.k == 0) {
    // Nothing to read: an empty result, or empty sums (zeros). oneDNN rejects zero sizes.
    step.fn = &ZeroFillKernel;
    step.detail = "nothing to contract: zero fill";
    return absl::OkStatus();
  }

  const bool use_onednn =
      lt.dtype == ir::DType::kF32 && options.dot == DotImplementation::kOneDnn;
  int64_t temp = 0;
  p->lhs = PlanOperand(lt, lhs_groups, /*force_copy=*/false, temp);
  p->rhs = PlanOperand(rt, rhs_groups, /*force_copy=*/false, temp);
  if (use_onednn) {
    absl::StatusOr<std::unique_ptr<OneDnnMatmul>> matmul =
        OneDnnMatmul::Create(p->shape, p->lhs.strides, p->rhs.strides);
    if (!matmul.ok() && absl::IsUnimplemented(matmul.status())) {
      // The strided views are valid but not a layout oneDNN implements: copy both densely.
      temp = 0;
      p->lhs = PlanOperand(lt, lhs_groups, /*force_copy=*/true, temp);
      p->rhs = PlanOperand(rt, rhs_groups, /*force_copy=*/true, temp);
      matmul = OneDnnMatmul::Create(p->shape, p->lhs.strides, p->rhs.strides);
    }
    if (!matmul.ok()) return Annotate(matmul.status(), inst.DebugName());
    p->matmul = *std::move(matmul);
    p->scratchpad_offset = temp;
    temp += AlignUp(p->matmul->scratchpad_bytes());
    step.fn = &DotOneDnnKernel;
  } else {
    step.fn = DispatchKernelType(lt.dtype, [&](auto t) -> KernelFn {
      using T = decltype(t);
      if constexpr (std::is_same_v<T, uint8_t>) return nullptr;
      else return &DotLoopKernel<T>;
    });
    if (step.fn == nullptr) {
      return absl::UnimplementedError(inst.DebugName() + ": dot_general needs numeric operands");
    }
  }
  step.temp_bytes = temp;
  step.detail = absl::StrCat(
      "[", p->shape.batch, ",", p->shape.m, ",", p->shape.k, "]x[", p->shape.batch, ",",
      p->shape.k, ",", p->shape.n, "] lhs ", p->lhs.copy.has_value() ? "copied" : "strided",
      ", rhs ", p->rhs.copy.has_value() ? "copied" : "strided", ", ",
      p->matmul != nullptr ? absl::StrCat("oneDNN ", p->matmul->implementation()) : "loops");
  step.params = std::move(p);
  return absl::OkStatus();
}

}  // namespace pw::cpu
