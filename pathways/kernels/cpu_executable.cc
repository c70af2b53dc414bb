// CpuExecutable: planning (kernel choice, output placement, scratch liveness) and execution.
#include "pathways/kernels/cpu_executable.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pathways/base/status.h"
#include "pathways/kernels/arena_planner.h"
#include "pathways/kernels/kernel_step.h"

namespace pw {
namespace {

using cpu::BufferRef;
using cpu::BufferSpace;
using ir::OpCode;

bool IsCommunicating(OpCode op) { return ir::IsCollective(op) && op != OpCode::kShardIndex; }

// Some instruction of `inst`'s regions (at any depth) satisfies `pred`.
template <typename Pred>
bool RegionsHave(const ir::Instruction& inst, Pred pred) {
  for (const auto& region : inst.attrs.regions.functions) {
    for (const ir::Instruction& i : region->instructions) {
      if (pred(i.op) || RegionsHave(i, pred)) return true;
    }
  }
  return false;
}

absl::Status PrepareStep(const ir::Function& f, const ir::Instruction& inst,
                         const CompileOptions& options, cpu::KernelStep& step) {
  if (ir::IsUnaryElementwise(inst.op) || ir::IsBinaryElementwise(inst.op)) {
    return cpu::PrepareElementwise(f, inst, step);
  }
  switch (inst.op) {
    case OpCode::kIota:
    case OpCode::kCompare:
    case OpCode::kSelect:
    case OpCode::kConvert:
      return cpu::PrepareElementwise(f, inst, step);
    case OpCode::kBroadcastInDim:
    case OpCode::kReshape:
    case OpCode::kTranspose:
    case OpCode::kSlice:
    case OpCode::kConcatenate:
    case OpCode::kGather:
    case OpCode::kScatterAdd:
      return cpu::PrepareDataMovement(f, inst, step);
    case OpCode::kDynamicSlice:
    case OpCode::kDynamicUpdateSlice:
    case OpCode::kCumsum:
    case OpCode::kTopK:
      return cpu::PrepareIndexing(f, inst, step);
    case OpCode::kReduce:
      return cpu::PrepareReduction(f, inst, step);
    case OpCode::kDotGeneral:
      return cpu::PrepareDot(f, inst, options, step);
    case OpCode::kWhile:
    case OpCode::kCase:
    case OpCode::kGetResult:
      return cpu::PrepareControlFlow(f, inst, options, step);
    default:
      if (ir::IsCollective(inst.op)) return cpu::PrepareCollective(f, inst, step);
      return absl::UnimplementedError(
          absl::StrCat(inst.DebugName(), ": no CPU kernel for op ", ir::OpName(inst.op)));
  }
}

std::string RefText(const BufferRef& r) {
  switch (r.space) {
    case BufferSpace::kArgument: return absl::StrCat("arg", r.index);
    case BufferSpace::kOutput: return absl::StrCat("out", r.index);
    case BufferSpace::kScratch: return absl::StrCat("scratch+", r.index);
    case BufferSpace::kConstant: return absl::StrCat("const+", r.index);
  }
  return "?";
}

}  // namespace

CpuExecutable::CpuExecutable() = default;
CpuExecutable::~CpuExecutable() = default;

int64_t CpuExecutable::num_steps() const { return static_cast<int64_t>(steps_.size()); }

absl::StatusOr<std::shared_ptr<const CpuExecutable>> CpuExecutable::Compile(
    const ir::Function& function, CompileOptions options) {
  PW_RETURN_IF_ERROR(ir::Verify(function));
  std::shared_ptr<CpuExecutable> exe(new CpuExecutable());
  exe->function_ = function;
  PW_RETURN_IF_ERROR(exe->Plan(options));
  exe->cost_ = EstimateCost(exe->function_);
  for (size_t i = 0; i < exe->steps_.size(); ++i) {
    const std::string& scope = exe->steps_[i].instruction->scope;
    if (scope.empty()) continue;
    auto& runs = exe->scope_runs_;
    if (!runs.empty() && runs.back().end == i && runs.back().scope == scope) {
      runs.back().end = i + 1;
    } else {
      runs.push_back({i, i + 1, scope});
    }
  }
  return std::shared_ptr<const CpuExecutable>(std::move(exe));
}

absl::Status CpuExecutable::Plan(const CompileOptions& options) {
  const ir::Function& f = function_;
  const int64_t n = static_cast<int64_t>(f.instructions.size());
  parameter_types_ = f.parameter_types();
  output_types_ = f.output_types();
  for (const ir::TensorType& t : parameter_types_) parameter_bytes_.push_back(t.byte_size());
  for (const ir::TensorType& t : output_types_) output_bytes_.push_back(t.byte_size());

  // Only values some output depends on run.
  const std::vector<bool> live = f.live_instructions();

  // Leaves: parameters read the caller's arguments; constants go to the aligned pool.
  locations_.assign(n, BufferRef{});
  int64_t pool_bytes = 0;
  for (const ir::Instruction& inst : f.instructions) {
    if (inst.op == OpCode::kParameter) {
      locations_[inst.id] = {BufferSpace::kArgument, inst.attrs.index};
    } else if (inst.op == OpCode::kConstant && live[inst.id]) {
      locations_[inst.id] = {BufferSpace::kConstant, pool_bytes};
      pool_bytes += cpu::AlignUp(inst.type.byte_size());
    }
  }
  constants_.reset(new cpu::ScratchBlock[std::max<int64_t>(1, pool_bytes / cpu::kScratchAlignment)]);
  for (const ir::Instruction& inst : f.instructions) {
    if (inst.op == OpCode::kConstant && live[inst.id]) {
      cpu::CopyBytes(constants_[0].bytes + locations_[inst.id].index,
                     inst.attrs.literal->untyped_data(), inst.type.byte_size());
    }
  }

  // Computed outputs are written straight into the caller's buffer; the rest are copied.
  std::vector<bool> in_output(n, false);
  for (int64_t k = 0; k < static_cast<int64_t>(f.outputs.size()); ++k) {
    const ir::Instruction& inst = f.instruction(f.outputs[k]);
    if (inst.op == OpCode::kParameter || inst.op == OpCode::kConstant || in_output[inst.id]) {
      output_copies_.push_back({k, inst.id});
    } else {
      in_output[inst.id] = true;
      locations_[inst.id] = {BufferSpace::kOutput, k};
    }
  }

  // Steps in program order, with the step index of each value's last consumer.
  std::vector<int64_t> last_use(n, -1);
  for (const ir::Instruction& inst : f.instructions) {
    if (!live[inst.id] || inst.op == OpCode::kParameter || inst.op == OpCode::kConstant) continue;
    const int64_t index = static_cast<int64_t>(steps_.size());
    for (int64_t o : inst.operands) last_use[o] = index;
    cpu::KernelStep& step = steps_.emplace_back();
    step.instruction = &inst;
    step.num_elements = inst.type.num_elements();
    step.byte_size = inst.type.byte_size();
    PW_RETURN_IF_ERROR(PrepareStep(f, inst, options, step));
    if (IsCommunicating(inst.op) || RegionsHave(inst, IsCommunicating)) needs_communicator_ = true;
    if (inst.op == OpCode::kShardIndex ||
        RegionsHave(inst, [](OpCode op) { return op == OpCode::kShardIndex; })) {
      uses_shard_index_ = true;
    }
  }

  // Liveness: a result's slot is taken before its step runs and returned after the last
  // consumer ran. Results never share a slot with their own operands, so kernels need not
  // be in-place safe; per-step temps live only during their step.
  cpu::ArenaPlanner arena;
  for (int64_t i = 0; i < static_cast<int64_t>(steps_.size()); ++i) {
    cpu::KernelStep& step = steps_[i];
    const ir::Instruction& inst = *step.instruction;
    for (int64_t o : inst.operands) step.inputs.push_back(locations_[o]);
    if (locations_[inst.id].space != BufferSpace::kOutput) {
      locations_[inst.id] = {BufferSpace::kScratch,
                             step.byte_size > 0 ? arena.Allocate(step.byte_size) : 0};
    }
    step.output = locations_[inst.id];
    if (step.temp_bytes > 0) {
      step.temp_offset = arena.Allocate(step.temp_bytes);
      arena.Free(step.temp_offset, step.temp_bytes);
    }
    for (size_t k = 0; k < inst.operands.size(); ++k) {
      const int64_t o = inst.operands[k];
      const bool first = std::find(inst.operands.begin(), inst.operands.begin() + k, o) ==
                         inst.operands.begin() + k;
      const BufferRef& r = locations_[o];
      if (first && last_use[o] == i && r.space == BufferSpace::kScratch &&
          f.instruction(o).type.byte_size() > 0) {
        arena.Free(r.index, f.instruction(o).type.byte_size());
      }
    }
  }
  scratch_bytes_ = arena.peak_bytes();
  return absl::OkStatus();
}

absl::Status CpuExecutable::Execute(absl::Span<const void* const> arguments,
                                    absl::Span<void* const> outputs, void* scratch,
                                    const ExecuteContext& context) const {
  if (arguments.size() != parameter_bytes_.size() || outputs.size() != output_bytes_.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "function '", function_.name, "' takes ", parameter_bytes_.size(), " arguments and ",
        output_bytes_.size(), " outputs; got ", arguments.size(), " and ", outputs.size()));
  }
  for (size_t i = 0; i < arguments.size(); ++i) {
    if (arguments[i] == nullptr && parameter_bytes_[i] > 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "function '", function_.name, "': argument ", i, " (",
          function_.instruction(function_.parameters[i]).DebugName(), ") is null"));
    }
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (outputs[i] == nullptr && output_bytes_[i] > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("function '", function_.name, "': output buffer ", i, " is null"));
    }
  }
  if (scratch_bytes_ > 0 &&
      (scratch == nullptr || reinterpret_cast<uintptr_t>(scratch) % cpu::kScratchAlignment != 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "function '", function_.name, "' needs ", scratch_bytes_,
        " bytes of 64-byte aligned scratch; got ", scratch == nullptr ? "null" : "a misaligned pointer"));
  }
  Communicator* comm = context.communicator;
  if (needs_communicator_ && comm == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "function '", function_.name, "' has collectives but was executed without a communicator"));
  }
  if ((needs_communicator_ || uses_shard_index_) && comm != nullptr &&
      comm->size() != function_.num_shards) {
    return absl::InvalidArgumentError(absl::StrCat(
        "function '", function_.name, "' was built for ", function_.num_shards,
        " shards but runs with communicator ", comm->DebugString(), " of size ", comm->size()));
  }

  cpu::ExecutionFrame frame;
  frame.arguments = arguments.data();
  frame.outputs = outputs.data();
  frame.scratch = static_cast<char*>(scratch);
  frame.constants = constants_[0].bytes;
  frame.communicator = comm;
  const bool tracing = context.trace != nullptr && context.trace->enabled() && !scope_runs_.empty();
  size_t run = 0;
  int64_t run_start = 0;
  for (size_t i = 0; i < steps_.size(); ++i) {
    const cpu::KernelStep& step = steps_[i];
    if (tracing && run < scope_runs_.size() && scope_runs_[run].begin == i) run_start = MonotonicNanos();
    absl::Status status = step.fn(step, frame);
    if (!status.ok()) {
      return Annotate(status, absl::StrCat("function '", function_.name, "': ",
                                           step.instruction->DebugName()));
    }
    if (tracing && run < scope_runs_.size() && scope_runs_[run].end == i + 1) {
      context.trace->Record(TraceEvent{.name = scope_runs_[run].scope, .category = "scope",
                                       .pid = context.trace_pid, .tid = context.trace_tid,
                                       .start_ns = run_start, .dur_ns = MonotonicNanos() - run_start,
                                       .args = {{"function", function_.name}}});
      ++run;
    }
  }
  for (const OutputCopy& c : output_copies_) {
    cpu::CopyBytes(outputs[c.output_index], frame.Get(locations_[c.value_id]),
                   output_bytes_[c.output_index]);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ir::Literal>> CpuExecutable::ExecuteLiterals(
    absl::Span<const ir::Literal> arguments, Communicator* communicator) const {
  if (arguments.size() != parameter_types_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("function '", function_.name, "' takes ",
                                                   parameter_types_.size(), " arguments, got ",
                                                   arguments.size()));
  }
  std::vector<const void*> args(arguments.size());
  for (size_t i = 0; i < arguments.size(); ++i) {
    if (!(arguments[i].type() == parameter_types_[i])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "function '", function_.name, "': argument ", i, " has type ",
          arguments[i].type().DebugString(), " but parameter ",
          function_.instruction(function_.parameters[i]).DebugName(), " expects ",
          parameter_types_[i].DebugString()));
    }
    args[i] = arguments[i].untyped_data();
  }
  std::vector<ir::Literal> results;
  std::vector<void*> outs;
  results.reserve(output_types_.size());
  for (const ir::TensorType& t : output_types_) {
    outs.push_back(results.emplace_back(t).untyped_data());
  }
  std::unique_ptr<cpu::ScratchBlock[]> scratch(
      new cpu::ScratchBlock[scratch_bytes_ / cpu::kScratchAlignment + 1]);
  ExecuteContext context;
  context.communicator = communicator;
  PW_RETURN_IF_ERROR(Execute(args, outs, scratch.get(), context));
  return results;
}

std::string CpuExecutable::DebugString() const {
  std::string out = absl::StrCat("CpuExecutable '", function_.name, "' (", steps_.size(),
                                 " steps, scratch ", scratch_bytes_, " bytes, num_shards ",
                                 function_.num_shards, ")\n");
  for (const cpu::KernelStep& step : steps_) {
    absl::StrAppend(&out, "  ", step.instruction->DebugName(), " ",
                    step.instruction->type.DebugString(), " (");
    for (size_t i = 0; i < step.inputs.size(); ++i) {
      absl::StrAppend(&out, i > 0 ? ", " : "", RefText(step.inputs[i]));
    }
    absl::StrAppend(&out, ") -> ", RefText(step.output));
    if (step.temp_bytes > 0) {
      absl::StrAppend(&out, " temp ", step.temp_bytes, "@scratch+", step.temp_offset);
    }
    if (!step.detail.empty()) absl::StrAppend(&out, " {", step.detail, "}");
    out += "\n";
  }
  for (const OutputCopy& c : output_copies_) {
    absl::StrAppend(&out, "  out", c.output_index, " <- copy of %", c.value_id, " (",
                    RefText(locations_[c.value_id]), ")\n");
  }
  return out;
}

}  // namespace pw
