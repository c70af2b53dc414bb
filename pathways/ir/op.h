// Operations of the compiled-function IR: opcodes (named as in StableHLO) and their attributes.
#ifndef PATHWAYS_IR_OP_H_
#define PATHWAYS_IR_OP_H_

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "pathways/ir/literal.h"
#include "pathways/ir/shape.h"

namespace pw::ir {

// Values are stable: they are the wire encoding (ir.proto stores them as integers).
enum class OpCode : uint16_t {
  kInvalid = 0,
  // Leaves.
  kParameter = 1,
  kConstant = 2,
  kIota = 3,
  // Unary elementwise.
  kNegate = 10,
  kExp = 11,
  kLog = 12,
  kTanh = 13,
  kSqrt = 14,
  kRsqrt = 15,
  kAbs = 16,
  kSine = 17,
  kCosine = 18,
  // The identity, to which reverse-mode differentiation sends no cotangent (jax.lax.stop_gradient).
  kStopGradient = 19,
  // Binary elementwise.
  kAdd = 30,
  kSubtract = 31,
  kMultiply = 32,
  kDivide = 33,
  kMaximum = 34,
  kMinimum = 35,
  kPower = 36,
  // Bitwise, on i32 (as 32-bit words: shifts are logical, out-of-range shifts give 0).
  kAnd = 37,
  kOr = 38,
  kXor = 39,
  kCompare = 40,
  kSelect = 41,
  kConvert = 42,
  kShiftLeft = 43,
  kShiftRightLogical = 44,
  // Data movement.
  kBroadcastInDim = 50,
  kReshape = 51,
  kTranspose = 52,
  kSlice = 53,
  kConcatenate = 54,
  kGather = 55,
  kScatterAdd = 56,
  // Contractions and reductions.
  kDotGeneral = 60,
  kReduce = 61,
  // Collectives among the shards of the gang running the function.
  kAllReduce = 80,
  kAllGather = 81,
  kReduceScatter = 82,
  kAllToAll = 83,
  kCollectivePermute = 84,
  kShardIndex = 85,
  // Indexing, scans and selection (stacked layers, routing).
  kDynamicSlice = 86,
  kDynamicUpdateSlice = 87,
  kCumsum = 88,
  kTopK = 89,
  // Control flow (nested functions in Attributes::regions; results through get_result).
  kWhile = 90,
  kCase = 91,
  kGetResult = 92,
};

// StableHLO-style name, e.g. "dot_general"; "invalid" for unknown values.
const char* OpName(OpCode op);
absl::StatusOr<OpCode> ParseOpName(std::string_view name);
bool IsKnownOpCode(uint32_t value);
bool IsUnaryElementwise(OpCode op);
bool IsBinaryElementwise(OpCode op);  // add ... power and the bitwise ops (not compare)
bool IsBitwise(OpCode op);            // and, or, xor, shift_left, shift_right_logical
bool IsCollective(OpCode op);         // all_reduce ... shard_index
bool IsControlFlow(OpCode op);        // while, case: their result is a tuple (see below)
std::ostream& operator<<(std::ostream& os, OpCode op);  // OpName()

enum class ComparisonDirection : uint8_t { kEq = 0, kNe = 1, kLt = 2, kLe = 3, kGt = 4, kGe = 5 };
const char* ComparisonName(ComparisonDirection dir);  // "EQ", "NE", ...

// Reductions used by reduce, all_reduce and reduce_scatter.
enum class ReduceKind : uint8_t { kSum = 0, kMax = 1, kMin = 2 };
const char* ReduceKindName(ReduceKind kind);  // "sum", "max", "min"

// Shard groups of a collective (Attributes::groups).
using ShardGroups = std::vector<std::vector<int64_t>>;

struct Function;

// The nested functions of a control-flow op: while's {cond, body}, case's branches. Shared and
// immutable once built (copying an instruction copies pointers); equality compares the
// functions themselves.
struct Regions {
  std::vector<std::shared_ptr<const Function>> functions;

