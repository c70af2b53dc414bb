// Function accessors and the verifier.
#include "pathways/ir/function.h"

#include "absl/strings/str_cat.h"
#include "pathways/base/status.h"
#include "pathways/ir/shape_inference.h"

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

bool Function::HasCollectives() const {
  for (const Instruction& inst : instructions) {
    if (IsCollective(inst.op)) return true;
  }
  return false;
}

absl::Status Verify(const Function& f) {
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
  }
  return absl::OkStatus();
}

}  // namespace pw::ir
