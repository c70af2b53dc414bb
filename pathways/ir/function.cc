// Function accessors and the verifier.
#include "pathways/ir/function.h"

#include "absl/strings/str_cat.h"
#include "pathways/base/status.h"
#include "pathways/ir/shape_inference.h"
#include "pathways/ir/tuple.h"

namespace pw::ir {

std::string Instruction::DebugName() const {
  if (name.empty()) return absl::StrCat("%", id, " (", OpName(op), ")");
  return absl::StrCat("%", id, " \"", name, "\" (", OpName(op), ")");
}

std::vector<TensorType> Function::parameter_types() const {
  std::vector<TensorType> out;
  out.reserve(parameters.size());
  for (int64_t id : parameters) out.push_back(instructions[id].type);
  return out;
}

std::vector<TensorType> Function::output_types() const {
  std::vector<TensorType> out;
  out.reserve(outputs.size());
  for (int64_t id : outputs) out.push_back(instructions[id].type);
  return out;
}

std::vector<bool> Function::live_instructions() const {
  std::vector<bool> live(instructions.size(), false);
  for (int64_t id : outputs) live[id] = true;
  for (int64_t i = static_cast<int64_t>(instructions.size()) - 1; i >= 0; --i) {
    if (!live[i]) continue;
    for (int64_t o : instructions[i].operands) live[o] = true;
  }
  return live;
}

bool operator==(const Regions& a, const Regions& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const Function* x = a.functions[i].get();
    const Function* y = b.functions[i].get();
    if (x != y && (x == nullptr || y == nullptr || !(*x == *y))) return false;
  }
  return true;
}

bool Function::HasCollectives() const {
  for (const Instruction& inst : instructions) {
    if (IsCollective(inst.op)) return true;
    for (const auto& region : inst.attrs.regions.functions) {
      if (region != nullptr && region->HasCollectives()) return true;
    }
  }
  return false;
}