  size_t size() const { return functions.size(); }
  bool empty() const { return functions.empty(); }
  const Function& operator[](size_t i) const { return *functions[i]; }
  friend bool operator==(const Regions& a, const Regions& b);  // function.cc
};

struct DotDimensionNumbers {
  std::vector<int64_t> lhs_batch;
  std::vector<int64_t> rhs_batch;
  std::vector<int64_t> lhs_contracting;
  std::vector<int64_t> rhs_contracting;
  friend bool operator==(const DotDimensionNumbers&, const DotDimensionNumbers&) = default;
};

// Attributes of one instruction. Each op reads only the fields listed for it:
//   parameter:          index, type
//   constant:           literal
//   iota:               type, axis
//   compare:            comparison
//   convert:            dtype (the target)
//   broadcast_in_dim:   type.shape (the result shape), dims (operand dim i -> result dim dims[i])
//   reshape:            type.shape (the result shape)
//   transpose:          dims (the permutation: result dim i is operand dim dims[i])
//   slice:              starts, limits, strides
//   concatenate, gather: axis
//   scatter_add:        axis. Operands (operand, indices i32, updates), updates shaped as
//                       gather(operand, indices, axis) is; the result is operand with
//                       updates[..., p, ...] added into row indices[p] of `axis` for every
//                       index position p (repeated indices accumulate). Out-of-range indices
//                       are clamped to [0, dim - 1] as gather clamps them, so that
//                       scatter_add(zeros, i, u, axis) is exactly gather's transpose; into an
//                       empty axis nothing is added. Numeric dtypes only (i32 wraps).
//   dot_general:        dot
//   reduce:             dims (the reduced axes, ascending), reduce_kind
//   all_reduce:         reduce_kind
//   all_gather:         axis
//   reduce_scatter:     axis, reduce_kind
//   all_to_all:         split_axis, concat_axis
//   collective_permute: pairs (source shard, target shard); targets without a source get zeros
//   dynamic_slice:      dims (the slice sizes, one per operand dim). Operands (operand, one
//                       scalar i32 start per operand dim); the result is operand's block of
//                       shape `dims` at the starts, each start clamped to [0, dim - size] as
//                       XLA clamps it, so the block is always in bounds.
//   dynamic_update_slice: no attributes. Operands (operand, update, one scalar i32 start per
//                       operand dim); update has operand's dtype and rank and fits inside it;
//                       the result is operand with the block at the (clamped, as
//                       dynamic_slice's) starts replaced by update.
//   cumsum:             axis, reverse. The inclusive running sum along `axis` (from the end
//                       when `reverse`), of a numeric operand (i32 wraps).
//   top_k:              k. The i32 indices [..., k] of the k largest elements along the last
//                       axis of a numeric operand [..., n] (1 <= k <= n), largest first; ties go
//                       to the lower index and NaN counts as larger than any number. The values
//                       are FunctionBuilder::TopK's gather of them (the single-result IR has no
//                       pair results); indices have no derivative.
//   while:              regions {cond, body}, max_iterations (required, >= 1). Operands: the
//                       initial carried values. cond maps the carried values to a bool[]
//                       scalar, body maps them to new carried values of the same types. The
//                       loop runs body while cond holds, at most max_iterations times (early
//                       exit when cond is false; after max_iterations the loop stops whatever
//                       cond says), and its results are the final carried values.
//   case:               regions (the branches, at least one). Operands (index: i32 scalar, then
//                       the branches' operands); every branch takes those operands and returns
//                       results of the same types. Branch `index` runs; an index out of range
//                       runs the last branch (StableHLO's rule).
//   get_result:         index, type. Result `index` (of type `type`) of its operand, a while or
//                       case.
//   while and case produce a *tuple*: one value holding all their results, typed
//   TupleType(result types) (ir/tuple.h). Only get_result may use it. A loop or branch whose
//   regions have collectives needs a predicate/index equal on every shard (compute it from a
//   replicated value); the executable checks that at run time on every shard, and all shards
//   fail together with FAILED_PRECONDITION if it differs, instead of deadlocking.
//   all_reduce, all_gather, reduce_scatter, all_to_all also read `groups`: the shards that
//   communicate, as a partition of [0, num_shards) into groups of one size (StableHLO's
//   replica_groups; a mesh axis's groups come from MeshAxisGroups in ir/mesh.h). Empty: one
//   group of every shard. The op's shard count (gathered dims, scattered dims) is the group
//   size, and block i of the group's layout is the group's i-th shard as listed.
struct Attributes {
  int64_t index = 0;
  TensorType type;
  std::optional<Literal> literal;
  int64_t axis = 0;
  int64_t split_axis = 0;
  int64_t concat_axis = 0;
  DType dtype = DType::kInvalid;
  ComparisonDirection comparison = ComparisonDirection::kEq;
  ReduceKind reduce_kind = ReduceKind::kSum;
  std::vector<int64_t> dims;
  std::vector<int64_t> starts;
  std::vector<int64_t> limits;
  std::vector<int64_t> strides;
  DotDimensionNumbers dot;
  std::vector<std::pair<int64_t, int64_t>> pairs;
  ShardGroups groups;
  bool reverse = false;
  int64_t k = 0;
  Regions regions;
  int64_t max_iterations = 0;
  friend bool operator==(const Attributes&, const Attributes&) = default;
};

}  // namespace pw::ir

#endif  // PATHWAYS_IR_OP_H_
