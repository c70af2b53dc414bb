// InlineFunction: copies a function's live instructions into a builder, remapping operands.
#include "pathways/ir/inline_function.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace pw::ir {

absl::StatusOr<std::vector<Value>> InlineFunction(FunctionBuilder& b, const Function& f,
                                                  absl::Span<const Value> args,
                                                  const EmitInstruction& emit) {
  const std::string where = absl::StrCat("inlining '", f.name, "'");
  if (args.size() != f.parameters.size()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", args.size(), " argument(s) for ",
                                                   f.parameters.size(), " parameter(s)"));
  }
  if (f.num_shards != b.num_shards()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": it is compiled for a gang of ",
                                                   f.num_shards, ", the caller for ", b.num_shards()));
  }
  std::vector<Value> values(f.instructions.size());
  for (size_t i = 0; i < args.size(); ++i) {
    const TensorType& want = f.instruction(f.parameters[i]).type;
    const TensorType& got = b.TypeOf(args[i]);
    if (!args[i].valid() || !(got == want)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": argument ", i, " is ",
                                                     got.DebugString(), ", the parameter ",
                                                     want.DebugString()));
    }
    values[f.parameters[i]] = args[i];
  }
  const std::vector<bool> live = f.live_instructions();
  std::vector<Value> operands;
  const std::string outer = b.scope();
  for (const Instruction& inst : f.instructions) {
    if (inst.op == OpCode::kParameter || !live[inst.id]) continue;
    operands.clear();
    for (int64_t o : inst.operands) operands.push_back(values[o]);
    b.set_scope(JoinScopes(outer, inst.scope));
    if (emit) {
      absl::StatusOr<Value> v = emit(inst, operands);
      if (!v.ok()) {
        b.set_scope(outer);
        return v.status();
      }
      values[inst.id] = *v;
    } else {
      values[inst.id] = b.AddInstruction(inst.op, operands, inst.attrs, inst.name);
    }
  }
  b.set_scope(outer);
  if (!b.status().ok()) return b.status();
  return values;
}

std::string JoinScopes(std::string_view outer, std::string_view inner) {
  if (outer.empty()) return std::string(inner);
  if (inner.empty()) return std::string(outer);
  std::string joined = absl::StrCat(std::string(outer), "/", std::string(inner));
  // Deep nesting is cut at the limit instead of failing: the scope only names trace events.
  if (static_cast<int64_t>(joined.size()) > kMaxScopeLength) joined.resize(kMaxScopeLength);
  return joined;
}

std::vector<Value> OutputsOf(const Function& f, const std::vector<Value>& values) {
  std::vector<Value> out;
  out.reserve(f.outputs.size());
  for (int64_t id : f.outputs) out.push_back(values[id]);
  return out;
}

}  // namespace pw::ir
