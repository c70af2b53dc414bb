// FunctionBuilder: builds a verified Function op by op, inferring every result type.
#ifndef PATHWAYS_IR_BUILDER_H_
#define PATHWAYS_IR_BUILDER_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pathways/ir/function.h"
#include "pathways/ir/literal.h"
#include "pathways/ir/op.h"
#include "pathways/ir/shape.h"

namespace pw::ir {

class FunctionBuilder;

// A handle to a value under construction. Invalid after an error (ops on it stay invalid).
class Value {
 public:
  Value() = default;
  bool valid() const { return id_ >= 0; }
  int64_t id() const { return id_; }

 private:
  friend class FunctionBuilder;
  Value(const FunctionBuilder* builder, int64_t id) : builder_(builder), id_(id) {}
  const FunctionBuilder* builder_ = nullptr;
  int64_t id_ = -1;
};

struct FunctionOptions {
  // Gang size the function is compiled for (see Function::num_shards).
  int64_t num_shards = 1;
};

// Builds one Function. Like XlaBuilder, errors are sticky: the first one is kept (status()),
// later ops return invalid Values, and Build() returns it. Error messages name the function,
// the op and its operands with their types. Not thread-safe.
class FunctionBuilder {
 public:
  explicit FunctionBuilder(std::string name, FunctionOptions options = {});
  FunctionBuilder(const FunctionBuilder&) = delete;
  FunctionBuilder& operator=(const FunctionBuilder&) = delete;

  // Parameters get indices 0, 1, ... in call order.
  Value Parameter(TensorType type, std::string name = "");
  Value Constant(Literal literal);
  template <typename T>
  Value ConstantScalar(T value) {
    return Constant(Literal::Scalar<T>(value));
  }
  // A scalar constant of `dtype` holding `value` (converted).
  Value ScalarLike(DType dtype, double value);
  Value Iota(TensorType type, int64_t axis);

  Value Unary(OpCode op, Value x);
  Value Negate(Value x) { return Unary(OpCode::kNegate, x); }
  Value Exp(Value x) { return Unary(OpCode::kExp, x); }
  Value Log(Value x) { return Unary(OpCode::kLog, x); }
  Value Tanh(Value x) { return Unary(OpCode::kTanh, x); }
  Value Sqrt(Value x) { return Unary(OpCode::kSqrt, x); }
  Value Rsqrt(Value x) { return Unary(OpCode::kRsqrt, x); }
  Value Abs(Value x) { return Unary(OpCode::kAbs, x); }
  Value Sine(Value x) { return Unary(OpCode::kSine, x); }
  Value Cosine(Value x) { return Unary(OpCode::kCosine, x); }
  Value StopGradient(Value x) { return Unary(OpCode::kStopGradient, x); }

  // Binary elementwise ops broadcast their operands numpy-style (inserting broadcast_in_dim);
  // dtypes must match exactly.
  Value Binary(OpCode op, Value a, Value b);
  Value Add(Value a, Value b) { return Binary(OpCode::kAdd, a, b); }
  Value Subtract(Value a, Value b) { return Binary(OpCode::kSubtract, a, b); }
  Value Multiply(Value a, Value b) { return Binary(OpCode::kMultiply, a, b); }
  Value Divide(Value a, Value b) { return Binary(OpCode::kDivide, a, b); }
  Value Maximum(Value a, Value b) { return Binary(OpCode::kMaximum, a, b); }
  Value Minimum(Value a, Value b) { return Binary(OpCode::kMinimum, a, b); }
  Value Power(Value a, Value b) { return Binary(OpCode::kPower, a, b); }
  // Bitwise ops on i32 words (see OpCode::kAnd).
  Value And(Value a, Value b) { return Binary(OpCode::kAnd, a, b); }
  Value Or(Value a, Value b) { return Binary(OpCode::kOr, a, b); }
  Value Xor(Value a, Value b) { return Binary(OpCode::kXor, a, b); }
  Value ShiftLeft(Value a, Value b) { return Binary(OpCode::kShiftLeft, a, b); }
  Value ShiftRightLogical(Value a, Value b) { return Binary(OpCode::kShiftRightLogical, a, b); }
  Value Compare(Value a, Value b, ComparisonDirection direction);
  // Broadcasts all three operands to a common shape.
  Value Select(Value pred, Value on_true, Value on_false);
  Value Convert(Value x, DType to);