namespace {

// The result types of a control-flow instruction (verified).
std::vector<TensorType> ControlFlowResults(const Instruction& inst) {
  return inst.attrs.regions[inst.op == OpCode::kWhile ? 1 : 0].output_types();
}

// get_result's operand is a while or case with that result; tuples feed only get_result.
absl::Status CheckTupleUse(const Function& f, const Instruction& inst) {
  auto fail = [&](auto&&... parts) {
    return absl::InvalidArgumentError(
        absl::StrCat("function '", f.name, "': ", inst.DebugName(), ": ", parts...));
  };
  if (inst.op == OpCode::kGetResult) {
    if (inst.operands.size() != 1) return absl::OkStatus();  // shape inference names the arity
    const Instruction& from = f.instructions[inst.operands[0]];
    if (!IsControlFlow(from.op)) {
      return fail("the operand must be a while or case, got ", from.DebugName());
    }
    const std::vector<TensorType> results = ControlFlowResults(from);
    const int64_t i = inst.attrs.index;
    if (i < 0 || i >= static_cast<int64_t>(results.size())) {
      return fail("result index ", i, " is out of range: ", from.DebugName(), " has ",
                  results.size(), " result(s)");
    }
    if (!(results[i] == inst.type)) {
      return fail("declared type ", inst.type.DebugString(), " differs from result ", i, " of ",
                  from.DebugName(), ", ", results[i].DebugString());
    }
    return absl::OkStatus();
  }
  for (int64_t o : inst.operands) {
    if (IsControlFlow(f.instructions[o].op)) {
      return fail("uses the tuple ", f.instructions[o].DebugName(),
                  " directly; only get_result may read it");
    }
  }
  return absl::OkStatus();
}

absl::Status VerifyAt(const Function& f, int64_t depth);

absl::Status VerifyRegions(const Function& f, const Instruction& inst, int64_t depth) {
  for (size_t r = 0; r < inst.attrs.regions.size(); ++r) {
    if (inst.attrs.regions.functions[r] == nullptr) continue;  // shape inference names it
    if (depth >= kMaxRegionDepth) {
      return absl::InvalidArgumentError(
          absl::StrCat("function '", f.name, "': ", inst.DebugName(), ": regions nest deeper than ",
                       kMaxRegionDepth, " levels"));
    }
    absl::Status s = VerifyAt(inst.attrs.regions[r], depth + 1);
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("function '", f.name, "': ",
                                                     inst.DebugName(), " region ", r, ": ",
                                                     s.message()));
    }
  }
  if (!inst.attrs.regions.empty() && !IsControlFlow(inst.op)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "function '", f.name, "': ", inst.DebugName(), " has regions but is not while or case"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Verify(const Function& f) { return VerifyAt(f, 0); }

namespace {

absl::Status VerifyAt(const Function& f, int64_t depth) {
  auto fail = [&f](auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat("function '", f.name, "': ", parts...));
  };
  if (f.num_shards < 1 || f.num_shards > kMaxShards) {
    return fail("num_shards must be in [1, ", kMaxShards, "], got ", f.num_shards);
  }
  const int64_t n = static_cast<int64_t>(f.instructions.size());
  int64_t num_params = 0;
  std::vector<TensorType> operand_types;
  for (int64_t i = 0; i < n; ++i) {
    const Instruction& inst = f.instructions[i];
    if (inst.id != i) return fail("instruction at position ", i, " has id ", inst.id);
    if (!IsKnownOpCode(static_cast<uint32_t>(inst.op)) || inst.op == OpCode::kInvalid) {
      return fail("%", i, " has unknown op code ", static_cast<int>(inst.op));
    }
    operand_types.clear();
    for (size_t k = 0; k < inst.operands.size(); ++k) {
      int64_t o = inst.operands[k];
      if (o < 0 || o >= n) {
        return fail(inst.DebugName(), ": operand ", k, " refers to %", o, ", which does not exist");
      }
      if (o >= i) {
        return fail(inst.DebugName(), ": operand ", k, " refers to %", o,
                    ", which is not defined before it (a cycle or forward reference)");
      }
      operand_types.push_back(f.instructions[o].type);
    }
    PW_RETURN_IF_ERROR(VerifyRegions(f, inst, depth));
    PW_RETURN_IF_ERROR(CheckTupleUse(f, inst));
    absl::StatusOr<TensorType> t = InferResultType(inst.op, operand_types, inst.attrs, f.num_shards);
    if (!t.ok()) {
      std::string operands;
      for (size_t k = 0; k < inst.operands.size(); ++k) {
        absl::StrAppend(&operands, k > 0 ? ", " : "", "%", inst.operands[k], " ",
                        operand_types[k].DebugString());
      }
      return fail(inst.DebugName(), "(", operands, "): ", t.status().message());
    }
    if (!(*t == inst.type)) {
      return fail(inst.DebugName(), ": declared type ", inst.type.DebugString(),
                  " differs from inferred type ", t->DebugString());
    }
    if (inst.op == OpCode::kParameter) ++num_params;
  }
  if (static_cast<int64_t>(f.parameters.size()) != num_params) {
    return fail("lists ", f.parameters.size(), " parameters but has ", num_params,
                " parameter instructions");
  }
  for (size_t k = 0; k < f.parameters.size(); ++k) {
    int64_t id = f.parameters[k];
    if (id < 0 || id >= n || f.instructions[id].op != OpCode::kParameter) {
      return fail("parameter ", k, " refers to %", id, ", which is not a parameter instruction");
    }
    if (f.instructions[id].attrs.index != static_cast<int64_t>(k)) {
      return fail("parameter ", k, " refers to ", f.instructions[id].DebugName(), " with index ",
                  f.instructions[id].attrs.index);
    }
  }
  if (f.outputs.empty()) return fail("has no outputs");
  for (size_t k = 0; k < f.outputs.size(); ++k) {
    if (f.outputs[k] < 0 || f.outputs[k] >= n) {
      return fail("output ", k, " refers to %", f.outputs[k], ", which does not exist");
    }
    if (IsControlFlow(f.instructions[f.outputs[k]].op)) {
      return fail("output ", k, " is the tuple ", f.instructions[f.outputs[k]].DebugName(),
                  "; return its get_result values instead");
    }
  }
  return absl::OkStatus();
}

}  // namespace

}  // namespace pw::ir
