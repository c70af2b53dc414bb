// Opcode names and classification.
#include "pathways/ir/op.h"

#include <array>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "pathways/base/status.h"

namespace pw::ir {
namespace {
struct OpEntry {
  OpCode op;
  const char* name;
};
constexpr std::array kOps = {
    OpEntry{OpCode::kParameter, "parameter"},
    OpEntry{OpCode::kConstant, "constant"},
    OpEntry{OpCode::kIota, "iota"},
    OpEntry{OpCode::kNegate, "negate"},
    OpEntry{OpCode::kExp, "exp"},
    OpEntry{OpCode::kLog, "log"},
    OpEntry{OpCode::kTanh, "tanh"},
    OpEntry{OpCode::kSqrt, "sqrt"},
    OpEntry{OpCode::kRsqrt, "rsqrt"},
    OpEntry{OpCode::kAbs, "abs"},
    OpEntry{OpCode::kSine, "sine"},
    OpEntry{OpCode::kCosine, "cosine"},
    OpEntry{OpCode::kStopGradient, "stop_gradient"},
    OpEntry{OpCode::kAdd, "add"},
    OpEntry{OpCode::kSubtract, "subtract"},
    OpEntry{OpCode::kMultiply, "multiply"},
    OpEntry{OpCode::kDivide, "divide"},
    OpEntry{OpCode::kMaximum, "maximum"},
    OpEntry{OpCode::kMinimum, "minimum"},
    OpEntry{OpCode::kPower, "power"},
    OpEntry{OpCode::kAnd, "and"},
    OpEntry{OpCode::kOr, "or"},
    OpEntry{OpCode::kXor, "xor"},
    OpEntry{OpCode::kShiftLeft, "shift_left"},
    OpEntry{OpCode::kShiftRightLogical, "shift_right_logical"},
    OpEntry{OpCode::kCompare, "compare"},
    OpEntry{OpCode::kSelect, "select"},
    OpEntry{OpCode::kConvert, "convert"},
    OpEntry{OpCode::kBroadcastInDim, "broadcast_in_dim"},
    OpEntry{OpCode::kReshape, "reshape"},
    OpEntry{OpCode::kTranspose, "transpose"},
    OpEntry{OpCode::kSlice, "slice"},
    OpEntry{OpCode::kConcatenate, "concatenate"},
    OpEntry{OpCode::kGather, "gather"},
    OpEntry{OpCode::kScatterAdd, "scatter_add"},
    OpEntry{OpCode::kDotGeneral, "dot_general"},
    OpEntry{OpCode::kReduce, "reduce"},
    OpEntry{OpCode::kAllReduce, "all_reduce"},
    OpEntry{OpCode::kAllGather, "all_gather"},
    OpEntry{OpCode::kReduceScatter, "reduce_scatter"},
    OpEntry{OpCode::kAllToAll, "all_to_all"},
    OpEntry{OpCode::kCollectivePermute, "collective_permute"},
    OpEntry{OpCode::kShardIndex, "shard_index"},
    OpEntry{OpCode::kDynamicSlice, "dynamic_slice"},
    OpEntry{OpCode::kDynamicUpdateSlice, "dynamic_update_slice"},
    OpEntry{OpCode::kCumsum, "cumsum"},
    OpEntry{OpCode::kTopK, "top_k"},
    OpEntry{OpCode::kWhile, "while"},
    OpEntry{OpCode::kCase, "case"},
    OpEntry{OpCode::kGetResult, "get_result"},
};
}  // namespace

const char* OpName(OpCode op) {
  for (const OpEntry& e : kOps) {
    if (e.op == op) return e.name;
  }
  return "invalid";
}

absl::StatusOr<OpCode> ParseOpName(std::string_view name) {
  for (const OpEntry& e : kOps) {
    if (name == e.name) return e.op;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown op '", ToAbsl(name), "'"));
}

bool IsKnownOpCode(uint32_t value) {
  for (const OpEntry& e : kOps) {
    if (static_cast<uint32_t>(e.op) == value) return true;
  }
  return false;
}

// The ranges have gaps for future ops, so a value inside one is an op only if it is known.
bool IsUnaryElementwise(OpCode op) {
  return op >= OpCode::kNegate && op <= OpCode::kStopGradient &&
         IsKnownOpCode(static_cast<uint32_t>(op));
}

bool IsBitwise(OpCode op) {
  switch (op) {
    case OpCode::kAnd:
    case OpCode::kOr:
    case OpCode::kXor:
    case OpCode::kShiftLeft:
    case OpCode::kShiftRightLogical:
      return true;
    default:
      return false;
  }
}

bool IsBinaryElementwise(OpCode op) {
  return (op >= OpCode::kAdd && op <= OpCode::kPower) || IsBitwise(op);
}
bool IsControlFlow(OpCode op) { return op == OpCode::kWhile || op == OpCode::kCase; }

bool IsCollective(OpCode op) {
  return op >= OpCode::kAllReduce && op <= OpCode::kShardIndex &&
         IsKnownOpCode(static_cast<uint32_t>(op));
}

const char* ComparisonName(ComparisonDirection dir) {
  switch (dir) {
    case ComparisonDirection::kEq: return "EQ";
    case ComparisonDirection::kNe: return "NE";
    case ComparisonDirection::kLt: return "LT";
    case ComparisonDirection::kLe: return "LE";
    case ComparisonDirection::kGt: return "GT";
    case ComparisonDirection::kGe: return "GE";
  }
  return "invalid";
}

const char* ReduceKindName(ReduceKind kind) {
  switch (kind) {
    case ReduceKind::kSum: return "sum";
    case ReduceKind::kMax: return "max";
    case ReduceKind::kMin: return "min";
  }
  return "invalid";
}

std::ostream& operator<<(std::ostream& os, OpCode op) { return os << OpName(op); }

}  // namespace pw::ir
