// Elementwise kernels: unary and binary arithmetic, compare, select, convert and iota.
//
// Each (op, dtype) pair is its own template instance, chosen at compile time, so the loops are
// plain dense loops the compiler vectorizes. Operands always have the result's shape (the
// builder inserts broadcast_in_dim), except select's scalar predicate.
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "pathways/base/status.h"
#include "pathways/kernels/kernel_step.h"
#include "pathways/kernels/onednn_eltwise.h"

namespace pw::cpu {
namespace {

using ir::OpCode;

// --- Integer semantics without undefined behaviour (wrapping like XLA on two's complement). ---

inline int32_t WrapAdd(int32_t a, int32_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b));
}
inline int32_t WrapSub(int32_t a, int32_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) - static_cast<uint32_t>(b));
}
inline int32_t WrapMul(int32_t a, int32_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) * static_cast<uint32_t>(b));
}
// XLA's convention: x / 0 == -1 and INT_MIN / -1 == INT_MIN (no trap).
inline int32_t SafeDiv(int32_t a, int32_t b) {
  if (b == 0) return -1;
  if (b == -1) return WrapSub(0, a);
  return a / b;
}
// Negative exponents give 0 except for bases 1 and -1, as integer pow does in XLA.
inline int32_t IntPow(int32_t base, int32_t exp) {
  if (exp < 0) {
    if (base == 1) return 1;
    if (base == -1) return (exp & 1) ? -1 : 1;
    return 0;
  }
  uint32_t result = 1, b = static_cast<uint32_t>(base);
  for (uint32_t e = static_cast<uint32_t>(exp); e != 0; e >>= 1) {
    if (e & 1) result *= b;
    b *= b;
  }
  return static_cast<int32_t>(result);
}

// NaN-propagating maximum / minimum (XLA semantics).
// Branch-free so the loops vectorize: a NaN `a` wins via a != a, a NaN `b` because a > b fails.
template <typename T>
inline T Max(T a, T b) {
  return (a != a || a > b) ? a : b;
}
template <typename T>
inline T Min(T a, T b) {
  return (a != a || a < b) ? a : b;
}

// --- Unary ---

template <OpCode kOp, typename T>
inline T ApplyUnary(T x) {
  if constexpr (std::is_integral_v<T>) {
    if constexpr (kOp == OpCode::kNegate) return WrapSub(0, x);
    if constexpr (kOp == OpCode::kAbs) return x < 0 ? WrapSub(0, x) : x;
  } else {
    if constexpr (kOp == OpCode::kNegate) return -x;
    if constexpr (kOp == OpCode::kAbs) return std::abs(x);
    if constexpr (kOp == OpCode::kExp) return std::exp(x);
    if constexpr (kOp == OpCode::kLog) return std::log(x);
    if constexpr (kOp == OpCode::kTanh) return std::tanh(x);
    if constexpr (kOp == OpCode::kSqrt) return std::sqrt(x);
    if constexpr (kOp == OpCode::kRsqrt) return T(1) / std::sqrt(x);
    if constexpr (kOp == OpCode::kSine) return std::sin(x);
    if constexpr (kOp == OpCode::kCosine) return std::cos(x);
  }
  return x;
}

template <OpCode kOp, typename T>
absl::Status UnaryKernel(const KernelStep& s, const ExecutionFrame& f) {
  const T* x = s.in<T>(f, 0);
  T* __restrict out = s.out<T>(f);
  const int64_t n = s.num_elements;
  for (int64_t i = 0; i < n; ++i) out[i] = ApplyUnary<kOp, T>(x[i]);
  return absl::OkStatus();
}

template <typename T>
KernelFn UnaryFor(OpCode op) {
  if (op == OpCode::kStopGradient) return &UnaryKernel<OpCode::kStopGradient, T>;  // identity
  if constexpr (std::is_integral_v<T>) {
    switch (op) {
      case OpCode::kNegate: return &UnaryKernel<OpCode::kNegate, T>;
      case OpCode::kAbs: return &UnaryKernel<OpCode::kAbs, T>;
      default: return nullptr;
    }
  } else {
    switch (op) {
      case OpCode::kNegate: return &UnaryKernel<OpCode::kNegate, T>;
      case OpCode::kAbs: return &UnaryKernel<OpCode::kAbs, T>;
      case OpCode::kExp: return &UnaryKernel<OpCode::kExp, T>;
      case OpCode::kLog: return &UnaryKernel<OpCode::kLog, T>;
      case OpCode::kTanh: return &UnaryKernel<OpCode::kTanh, T>;
      case OpCode::kSqrt: return &UnaryKernel<OpCode::kSqrt, T>;
      case OpCode::kRsqrt: return &UnaryKernel<OpCode::kRsqrt, T>;
      case OpCode::kSine: return &UnaryKernel<OpCode::kSine, T>;
      case OpCode::kCosine: return &UnaryKernel<OpCode::kCosine, T>;
      default: return nullptr;
    }
  }
}

