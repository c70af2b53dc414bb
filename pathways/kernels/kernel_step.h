// KernelStep: one pre-resolved instruction of a CpuExecutable's run plan, and the frame it runs in.
//
// Internal to the kernels layer: CpuExecutable builds steps at compile time (kernel function,
// parameters, buffer locations, scratch offsets) so Execute only walks the list and calls them.
#ifndef PATHWAYS_KERNELS_KERNEL_STEP_H_
#define PATHWAYS_KERNELS_KERNEL_STEP_H_

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "pathways/ir/function.h"
#include "pathways/kernels/communicator.h"
#include "pathways/kernels/compile_options.h"

namespace pw::cpu {

// Scratch offsets and sizes are multiples of this (cache lines; what oneDNN likes).
inline constexpr int64_t kScratchAlignment = 64;
inline int64_t AlignUp(int64_t n) { return (n + kScratchAlignment - 1) / kScratchAlignment * kScratchAlignment; }

// Where a value lives during one execution.
enum class BufferSpace : uint8_t {
  kArgument,  // arguments[index]
  kOutput,    // outputs[index] (the value is computed straight into the caller's output)
  kScratch,   // scratch + index bytes
  kConstant,  // the executable's constant pool + index bytes
};

struct BufferRef {
  BufferSpace space = BufferSpace::kScratch;
  int64_t index = 0;
};

// Everything a kernel can reach during one Execute call. Lives on Execute's stack.
struct ExecutionFrame {
  const void* const* arguments = nullptr;
  void* const* outputs = nullptr;
  char* scratch = nullptr;
  const char* constants = nullptr;
  Communicator* communicator = nullptr;

  const void* Get(BufferRef ref) const {
    switch (ref.space) {
      case BufferSpace::kArgument: return arguments[ref.index];
      case BufferSpace::kOutput: return outputs[ref.index];
      case BufferSpace::kScratch: return scratch + ref.index;
      case BufferSpace::kConstant: return constants + ref.index;
    }
    return nullptr;
  }
  // Only kOutput and kScratch refs are ever written.
  void* GetMutable(BufferRef ref) const {
    return ref.space == BufferSpace::kOutput ? outputs[ref.index] : scratch + ref.index;
  }
};

// Per-kernel parameters computed at compile time; each kernel family derives its own.
struct KernelParams {
  virtual ~KernelParams() = default;
};

struct KernelStep;
using KernelFn = absl::Status (*)(const KernelStep& step, const ExecutionFrame& frame);

struct KernelStep {
  const ir::Instruction* instruction = nullptr;  // owned by the executable's Function copy
  KernelFn fn = nullptr;
  absl::InlinedVector<BufferRef, 3> inputs;
  BufferRef output;
  int64_t num_elements = 0;  // of the result
  int64_t byte_size = 0;     // of the result
  // Scratch the kernel needs only while it runs (transposed copies, oneDNN's scratchpad).
  // Prepare* sets temp_bytes; buffer assignment sets temp_offset.
  int64_t temp_bytes = 0;
  int64_t temp_offset = 0;
  std::unique_ptr<KernelParams> params;
  // How the kernel runs, for DebugString (e.g. which operands a dot copies).
  std::string detail;

  template <typename P>
  const P& params_as() const {
    return static_cast<const P&>(*params);
  }
  template <typename T = void>
  const T* in(const ExecutionFrame& f, int i) const {
    return static_cast<const T*>(f.Get(inputs[i]));
  }
  template <typename T = void>
  T* out(const ExecutionFrame& f) const {
    return static_cast<T*>(f.GetMutable(output));
  }
  char* temp(const ExecutionFrame& f) const { return f.scratch + temp_offset; }
};

// memcpy that accepts null pointers when there is nothing to copy (zero-sized values).
inline void CopyBytes(void* dst, const void* src, int64_t n) {
  if (n > 0) std::memcpy(dst, src, static_cast<size_t>(n));
}

// The C++ element type kernels use for a dtype. bool values are handled as bytes so that a
// caller's byte other than 0/1 is never loaded as a C++ bool (undefined behaviour).
template <typename F>
decltype(auto) DispatchKernelType(ir::DType dtype, F&& f) {
  switch (dtype) {
    case ir::DType::kF32: return f(float{});
    case ir::DType::kF64: return f(double{});
    case ir::DType::kI32: return f(int32_t{});
    default: return f(uint8_t{});
  }
}

// Prepares `step` for `inst` (kernel, parameters, temp_bytes) of one op family. Called only
// with ops of that family, on a verified function.
absl::Status PrepareElementwise(const ir::Function& f, const ir::Instruction& inst, KernelStep& step);
absl::Status PrepareDataMovement(const ir::Function& f, const ir::Instruction& inst, KernelStep& step);
// dynamic_slice, dynamic_update_slice, cumsum, top_k (indexing_kernels.cc).
absl::Status PrepareIndexing(const ir::Function& f, const ir::Instruction& inst, KernelStep& step);
absl::Status PrepareReduction(const ir::Function& f, const ir::Instruction& inst, KernelStep& step);
absl::Status PrepareDot(const ir::Function& f, const ir::Instruction& inst,
                        const CompileOptions& options, KernelStep& step);
absl::Status PrepareCollective(const ir::Function& f, const ir::Instruction& inst, KernelStep& step);
// while, case (their regions compiled into nested executables) and get_result
// (control_flow_kernels.cc).
absl::Status PrepareControlFlow(const ir::Function& f, const ir::Instruction& inst,
                                const CompileOptions& options, KernelStep& step);

}  // namespace pw::cpu

#endif  // PATHWAYS_KERNELS_KERNEL_STEP_H_
