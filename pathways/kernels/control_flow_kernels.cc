// Control-flow kernels: while, case and get_result.
//
// A while or case compiles its regions into nested CpuExecutables at prepare time and runs them
// on the device thread that runs the step, with the step's communicator. The op's result is a
// tuple (ir/tuple.h): the carried values, or the branch's results, at their tuple offsets. A
// while keeps two tuples of carried values (the result buffer and one in its temp) and runs the
// body from one into the other, so no value is copied per iteration. Where a region has
// collectives, every shard first gathers the loop predicate (or the branch index) from all
// shards and all fail together if they differ: the collectives inside would otherwise be
// entered by some shards only and deadlock.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "pathways/base/status.h"
#include "pathways/ir/tuple.h"
#include "pathways/kernels/cpu_executable.h"
#include "pathways/kernels/kernel_step.h"

namespace pw::cpu {
namespace {

using ir::OpCode;
using Pointers = absl::InlinedVector<const void*, 8>;
using MutablePointers = absl::InlinedVector<void*, 8>;

struct ControlFlowParams : KernelParams {
  // while: {cond, body}; case: the branches.
  std::vector<std::shared_ptr<const CpuExecutable>> regions;
  std::vector<int64_t> offsets;  // of each result in the tuple
  std::vector<int64_t> bytes;    // of each result
  int64_t tuple_bytes = 0;
  int64_t max_iterations = 0;
  bool check_agreement = false;  // some region has collectives
  // Offsets in the step's temp: the second tuple (while), the predicate / gathered values, the
  // regions' scratch.
  int64_t gather_offset = 0;
  int64_t scratch_offset = 0;
};

Pointers ArgsAt(const ControlFlowParams& p, const char* tuple) {
  Pointers args;
  for (int64_t off : p.offsets) args.push_back(tuple + off);
  return args;
}

MutablePointers OutsAt(const ControlFlowParams& p, char* tuple) {
  MutablePointers outs;
  for (int64_t off : p.offsets) outs.push_back(tuple + off);
  return outs;
}

// Every shard's `value` agrees, or every shard returns the same FAILED_PRECONDITION.
absl::Status CheckAgreement(const KernelStep& s, const ExecutionFrame& f, int32_t value,
                            const char* what) {
  const auto& p = s.params_as<ControlFlowParams>();
  Communicator* comm = f.communicator;
  if (!p.check_agreement || comm == nullptr || comm->size() <= 1) return absl::OkStatus();
  auto* all = reinterpret_cast<int32_t*>(s.temp(f) + p.gather_offset);
  PW_RETURN_IF_ERROR(comm->AllGather(&value, all, 1, ir::DType::kI32));
  for (int64_t r = 1; r < comm->size(); ++r) {
    if (all[r] != all[0]) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the ", what, " differs across shards (shard 0: ", all[0], ", shard ", r, ": ", all[r],
          ") but the regions have collectives, which every shard must enter alike; compute the ",
          what, " from a replicated value (e.g. after an all_reduce)"));
    }
  }
  return absl::OkStatus();
}

absl::Status WhileKernel(const KernelStep& s, const ExecutionFrame& f) {
  const auto& p = s.params_as<ControlFlowParams>();
  char* result = s.out<char>(f);
  for (size_t i = 0; i < p.offsets.size(); ++i) {
    CopyBytes(result + p.offsets[i], s.in(f, static_cast<int>(i)), p.bytes[i]);
  }
  char* temp = s.temp(f);
  char* scratch = temp + p.scratch_offset;
  auto* pred = reinterpret_cast<uint8_t*>(temp + p.gather_offset);
  const ExecuteContext context{.communicator = f.communicator};
  char* cur = result;
  char* next = temp;
  for (int64_t it = 0; it < p.max_iterations; ++it) {
    const Pointers args = ArgsAt(p, cur);
    void* pred_out[1] = {pred};
    absl::Status st = p.regions[0]->Execute(args, pred_out, scratch, context);
    if (!st.ok()) return Annotate(st, absl::StrCat("while cond, iteration ", it));
    const int32_t go = *pred != 0 ? 1 : 0;  // read before the gather reuses its bytes
    PW_RETURN_IF_ERROR(CheckAgreement(s, f, go, "loop predicate"));
    if (go == 0) break;
    st = p.regions[1]->Execute(args, OutsAt(p, next), scratch, context);
    if (!st.ok()) return Annotate(st, absl::StrCat("while body, iteration ", it));
    std::swap(cur, next);
  }
  if (cur != result) CopyBytes(result, cur, p.tuple_bytes);
  return absl::OkStatus();
}

