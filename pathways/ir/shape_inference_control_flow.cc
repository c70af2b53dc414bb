// Shape inference of the control-flow ops: while, case and get_result.
#include <string>

#include "absl/strings/str_cat.h"
#include "pathways/ir/function.h"
#include "pathways/ir/shape_inference_internal.h"
#include "pathways/ir/tuple.h"

namespace pw::ir::internal {
namespace {

std::string TypeList(absl::Span<const TensorType> types) {
  std::string s = "(";
  for (size_t i = 0; i < types.size(); ++i)
    absl::StrAppend(&s, i ? ", " : "", types[i].DebugString());
  return s + ")";
}

// Region `i` exists, runs on the same gang and takes `params`.
absl::Status CheckRegion(const Attributes& a, size_t i, std::string_view role,
                         absl::Span<const TensorType> params, int64_t num_shards) {
  if (a.regions.functions[i] == nullptr) return Invalid(ToAbsl(role), " is missing");
  const Function& f = a.regions[i];
  if (f.num_shards != num_shards) {
    return Invalid(ToAbsl(role), " '", f.name, "' runs on ", f.num_shards,
                   " shard(s), the enclosing function on ", num_shards);
  }
  const std::vector<TensorType> got = f.parameter_types();
  if (got != std::vector<TensorType>(params.begin(), params.end())) {
    return Invalid(ToAbsl(role), " '", f.name, "' takes ", TypeList(got), " but is given ",
                   TypeList(params));
  }
  return absl::OkStatus();
}

absl::StatusOr<TensorType> InferWhile(absl::Span<const TensorType> in, const Attributes& a,
                                      int64_t num_shards) {
  if (a.max_iterations < 1) {
    return Invalid("a while loop needs a bound: max_iterations must be at least 1, got ",
                   a.max_iterations);
  }
  if (a.regions.size() != 2) {
    return Invalid("expects 2 regions (cond, body), got ", a.regions.size());
  }
  PW_RETURN_IF_ERROR(CheckRegion(a, 0, "cond", in, num_shards));
  PW_RETURN_IF_ERROR(CheckRegion(a, 1, "body", in, num_shards));
  const std::vector<TensorType> pred = a.regions[0].output_types();
  if (pred.size() != 1 || !(pred[0] == TensorType{DType::kBool, Shape{}})) {
    return Invalid("cond '", a.regions[0].name, "' must return one bool[] scalar, returns ",
                   TypeList(pred));
  }
  const std::vector<TensorType> next = a.regions[1].output_types();
  if (next.size() != in.size()) {
    return Invalid("body '", a.regions[1].name, "' returns ", next.size(), " value(s) for ",
                   in.size(), " carried value(s)");
  }
  for (size_t i = 0; i < in.size(); ++i) {
    if (!(next[i] == in[i])) {
      return Invalid("body '", a.regions[1].name, "' changes carried value ", i, " from ",
                     in[i].DebugString(), " to ", next[i].DebugString());
    }
  }
  return TupleType(in);
}

absl::StatusOr<TensorType> InferCase(absl::Span<const TensorType> in, const Attributes& a,
                                     int64_t num_shards) {
  if (in.empty() || !(in[0] == TensorType{DType::kI32, Shape{}})) {
    return Invalid("operand 0 (the branch index) must be i32[], got ",
                   in.empty() ? std::string("nothing") : in[0].DebugString());
  }
  if (a.regions.empty()) return Invalid("needs at least one branch");
  const absl::Span<const TensorType> operands = in.subspan(1);
  std::vector<TensorType> first;
  for (size_t i = 0; i < a.regions.size(); ++i) {
    const std::string role = absl::StrCat("branch ", i);
    PW_RETURN_IF_ERROR(CheckRegion(a, i, role, operands, num_shards));
    const std::vector<TensorType> out = a.regions[i].output_types();
    if (i == 0) {
      first = out;
    } else if (out != first) {
      return Invalid("branch ", i, " '", a.regions[i].name, "' returns ", TypeList(out),
                     " but branch 0 '", a.regions[0].name, "' returns ", TypeList(first),
                     ": every branch must return the same types");
    }
  }
  return TupleType(first);
}

}  // namespace

absl::StatusOr<TensorType> InferControlFlow(OpCode op, absl::Span<const TensorType> in,
                                            const Attributes& a, int64_t num_shards) {
  switch (op) {
    case OpCode::kWhile:
      return InferWhile(in, a, num_shards);
    case OpCode::kCase:
      return InferCase(in, a, num_shards);
    case OpCode::kGetResult:
      // The operand's result types are known only to Verify (which checks index and type).
      PW_RETURN_IF_ERROR(CheckArity(in, 1));
      if (!a.type.IsValid()) return Invalid("result type ", a.type.DebugString(), " is invalid");
      return a.type;
    default:
      return Invalid("unknown op code ", static_cast<int>(op));
  }
}

}  // namespace pw::ir::internal
