// CpuExecutable: an ir::Function compiled into a run plan of CPU kernels.
#ifndef PATHWAYS_KERNELS_CPU_EXECUTABLE_H_
#define PATHWAYS_KERNELS_CPU_EXECUTABLE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pathways/base/trace.h"
#include "pathways/ir/function.h"
#include "pathways/ir/literal.h"
#include "pathways/kernels/communicator.h"
#include "pathways/kernels/compile_options.h"
#include "pathways/kernels/work_cost.h"

namespace pw {

namespace cpu {
struct KernelStep;
struct BufferRef;
struct alignas(64) ScratchBlock {
  char bytes[64];
};
}  // namespace cpu

// What one execution needs besides its buffers.
struct ExecuteContext {
  // The gang's communicator for this shard. Required iff the function has collectives that
  // communicate (all_reduce ... collective_permute); then size() must equal num_shards.
  // shard_index reads rank() (0 without a communicator). Not owned.
  Communicator* communicator = nullptr;
  // With a recorder that is on: one "scope" trace event per run of consecutive steps of one
  // named scope (ir::Instruction::scope), on lane (trace_pid, trace_tid). Not owned.
  TraceRecorder* trace = nullptr;
  int64_t trace_pid = 0;
  int64_t trace_tid = 0;
};

// Compile once, execute many times. Compile verifies the function, orders the instructions,
// drops those no output depends on, picks a kernel for each (with its index arithmetic and
// oneDNN primitives done up front), and places every intermediate in one scratch arena by
// liveness: a value's bytes are reused once its last consumer has run, so a chain of N
// elementwise ops needs scratch for two values, not N.
//
// Immutable after Compile; Execute is thread-safe, so one executable serves every device
// thread of a host at once (each with its own buffers and scratch).
class CpuExecutable {
 public:
  // Errors: InvalidArgument from ir::Verify (the function is never trusted), Unimplemented for
  // an op / dtype without a kernel, Internal if oneDNN rejects a matmul.
  static absl::StatusOr<std::shared_ptr<const CpuExecutable>> Compile(const ir::Function& function,
                                                                      CompileOptions options = {});
  ~CpuExecutable();
  CpuExecutable(const CpuExecutable&) = delete;
  CpuExecutable& operator=(const CpuExecutable&) = delete;

  const ir::Function& function() const { return function_; }
  const std::vector<ir::TensorType>& parameter_types() const { return parameter_types_; }
  const std::vector<ir::TensorType>& output_types() const { return output_types_; }
  // Bytes of scratch Execute needs (a multiple of 64; may be 0).
  int64_t scratch_bytes() const { return scratch_bytes_; }
  // Number of kernels one execution runs.
  int64_t num_steps() const;
  // The modelled cost of one execution (EstimateCost of the function), computed at compile time;
  // a simulated device turns it into time.
  const WorkCost& cost() const { return cost_; }

  // Runs the function on the calling thread.
  //   arguments[i]: parameter i's dense row-major bytes (parameter_types()[i].byte_size()).
  //   outputs[i]:   preallocated bytes for output i; must not overlap arguments or scratch.
  //   scratch:      scratch_bytes() bytes aligned to 64 (may be null when scratch_bytes() == 0);
  //                 a concurrent execution needs its own.
  // Does not allocate for elementwise / data movement kernels. Errors: InvalidArgument for
  // wrong buffer counts, null buffers or misaligned scratch; FailedPrecondition for a missing
  // communicator; a communicator's error (annotated with the instruction) propagates as is.
  // After an error the outputs hold unspecified bytes.
  absl::Status Execute(absl::Span<const void* const> arguments, absl::Span<void* const> outputs,
                       void* scratch, const ExecuteContext& context) const;

  // Convenience for tests and tools: checks the argument count and types, allocates outputs
  // and scratch, and runs Execute.
  absl::StatusOr<std::vector<ir::Literal>> ExecuteLiterals(
      absl::Span<const ir::Literal> arguments, Communicator* communicator = nullptr) const;

  // The plan: one line per step with its kernel's buffers, then the scratch size.
  std::string DebugString() const;

 private:
  CpuExecutable();
  absl::Status Plan(const CompileOptions& options);

  // Copies output values that could not be computed in place (parameters, constants, and the
  // second and later occurrences of a value).
  struct OutputCopy {
    int64_t output_index;
    int64_t value_id;
  };

  ir::Function function_;
  std::vector<ir::TensorType> parameter_types_;
  std::vector<ir::TensorType> output_types_;
  std::vector<cpu::KernelStep> steps_;
  std::vector<OutputCopy> output_copies_;
  // Where each value lives, indexed by value id; filled by Plan.
  std::vector<cpu::BufferRef> locations_;
  std::vector<int64_t> parameter_bytes_, output_bytes_;
  // Constants, each at a 64-aligned offset.
  std::unique_ptr<cpu::ScratchBlock[]> constants_;
  int64_t scratch_bytes_ = 0;
  WorkCost cost_;
  // Runs of consecutive steps [begin, end) of one non-empty named scope, in step order.
  struct ScopeRun {
    size_t begin;
    size_t end;
    std::string scope;
  };
  std::vector<ScopeRun> scope_runs_;
  bool needs_communicator_ = false;
  bool uses_shard_index_ = false;
};

}  // namespace pw

#endif  // PATHWAYS_KERNELS_CPU_EXECUTABLE_H_