  Value BroadcastInDim(Value x, Shape shape, std::vector<int64_t> broadcast_dimensions);
  // Numpy-style broadcast of x to `shape`.
  Value BroadcastTo(Value x, Shape shape);
  Value Reshape(Value x, Shape shape);
  Value Transpose(Value x, std::vector<int64_t> permutation);
  // Empty `strides` means all 1.
  Value Slice(Value x, std::vector<int64_t> starts, std::vector<int64_t> limits,
              std::vector<int64_t> strides = {});
  Value Concatenate(absl::Span<const Value> xs, int64_t axis);
  // Takes slices of `operand` along `axis` at i32 `indices` (jnp.take; an embedding lookup).
  // Out-of-range indices are clamped to [0, dim - 1], as XLA's gather does.
  Value Gather(Value operand, Value indices, int64_t axis);
  // Gather's transpose: `operand` with the slices of `updates` added at i32 `indices` along
  // `axis` (repeated indices accumulate). `updates` has the shape Gather(operand, indices, axis)
  // has and operand's dtype (numeric); out-of-range indices are clamped as Gather clamps them.
  Value ScatterAdd(Value operand, Value indices, Value updates, int64_t axis);
  // The block of shape `sizes` of `operand` at scalar i32 `starts` (one per dim), each start
  // clamped to [0, dim - size] as XLA clamps it (lax.dynamic_slice).
  Value DynamicSlice(Value operand, absl::Span<const Value> starts, std::vector<int64_t> sizes);
  // `operand` with its block at `starts` (clamped as DynamicSlice's) replaced by `update`.
  Value DynamicUpdateSlice(Value operand, Value update, absl::Span<const Value> starts);
  // Inclusive running sum along `axis` (from the end when `reverse`).
  Value Cumsum(Value x, int64_t axis, bool reverse = false);
  // The i32 indices of the k largest elements along the last axis, largest first, ties to the
  // lower index (the top_k op).
  Value TopKIndices(Value x, int64_t k);
  // lax.top_k: {values, indices}. The values are x at the indices, taken with a one-hot select
  // and sum over the last axis (O(n k) per row: meant for routing over few experts), so they
  // differentiate as x's elements do.
  std::pair<Value, Value> TopK(Value x, int64_t k);
  Value DotGeneral(Value lhs, Value rhs, DotDimensionNumbers dimension_numbers);
  // numpy.matmul for rank-1 and rank-2 operands, and batched for equal-rank > 2.
  Value Dot(Value lhs, Value rhs);
  // `axes` in any order (stored ascending).
  Value Reduce(Value x, std::vector<int64_t> axes, ReduceKind kind);

  // Collectives among every shard of the gang, or within each of `groups` (Attributes::groups;
  // MeshAxisGroups gives a mesh axis's groups).
  Value AllReduce(Value x, ReduceKind kind, ShardGroups groups = {});
  Value AllGather(Value x, int64_t axis, ShardGroups groups = {});
  Value ReduceScatter(Value x, int64_t axis, ReduceKind kind, ShardGroups groups = {});
  Value AllToAll(Value x, int64_t split_axis, int64_t concat_axis, ShardGroups groups = {});
  Value CollectivePermute(Value x, std::vector<std::pair<int64_t, int64_t>> source_target_pairs);
  Value ShardIndex();

  // Control flow. Each returns the op's results (get_result of its tuple), or invalid values
  // (as many as it would return, or none if that is unknown) after an error.
  // stablehlo.while: runs `body` while `cond` holds on the carried values, from `init`, at most
  // `max_iterations` times (>= 1).
  std::vector<Value> While(Function cond, Function body, absl::Span<const Value> init,
                           int64_t max_iterations);
  // stablehlo.case: runs branches[index] (the last for an index out of range) on `operands`;
  // every branch returns the same types.
  std::vector<Value> Case(Value index, std::vector<Function> branches,
                          absl::Span<const Value> operands);
  // Result `i` of a while or case's tuple.
  Value GetResult(Value tuple, int64_t i, TensorType type);

  // Adds any op with explicit attributes; all the helpers above end here.
  Value AddInstruction(OpCode op, absl::Span<const Value> operands, Attributes attrs,
                       std::string name = "");

  // Named scopes: instructions added until the matching PopScope carry the scope path (the
  // enclosing names joined by '/', see Instruction::scope). A name is non-empty without '/'.
  void PushScope(std::string_view name);
  void PopScope();
  const std::string& scope() const { return scope_; }
  // The scope path an added instruction carries: callers that emit instructions on behalf of
  // others (autodiff) set it directly, then restore it.
  void set_scope(std::string scope) { scope_ = std::move(scope); }

  // Type of a valid value of this builder; an invalid TensorType otherwise.
  const TensorType& TypeOf(Value v) const;
  const absl::Status& status() const { return status_; }
  int64_t num_shards() const { return function_.num_shards; }

  // Returns the function computing `outputs`, or the first error. The builder may not be used
  // afterwards.
  absl::StatusOr<Function> Build(absl::Span<const Value> outputs);

 private:
  bool CheckOperand(Value v, std::string_view op, size_t index);
  void Fail(absl::Status status);
  std::string OperandList(absl::Span<const Value> operands) const;

  Function function_;
  int64_t next_parameter_ = 0;
  absl::Status status_;
  bool built_ = false;
  std::string scope_;
  std::vector<size_t> scope_lengths_;  // scope_'s length before each open PushScope
};

}  // namespace pw::ir

#endif  // PATHWAYS_IR_BUILDER_H_