// --- Binary ---

template <OpCode kOp, typename T>
inline T ApplyBinary(T a, T b) {
  if constexpr (kOp == OpCode::kMaximum) return Max(a, b);
  if constexpr (kOp == OpCode::kMinimum) return Min(a, b);
  if constexpr (std::is_integral_v<T>) {
    if constexpr (kOp == OpCode::kAdd) return WrapAdd(a, b);
    if constexpr (kOp == OpCode::kSubtract) return WrapSub(a, b);
    if constexpr (kOp == OpCode::kMultiply) return WrapMul(a, b);
    if constexpr (kOp == OpCode::kDivide) return SafeDiv(a, b);
    if constexpr (kOp == OpCode::kPower) return IntPow(a, b);
    // The bitwise ops see 32-bit words; a shift by 32 or more (or a negative one) gives 0.
    using U = std::make_unsigned_t<T>;
    constexpr int kBits = static_cast<int>(sizeof(T) * 8);
    if constexpr (kOp == OpCode::kAnd) return static_cast<T>(static_cast<U>(a) & static_cast<U>(b));
    if constexpr (kOp == OpCode::kOr) return static_cast<T>(static_cast<U>(a) | static_cast<U>(b));
    if constexpr (kOp == OpCode::kXor) return static_cast<T>(static_cast<U>(a) ^ static_cast<U>(b));
    if constexpr (kOp == OpCode::kShiftLeft) {
      return (b < 0 || b >= kBits) ? T(0) : static_cast<T>(static_cast<U>(a) << b);
    }
    if constexpr (kOp == OpCode::kShiftRightLogical) {
      return (b < 0 || b >= kBits) ? T(0) : static_cast<T>(static_cast<U>(a) >> b);
    }
  } else {
    if constexpr (kOp == OpCode::kAdd) return a + b;
    if constexpr (kOp == OpCode::kSubtract) return a - b;
    if constexpr (kOp == OpCode::kMultiply) return a * b;
    if constexpr (kOp == OpCode::kDivide) return a / b;
    if constexpr (kOp == OpCode::kPower) return std::pow(a, b);
  }
  return a;
}

template <OpCode kOp, typename T>
absl::Status BinaryKernel(const KernelStep& s, const ExecutionFrame& f) {
  const T* a = s.in<T>(f, 0);
  const T* b = s.in<T>(f, 1);
  T* __restrict out = s.out<T>(f);
  const int64_t n = s.num_elements;
  for (int64_t i = 0; i < n; ++i) out[i] = ApplyBinary<kOp, T>(a[i], b[i]);
  return absl::OkStatus();
}

template <typename T>
KernelFn BinaryFor(OpCode op) {
  switch (op) {
    case OpCode::kAdd: return &BinaryKernel<OpCode::kAdd, T>;
    case OpCode::kSubtract: return &BinaryKernel<OpCode::kSubtract, T>;
    case OpCode::kMultiply: return &BinaryKernel<OpCode::kMultiply, T>;
    case OpCode::kDivide: return &BinaryKernel<OpCode::kDivide, T>;
    case OpCode::kMaximum: return &BinaryKernel<OpCode::kMaximum, T>;
    case OpCode::kMinimum: return &BinaryKernel<OpCode::kMinimum, T>;
    case OpCode::kPower: return &BinaryKernel<OpCode::kPower, T>;
    default: break;
  }
  if constexpr (std::is_integral_v<T>) {
    switch (op) {
      case OpCode::kAnd: return &BinaryKernel<OpCode::kAnd, T>;
      case OpCode::kOr: return &BinaryKernel<OpCode::kOr, T>;
      case OpCode::kXor: return &BinaryKernel<OpCode::kXor, T>;
      case OpCode::kShiftLeft: return &BinaryKernel<OpCode::kShiftLeft, T>;
      case OpCode::kShiftRightLogical: return &BinaryKernel<OpCode::kShiftRightLogical, T>;
      default: return nullptr;
    }
  } else {
    return nullptr;
  }
}

// --- Compare ---

template <ir::ComparisonDirection kDir, typename T>
inline uint8_t ApplyCompare(T a, T b) {
  using D = ir::ComparisonDirection;
  if constexpr (std::is_same_v<T, uint8_t>) {  // bool: only EQ / NE reach here
    a = a != 0;
    b = b != 0;
  }
  if constexpr (kDir == D::kEq) return a == b;
  if constexpr (kDir == D::kNe) return a != b;
  if constexpr (kDir == D::kLt) return a < b;
  if constexpr (kDir == D::kLe) return a <= b;
  if constexpr (kDir == D::kGt) return a > b;
  return a >= b;
}