absl::Status CaseKernel(const KernelStep& s, const ExecutionFrame& f) {
  const auto& p = s.params_as<ControlFlowParams>();
  const int32_t index = *s.in<int32_t>(f, 0);
  const int64_t n = static_cast<int64_t>(p.regions.size());
  const int64_t branch = index < 0 || index >= n ? n - 1 : index;
  PW_RETURN_IF_ERROR(CheckAgreement(s, f, static_cast<int32_t>(branch), "branch index"));
  Pointers args;
  for (size_t i = 1; i < s.inputs.size(); ++i) args.push_back(s.in(f, static_cast<int>(i)));
  const ExecuteContext context{.communicator = f.communicator};
  absl::Status st = p.regions[branch]->Execute(args, OutsAt(p, s.out<char>(f)),
                                               s.temp(f) + p.scratch_offset, context);
  if (!st.ok()) return Annotate(st, absl::StrCat("case branch ", branch));
  return absl::OkStatus();
}

struct GetResultParams : KernelParams {
  int64_t offset = 0;
};

absl::Status GetResultKernel(const KernelStep& s, const ExecutionFrame& f) {
  CopyBytes(s.out(f), s.in<char>(f, 0) + s.params_as<GetResultParams>().offset, s.byte_size);
  return absl::OkStatus();
}

}  // namespace

absl::Status PrepareControlFlow(const ir::Function& fn, const ir::Instruction& inst,
                                const CompileOptions& options, KernelStep& step) {
  if (inst.op == OpCode::kGetResult) {
    const ir::Instruction& from = fn.instruction(inst.operands[0]);
    const std::vector<ir::TensorType> types =
        from.attrs.regions[from.op == OpCode::kWhile ? 1 : 0].output_types();
    auto p = std::make_unique<GetResultParams>();
    p->offset = ir::TupleOffsets(types)[inst.attrs.index];
    step.params = std::move(p);
    step.fn = &GetResultKernel;
    return absl::OkStatus();
  }
  auto p = std::make_unique<ControlFlowParams>();
  int64_t region_scratch = 0;
  for (const auto& region : inst.attrs.regions.functions) {
    PW_ASSIGN_OR_RETURN(std::shared_ptr<const CpuExecutable> exe,
                        CpuExecutable::Compile(*region, options));
    region_scratch = std::max(region_scratch, exe->scratch_bytes());
    p->check_agreement |= region->HasCollectives();
    p->regions.push_back(std::move(exe));
  }
  const bool is_while = inst.op == OpCode::kWhile;
  const std::vector<ir::TensorType> types = inst.attrs.regions[is_while ? 1 : 0].output_types();
  p->offsets = ir::TupleOffsets(types);
  for (const ir::TensorType& t : types) p->bytes.push_back(t.byte_size());
  p->tuple_bytes = inst.type.byte_size();
  p->max_iterations = inst.attrs.max_iterations;
  p->gather_offset = is_while ? AlignUp(p->tuple_bytes) : 0;
  p->scratch_offset = p->gather_offset + AlignUp(std::max<int64_t>(1, 4 * fn.num_shards));
  step.temp_bytes = p->scratch_offset + region_scratch;
  step.detail = is_while ? absl::StrCat("max_iterations=", p->max_iterations)
                         : absl::StrCat(p->regions.size(), " branches");
  step.params = std::move(p);
  step.fn = is_while ? &WhileKernel : &CaseKernel;
  return absl::OkStatus();
}

}  // namespace pw::cpu
