// Readable text form of a Function, for debugging and error messages.
#include <ostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "pathways/base/status.h"
#include "pathways/ir/function.h"

namespace pw::ir {
namespace {

std::string List(const std::vector<int64_t>& v) { return absl::StrCat("[", absl::StrJoin(v, ","), "]"); }
// " groups=[[0,1],[2,3]]", or "" for the whole gang.
std::string Groups(const Attributes& a) {
  if (a.groups.empty()) return "";
  std::vector<std::string> g;
  for (const auto& group : a.groups) g.push_back(List(group));
  return absl::StrCat(" groups=[", absl::StrJoin(g, ","), "]");
}

std::string AttributeText(const Instruction& inst) {
  const Attributes& a = inst.attrs;
  switch (inst.op) {
    case OpCode::kParameter: return absl::StrCat("index=", a.index);
    case OpCode::kConstant: return a.literal ? a.literal->DebugString(8) : "<missing>";
    case OpCode::kIota: return absl::StrCat("axis=", a.axis);
    case OpCode::kCompare: return absl::StrCat("direction=", ComparisonName(a.comparison));
    case OpCode::kBroadcastInDim:
    case OpCode::kTranspose: return absl::StrCat("dims=", List(a.dims));
    case OpCode::kSlice:
      return absl::StrCat("starts=", List(a.starts), " limits=", List(a.limits),
                          " strides=", List(a.strides));
    case OpCode::kConcatenate:
    case OpCode::kGather:
    case OpCode::kScatterAdd:
    case OpCode::kAllGather: return absl::StrCat("axis=", a.axis, Groups(a));
    case OpCode::kDotGeneral:
      return absl::StrCat("lhs_batch=", List(a.dot.lhs_batch), " rhs_batch=", List(a.dot.rhs_batch),
                          " lhs_contracting=", List(a.dot.lhs_contracting),
                          " rhs_contracting=", List(a.dot.rhs_contracting));
    case OpCode::kReduce:
      return absl::StrCat("axes=", List(a.dims), " kind=", ReduceKindName(a.reduce_kind));
    case OpCode::kAllReduce: return absl::StrCat("kind=", ReduceKindName(a.reduce_kind), Groups(a));
    case OpCode::kReduceScatter:
      return absl::StrCat("axis=", a.axis, " kind=", ReduceKindName(a.reduce_kind), Groups(a));
    case OpCode::kAllToAll:
      return absl::StrCat("split_axis=", a.split_axis, " concat_axis=", a.concat_axis, Groups(a));
    case OpCode::kDynamicSlice: return absl::StrCat("sizes=", List(a.dims));
    case OpCode::kCumsum: return absl::StrCat("axis=", a.axis, a.reverse ? " reverse" : "");
    case OpCode::kTopK: return absl::StrCat("k=", a.k);
    case OpCode::kWhile: return absl::StrCat("max_iterations=", a.max_iterations);
    case OpCode::kGetResult: return absl::StrCat("index=", a.index);
    case OpCode::kCollectivePermute: {
      std::vector<std::string> p;
      for (const auto& [s, t] : a.pairs) p.push_back(absl::StrCat("(", s, ",", t, ")"));
      return absl::StrCat("pairs=[", absl::StrJoin(p, ","), "]");
    }
    default: return "";
  }
}

}  // namespace

std::string Function::ToString() const {
  std::vector<std::string> params;
  for (int64_t id : parameters) {
    if (id >= 0 && id < static_cast<int64_t>(instructions.size())) {
      params.push_back(absl::StrCat("%", id, ": ", instructions[id].type.DebugString()));
    }
  }
  std::vector<std::string> outs;
  for (int64_t id : outputs) {
    if (id >= 0 && id < static_cast<int64_t>(instructions.size())) {
      outs.push_back(instructions[id].type.DebugString());
    }
  }
  std::string out = absl::StrCat("func @", name, "(", absl::StrJoin(params, ", "), ") -> (",
                                 absl::StrJoin(outs, ", "), ")");
  if (num_shards != 1) absl::StrAppend(&out, " num_shards=", num_shards);
  out += " {\n";
  for (const Instruction& inst : instructions) {
    if (inst.op == OpCode::kParameter) continue;
    std::vector<std::string> ops;
    for (int64_t o : inst.operands) ops.push_back(absl::StrCat("%", o));
    absl::StrAppend(&out, "  %", inst.id, " = ", OpName(inst.op), "(", absl::StrJoin(ops, ", "), ")");
    std::string attrs = AttributeText(inst);
    if (!attrs.empty()) absl::StrAppend(&out, " {", attrs, "}");
    absl::StrAppend(&out, " : ", inst.type.DebugString());
    if (!inst.name.empty()) absl::StrAppend(&out, "  // ", inst.name);
    out += "\n";
    // Regions follow their op, indented.
    for (const auto& region : inst.attrs.regions.functions) {
      const std::string text = region ? region->ToString() : std::string("<missing region>\n");
      for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
        absl::StrAppend(&out, "    ", line, "\n");
      }
    }
  }
  std::vector<std::string> rets;
  for (int64_t id : outputs) rets.push_back(absl::StrCat("%", id));
  absl::StrAppend(&out, "  return ", absl::StrJoin(rets, ", "), "\n}\n");
  return out;
}

std::ostream& operator<<(std::ostream& os, const Function& function) {
  return os << function.ToString();
}

}  // namespace pw::ir