template <ir::ComparisonDirection kDir, typename T>
absl::Status CompareKernel(const KernelStep& s, const ExecutionFrame& f) {
  const T* a = s.in<T>(f, 0);
  const T* b = s.in<T>(f, 1);
  uint8_t* __restrict out = s.out<uint8_t>(f);
  const int64_t n = s.num_elements;
  for (int64_t i = 0; i < n; ++i) out[i] = ApplyCompare<kDir, T>(a[i], b[i]);
  return absl::OkStatus();
}

template <typename T>
KernelFn CompareFor(ir::ComparisonDirection dir) {
  using D = ir::ComparisonDirection;
  switch (dir) {
    case D::kEq: return &CompareKernel<D::kEq, T>;
    case D::kNe: return &CompareKernel<D::kNe, T>;
    case D::kLt: return &CompareKernel<D::kLt, T>;
    case D::kLe: return &CompareKernel<D::kLe, T>;
    case D::kGt: return &CompareKernel<D::kGt, T>;
    case D::kGe: return &CompareKernel<D::kGe, T>;
  }
  return nullptr;
}

// --- Select ---

template <typename T>
absl::Status SelectKernel(const KernelStep& s, const ExecutionFrame& f) {
  const uint8_t* p = s.in<uint8_t>(f, 0);
  const T* t = s.in<T>(f, 1);
  const T* e = s.in<T>(f, 2);
  T* __restrict out = s.out<T>(f);
  const int64_t n = s.num_elements;
  for (int64_t i = 0; i < n; ++i) out[i] = p[i] != 0 ? t[i] : e[i];
  return absl::OkStatus();
}

// A scalar predicate picks a whole operand.
absl::Status SelectScalarKernel(const KernelStep& s, const ExecutionFrame& f) {
  const uint8_t* p = s.in<uint8_t>(f, 0);
  CopyBytes(s.out(f), *p != 0 ? s.in(f, 1) : s.in(f, 2), s.byte_size);
  return absl::OkStatus();
}

// --- Convert ---

template <typename To, typename From>
inline To ConvertValue(From v) {
  if constexpr (std::is_same_v<To, uint8_t>) {  // to bool
    return v != From(0) ? 1 : 0;
  } else if constexpr (std::is_same_v<From, uint8_t>) {  // from bool
    return v != 0 ? To(1) : To(0);
  } else if constexpr (std::is_integral_v<To> && std::is_floating_point_v<From>) {
    // Saturating, NaN -> 0 (XLA's convention; a plain cast would be undefined behaviour).
    const double d = static_cast<double>(v);
    if (d != d) return 0;
    if (d >= static_cast<double>(std::numeric_limits<To>::max())) return std::numeric_limits<To>::max();
    if (d <= static_cast<double>(std::numeric_limits<To>::lowest())) return std::numeric_limits<To>::lowest();
    return static_cast<To>(v);
  } else {
    return static_cast<To>(v);
  }
}

template <typename To, typename From>
absl::Status ConvertKernel(const KernelStep& s, const ExecutionFrame& f) {
  const From* x = s.in<From>(f, 0);
  To* __restrict out = s.out<To>(f);
  const int64_t n = s.num_elements;
  for (int64_t i = 0; i < n; ++i) out[i] = ConvertValue<To, From>(x[i]);
  return absl::OkStatus();
}

// --- Iota ---

struct IotaParams : KernelParams {
  int64_t outer = 1, axis_size = 1, inner = 1;
};

template <typename T>
absl::Status IotaKernel(const KernelStep& s, const ExecutionFrame& f) {
  const auto& p = s.params_as<IotaParams>();
  T* out = s.out<T>(f);
  for (int64_t o = 0; o < p.outer; ++o) {
    for (int64_t a = 0; a < p.axis_size; ++a) {
      const T v = static_cast<T>(a);
      for (int64_t i = 0; i < p.inner; ++i) *out++ = v;
    }
  }
  return absl::OkStatus();
}

// f32 tanh / exp / log of at least this many elements go to a oneDNN eltwise primitive.
constexpr int64_t kOneDnnEltwiseMinElements = 4096;

struct EltwiseParams : KernelParams {
  std::unique_ptr<OneDnnEltwise> op;
  KernelFn loop = nullptr;  // the scalar kernel, for an output that overwrites its input
};

// oneDNN does not propagate NaN through every function (its exp maps NaN to a number), so NaN
// inputs are put back afterwards: a NaN loss must stay NaN.
absl::Status OneDnnEltwiseKernel(const KernelStep& s, const ExecutionFrame& f) {
  const auto& p = s.params_as<EltwiseParams>();
  const float* in = s.in<float>(f, 0);
  float* out = s.out<float>(f);
  if (in == out) return p.loop(s, f);
  PW_RETURN_IF_ERROR(p.op->Run(in, out));
  for (int64_t i = 0; i < s.num_elements; ++i) out[i] = in[i] != in[i] ? in[i] : out[i];
  return absl::OkStatus();
}

// A oneDNN primitive for an f32 tanh / exp / log this large; false to use the scalar loop.
bool UseOneDnnEltwise(const ir::Instruction& inst, ir::DType dtype, KernelStep& step) {
  if (dtype != ir::DType::kF32 || step.num_elements < kOneDnnEltwiseMinElements) return false;
  std::optional<OneDnnEltwise::Kind> kind;
  if (inst.op == OpCode::kTanh) kind = OneDnnEltwise::Kind::kTanh;
  if (inst.op == OpCode::kExp) kind = OneDnnEltwise::Kind::kExp;
  if (inst.op == OpCode::kLog) kind = OneDnnEltwise::Kind::kLog;
  if (!kind.has_value()) return false;
  absl::StatusOr<std::unique_ptr<OneDnnEltwise>> op = OneDnnEltwise::Create(*kind, step.num_elements);
  if (!op.ok()) return false;  // the loop computes the same function
  auto params = std::make_unique<EltwiseParams>();
  params->op = *std::move(op);
  params->loop = UnaryFor<float>(inst.op);
  step.params = std::move(params);
  step.fn = &OneDnnEltwiseKernel;
  step.detail = "onednn eltwise";
  return true;
}

absl::Status Unsupported(const ir::Instruction& inst, ir::DType dtype) {
  return absl::UnimplementedError(
      absl::StrCat(inst.DebugName(), ": no CPU kernel for dtype ", ir::DTypeName(dtype)));
}

}  // namespace

absl::Status PrepareElementwise(const ir::Function& fn, const ir::Instruction& inst,
                                KernelStep& step) {
  const ir::DType in_dtype =
      inst.operands.empty() ? inst.type.dtype : fn.instruction(inst.operands[0]).type.dtype;
  if (ir::IsUnaryElementwise(inst.op)) {
    if (UseOneDnnEltwise(inst, in_dtype, step)) return absl::OkStatus();
    step.fn = DispatchKernelType(in_dtype, [&](auto t) -> KernelFn {
      using T = decltype(t);
      if constexpr (std::is_same_v<T, uint8_t>) return nullptr;
      else return UnaryFor<T>(inst.op);
    });
  } else if (ir::IsBinaryElementwise(inst.op)) {
    step.fn = DispatchKernelType(in_dtype, [&](auto t) -> KernelFn {
      using T = decltype(t);
      if constexpr (std::is_same_v<T, uint8_t>) return nullptr;
      else return BinaryFor<T>(inst.op);
    });
  } else if (inst.op == OpCode::kCompare) {
    step.fn = DispatchKernelType(in_dtype, [&](auto t) -> KernelFn {
      return CompareFor<decltype(t)>(inst.attrs.comparison);
    });
  } else if (inst.op == OpCode::kSelect) {
    const bool scalar_pred = fn.instruction(inst.operands[0]).type.shape.rank() == 0;
    if (scalar_pred) {
      step.fn = &SelectScalarKernel;
    } else {
      step.fn = DispatchKernelType(inst.type.dtype, [&](auto t) -> KernelFn {
        return &SelectKernel<decltype(t)>;
      });
    }
  } else if (inst.op == OpCode::kConvert) {
    step.fn = DispatchKernelType(inst.type.dtype, [&](auto to) -> KernelFn {
      return DispatchKernelType(in_dtype, [&](auto from) -> KernelFn {
        return &ConvertKernel<decltype(to), decltype(from)>;
      });
    });
  } else if (inst.op == OpCode::kIota) {
    auto params = std::make_unique<IotaParams>();
    const ir::Shape& shape = inst.type.shape;
    for (int64_t d = 0; d < shape.rank(); ++d) {
      if (d < inst.attrs.axis) params->outer *= shape.dim(d);
      else if (d == inst.attrs.axis) params->axis_size = shape.dim(d);
      else params->inner *= shape.dim(d);
    }
    step.params = std::move(params);
    step.fn = DispatchKernelType(inst.type.dtype, [&](auto t) -> KernelFn {
      using T = decltype(t);
      if constexpr (std::is_same_v<T, uint8_t>) return nullptr;
      else return &IotaKernel<T>;
    });
  }
  if (step.fn == nullptr) return Unsupported(inst, in_dtype);
  return absl::OkStatus();
}

}  // namespace pw::cpu
