// FunctionBuilder.
#include "pathways/ir/builder.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pathways/base/status.h"
#include "pathways/ir/shape_inference.h"

namespace pw::ir {
namespace {
const TensorType& InvalidType() {
  static const TensorType* t = new TensorType();
  return *t;
}
}  // namespace

FunctionBuilder::FunctionBuilder(std::string name, FunctionOptions options) {
  function_.name = std::move(name);
  function_.num_shards = options.num_shards;
  if (options.num_shards < 1 || options.num_shards > kMaxShards) {
    Fail(absl::InvalidArgumentError(absl::StrCat("num_shards must be in [1, ", kMaxShards,
                                                 "], got ", options.num_shards)));
  }
}

void FunctionBuilder::Fail(absl::Status status) {
  if (status_.ok()) {
    status_ = absl::Status(status.code(),
                           absl::StrCat("function '", function_.name, "': ", status.message()));
  }
}

const TensorType& FunctionBuilder::TypeOf(Value v) const {
  if (v.builder_ != this || !v.valid() || v.id_ >= static_cast<int64_t>(function_.instructions.size())) {
    return InvalidType();
  }
  return function_.instructions[v.id_].type;
}

bool FunctionBuilder::CheckOperand(Value v, std::string_view op, size_t index) {
  if (!status_.ok()) return false;
  if (v.builder_ != nullptr && v.builder_ != this) {
    Fail(absl::InvalidArgumentError(absl::StrCat(ToAbsl(op), ": operand ", index,
                                                 " belongs to another function builder")));
    return false;
  }
  if (!v.valid() || v.id_ >= static_cast<int64_t>(function_.instructions.size())) {
    Fail(absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(op), ": operand ", index, " is not a valid value")));
    return false;
  }
  return true;
}

std::string FunctionBuilder::OperandList(absl::Span<const Value> operands) const {
  std::vector<std::string> parts;
  for (Value v : operands) {
    parts.push_back(absl::StrCat("%", v.id_, " ", TypeOf(v).DebugString()));
  }
  return absl::StrJoin(parts, ", ");
}

Value FunctionBuilder::AddInstruction(OpCode op, absl::Span<const Value> operands, Attributes attrs,
                                      std::string name) {
  if (built_) {
    Fail(absl::FailedPreconditionError("builder used after Build()"));
    return Value();
  }
  for (size_t i = 0; i < operands.size(); ++i) {
    if (!CheckOperand(operands[i], OpName(op), i)) return Value();
  }
  if (!status_.ok()) return Value();
  std::vector<TensorType> types;
  types.reserve(operands.size());
  for (Value v : operands) types.push_back(TypeOf(v));
  absl::StatusOr<TensorType> type = InferResultType(op, types, attrs, function_.num_shards);
  if (!type.ok()) {
    Fail(absl::InvalidArgumentError(absl::StrCat(OpName(op), "(", OperandList(operands),
                                                 "): ", type.status().message())));
    return Value();
  }
  Instruction inst;
  inst.id = static_cast<int64_t>(function_.instructions.size());
  inst.op = op;
  for (Value v : operands) inst.operands.push_back(v.id_);
  inst.type = *std::move(type);
  inst.attrs = std::move(attrs);
  inst.name = std::move(name);
  inst.scope = scope_;
  function_.instructions.push_back(std::move(inst));
  return Value(this, function_.instructions.back().id);
}

void FunctionBuilder::PushScope(std::string_view name) {
  if (name.empty() || name.find('/') != std::string_view::npos) {
    Fail(absl::InvalidArgumentError(absl::StrCat("named scope \"", std::string(name),
                                                 "\": a scope name is non-empty and has no '/'")));
    return;
  }
  scope_lengths_.push_back(scope_.size());
  scope_ = scope_.empty() ? std::string(name) : absl::StrCat(scope_, "/", std::string(name));
  if (static_cast<int64_t>(scope_.size()) > kMaxScopeLength) {
    Fail(absl::InvalidArgumentError(absl::StrCat("named scope path of ", scope_.size(),
                                                 " bytes (at most ", kMaxScopeLength, ")")));
  }
}

void FunctionBuilder::PopScope() {
  if (scope_lengths_.empty()) {
    Fail(absl::FailedPreconditionError("PopScope without a matching PushScope"));
    return;
  }
  scope_.resize(scope_lengths_.back());
  scope_lengths_.pop_back();
}

Value FunctionBuilder::Parameter(TensorType type, std::string name) {
  Attributes a;
  a.index = next_parameter_;
  a.type = std::move(type);
  Value v = AddInstruction(OpCode::kParameter, {}, std::move(a), std::move(name));
  if (v.valid()) {
    ++next_parameter_;
    function_.parameters.push_back(v.id_);
  }
  return v;
}

Value FunctionBuilder::Constant(Literal literal) {
  Attributes a;
  a.literal = std::move(literal);
  return AddInstruction(OpCode::kConstant, {}, std::move(a));
}

Value FunctionBuilder::ScalarLike(DType dtype, double value) {
  switch (dtype) {
    case DType::kF32: return ConstantScalar<float>(static_cast<float>(value));
    case DType::kF64: return ConstantScalar<double>(value);
    case DType::kI32: return ConstantScalar<int32_t>(static_cast<int32_t>(value));
    case DType::kBool: return ConstantScalar<bool>(value != 0);
    default:
      Fail(absl::InvalidArgumentError("constant of invalid dtype"));
      return Value();
  }
}

Value FunctionBuilder::Iota(TensorType type, int64_t axis) {
  Attributes a;
  a.type = std::move(type);
  a.axis = axis;
  return AddInstruction(OpCode::kIota, {}, std::move(a));
}

Value FunctionBuilder::Unary(OpCode op, Value x) {
  if (!IsUnaryElementwise(op)) {
    Fail(absl::InvalidArgumentError(absl::StrCat(OpName(op), " is not a unary elementwise op")));
    return Value();
  }
  return AddInstruction(op, {x}, {});
}

Value FunctionBuilder::BroadcastTo(Value x, Shape shape) {
  if (!CheckOperand(x, "broadcast_to", 0)) return Value();
  const Shape& from = TypeOf(x).shape;
  if (from == shape) return x;
  if (from.rank() > shape.rank()) {
    Fail(absl::InvalidArgumentError(absl::StrCat("cannot broadcast %", x.id_, " ",
                                                 TypeOf(x).DebugString(), " to lower rank ",
                                                 shape.DebugString())));
    return Value();
  }
  std::vector<int64_t> dims(from.rank());
  for (int64_t i = 0; i < from.rank(); ++i) dims[i] = shape.rank() - from.rank() + i;
  return BroadcastInDim(x, std::move(shape), std::move(dims));
}

Value FunctionBuilder::Binary(OpCode op, Value a, Value b) {
  if (!IsBinaryElementwise(op)) {
    Fail(absl::InvalidArgumentError(absl::StrCat(OpName(op), " is not a binary elementwise op")));
    return Value();
  }
  if (!CheckOperand(a, OpName(op), 0) || !CheckOperand(b, OpName(op), 1)) return Value();
  absl::StatusOr<Shape> shape = BroadcastShapes(TypeOf(a).shape, TypeOf(b).shape);
  if (!shape.ok()) {
    Fail(absl::InvalidArgumentError(
        absl::StrCat(OpName(op), "(", OperandList({a, b}), "): ", shape.status().message())));
    return Value();
  }
  return AddInstruction(op, {BroadcastTo(a, *shape), BroadcastTo(b, *shape)}, {});
}

Value FunctionBuilder::Compare(Value a, Value b, ComparisonDirection direction) {
  if (!CheckOperand(a, "compare", 0) || !CheckOperand(b, "compare", 1)) return Value();
  absl::StatusOr<Shape> shape = BroadcastShapes(TypeOf(a).shape, TypeOf(b).shape);
  if (!shape.ok()) {
    Fail(absl::InvalidArgumentError(
        absl::StrCat("compare(", OperandList({a, b}), "): ", shape.status().message())));
    return Value();
  }
  Attributes attrs;
  attrs.comparison = direction;
  return AddInstruction(OpCode::kCompare, {BroadcastTo(a, *shape), BroadcastTo(b, *shape)},
                        std::move(attrs));
}

Value FunctionBuilder::Select(Value pred, Value on_true, Value on_false) {
  if (!CheckOperand(pred, "select", 0) || !CheckOperand(on_true, "select", 1) ||
      !CheckOperand(on_false, "select", 2)) {
    return Value();
  }
  absl::StatusOr<Shape> shape = BroadcastShapes(TypeOf(on_true).shape, TypeOf(on_false).shape);
  if (shape.ok()) shape = BroadcastShapes(*shape, TypeOf(pred).shape);
  if (!shape.ok()) {
    Fail(absl::InvalidArgumentError(absl::StrCat("select(", OperandList({pred, on_true, on_false}),
                                                 "): ", shape.status().message())));
    return Value();
  }
  return AddInstruction(OpCode::kSelect,
                        {BroadcastTo(pred, *shape), BroadcastTo(on_true, *shape),
                         BroadcastTo(on_false, *shape)},
                        {});
}

Value FunctionBuilder::Convert(Value x, DType to) {
  Attributes a;
  a.dtype = to;
  return AddInstruction(OpCode::kConvert, {x}, std::move(a));
}

Value FunctionBuilder::BroadcastInDim(Value x, Shape shape, std::vector<int64_t> dims) {
  Attributes a;
  a.type.dtype = TypeOf(x).dtype;
  a.type.shape = std::move(shape);
  a.dims = std::move(dims);
  return AddInstruction(OpCode::kBroadcastInDim, {x}, std::move(a));
}

Value FunctionBuilder::Reshape(Value x, Shape shape) {
  Attributes a;
  a.type.dtype = TypeOf(x).dtype;
  a.type.shape = std::move(shape);
  return AddInstruction(OpCode::kReshape, {x}, std::move(a));
}

Value FunctionBuilder::Transpose(Value x, std::vector<int64_t> permutation) {
  Attributes a;
  a.dims = std::move(permutation);
  return AddInstruction(OpCode::kTranspose, {x}, std::move(a));
}

Value FunctionBuilder::Slice(Value x, std::vector<int64_t> starts, std::vector<int64_t> limits,
                             std::vector<int64_t> strides) {
  if (strides.empty()) strides.assign(starts.size(), 1);
  Attributes a;
  a.starts = std::move(starts);
  a.limits = std::move(limits);
  a.strides = std::move(strides);
  return AddInstruction(OpCode::kSlice, {x}, std::move(a));
}

Value FunctionBuilder::Concatenate(absl::Span<const Value> xs, int64_t axis) {
  Attributes a;
  a.axis = axis;
  return AddInstruction(OpCode::kConcatenate, xs, std::move(a));
}

Value FunctionBuilder::Gather(Value operand, Value indices, int64_t axis) {
  Attributes a;
  a.axis = axis;
  return AddInstruction(OpCode::kGather, {operand, indices}, std::move(a));
}

Value FunctionBuilder::ScatterAdd(Value operand, Value indices, Value updates, int64_t axis) {
  Attributes a;
  a.axis = axis;
  return AddInstruction(OpCode::kScatterAdd, {operand, indices, updates}, std::move(a));
}

Value FunctionBuilder::DynamicSlice(Value operand, absl::Span<const Value> starts,
                                    std::vector<int64_t> sizes) {
  std::vector<Value> operands = {operand};
  operands.insert(operands.end(), starts.begin(), starts.end());
  Attributes a;
  a.dims = std::move(sizes);
  return AddInstruction(OpCode::kDynamicSlice, operands, std::move(a));
}

Value FunctionBuilder::DynamicUpdateSlice(Value operand, Value update,
                                          absl::Span<const Value> starts) {
  std::vector<Value> operands = {operand, update};
  operands.insert(operands.end(), starts.begin(), starts.end());
  return AddInstruction(OpCode::kDynamicUpdateSlice, operands, {});
}

Value FunctionBuilder::Cumsum(Value x, int64_t axis, bool reverse) {
  Attributes a;
  a.axis = axis;
  a.reverse = reverse;
  return AddInstruction(OpCode::kCumsum, {x}, std::move(a));
}

Value FunctionBuilder::TopKIndices(Value x, int64_t k) {
  Attributes a;
  a.k = k;
  return AddInstruction(OpCode::kTopK, {x}, std::move(a));
}

std::pair<Value, Value> FunctionBuilder::TopK(Value x, int64_t k) {
  const Value indices = TopKIndices(x, k);
  if (!indices.valid()) return {Value(), Value()};
  const TensorType xt = TypeOf(x);
  const int64_t rank = xt.shape.rank();
  // [..., k, n]: one-hot of each index along n, selecting x's row.
  std::vector<int64_t> dims(xt.shape.dims().begin(), xt.shape.dims().end());
  dims.insert(dims.end() - 1, k);
  const Shape wide(dims);
  std::vector<int64_t> lead(rank - 1);
  for (int64_t i = 0; i < rank - 1; ++i) lead[i] = i;
  std::vector<int64_t> index_dims = lead, x_dims = lead;
  index_dims.push_back(rank - 1);  // k
  x_dims.push_back(rank);          // n
  const Value positions = Iota(TensorType{DType::kI32, wide}, rank);
  const Value hit = Compare(positions, BroadcastInDim(indices, wide, index_dims),
                            ComparisonDirection::kEq);
  const Value picked = Select(hit, BroadcastInDim(x, wide, x_dims), ScalarLike(xt.dtype, 0));
  return {Reduce(picked, {rank}, ReduceKind::kSum), indices};
}

Value FunctionBuilder::DotGeneral(Value lhs, Value rhs, DotDimensionNumbers dimension_numbers) {
  Attributes a;
  a.dot = std::move(dimension_numbers);
  return AddInstruction(OpCode::kDotGeneral, {lhs, rhs}, std::move(a));
}

Value FunctionBuilder::Dot(Value lhs, Value rhs) {
  if (!CheckOperand(lhs, "dot", 0) || !CheckOperand(rhs, "dot", 1)) return Value();
  int64_t lr = TypeOf(lhs).shape.rank(), rr = TypeOf(rhs).shape.rank();
  DotDimensionNumbers d;
  if (lr >= 1 && rr >= 1 && lr <= 2 && rr <= 2) {
    d.lhs_contracting = {lr - 1};
    d.rhs_contracting = {rr == 1 ? 0 : rr - 2};
    return DotGeneral(lhs, rhs, std::move(d));
  }
  if (lr == rr && lr > 2) {
    for (int64_t i = 0; i < lr - 2; ++i) {
      d.lhs_batch.push_back(i);
      d.rhs_batch.push_back(i);
    }
    d.lhs_contracting = {lr - 1};
    d.rhs_contracting = {rr - 2};
    return DotGeneral(lhs, rhs, std::move(d));
  }
  Fail(absl::InvalidArgumentError(absl::StrCat("dot(", OperandList({lhs, rhs}),
                                               "): unsupported operand ranks ", lr, " and ", rr,
                                               " (use dot_general)")));
  return Value();
}

Value FunctionBuilder::Reduce(Value x, std::vector<int64_t> axes, ReduceKind kind) {
  // The IR stores reduced axes ascending; their order does not change the result.
  std::sort(axes.begin(), axes.end());
  Attributes a;
  a.dims = std::move(axes);
  a.reduce_kind = kind;
  return AddInstruction(OpCode::kReduce, {x}, std::move(a));
}

Value FunctionBuilder::AllReduce(Value x, ReduceKind kind, ShardGroups groups) {
  Attributes a;
  a.reduce_kind = kind;
  a.groups = std::move(groups);
  return AddInstruction(OpCode::kAllReduce, {x}, std::move(a));
}

Value FunctionBuilder::AllGather(Value x, int64_t axis, ShardGroups groups) {
  Attributes a;
  a.axis = axis;
  a.groups = std::move(groups);
  return AddInstruction(OpCode::kAllGather, {x}, std::move(a));
}

Value FunctionBuilder::ReduceScatter(Value x, int64_t axis, ReduceKind kind, ShardGroups groups) {
  Attributes a;
  a.axis = axis;
  a.reduce_kind = kind;
  a.groups = std::move(groups);
  return AddInstruction(OpCode::kReduceScatter, {x}, std::move(a));
}

Value FunctionBuilder::AllToAll(Value x, int64_t split_axis, int64_t concat_axis,
                               ShardGroups groups) {
  Attributes a;
  a.split_axis = split_axis;
  a.concat_axis = concat_axis;
  a.groups = std::move(groups);
  return AddInstruction(OpCode::kAllToAll, {x}, std::move(a));
}

Value FunctionBuilder::CollectivePermute(Value x,
                                         std::vector<std::pair<int64_t, int64_t>> pairs) {
  Attributes a;
  a.pairs = std::move(pairs);
  return AddInstruction(OpCode::kCollectivePermute, {x}, std::move(a));
}

Value FunctionBuilder::ShardIndex() { return AddInstruction(OpCode::kShardIndex, {}, {}); }

namespace {

// The results of a control-flow tuple `t` whose result types are `types`.
std::vector<Value> Project(FunctionBuilder& b, Value t, const std::vector<TensorType>& types) {
  std::vector<Value> out;
  out.reserve(types.size());
  for (size_t i = 0; i < types.size(); ++i) {
    out.push_back(t.valid() ? b.GetResult(t, static_cast<int64_t>(i), types[i]) : Value());
  }
  return out;
}

}  // namespace

std::vector<Value> FunctionBuilder::While(Function cond, Function body,
                                          absl::Span<const Value> init, int64_t max_iterations) {
  Attributes a;
  a.max_iterations = max_iterations;
  const std::vector<TensorType> types = body.output_types();
  a.regions.functions = {std::make_shared<const Function>(std::move(cond)),
                         std::make_shared<const Function>(std::move(body))};
  const Value t = AddInstruction(OpCode::kWhile, init, std::move(a));
  return Project(*this, t, types);
}

std::vector<Value> FunctionBuilder::Case(Value index, std::vector<Function> branches,
                                         absl::Span<const Value> operands) {
  Attributes a;
  const std::vector<TensorType> types =
      branches.empty() ? std::vector<TensorType>{} : branches[0].output_types();
  for (Function& f : branches) {
    a.regions.functions.push_back(std::make_shared<const Function>(std::move(f)));
  }
  std::vector<Value> all = {index};
  all.insert(all.end(), operands.begin(), operands.end());
  const Value t = AddInstruction(OpCode::kCase, all, std::move(a));
  return Project(*this, t, types);
}

Value FunctionBuilder::GetResult(Value tuple, int64_t i, TensorType type) {
  Attributes a;
  a.index = i;
  a.type = std::move(type);
  return AddInstruction(OpCode::kGetResult, {tuple}, std::move(a));
}

absl::StatusOr<Function> FunctionBuilder::Build(absl::Span<const Value> outputs) {
  if (built_) return absl::FailedPreconditionError("Build() called twice");
  if (outputs.empty()) Fail(absl::InvalidArgumentError("a function needs at least one output"));
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!CheckOperand(outputs[i], "return", i)) break;
  }
  if (!status_.ok()) return status_;
  built_ = true;
  for (Value v : outputs) function_.outputs.push_back(v.id_);
  PW_RETURN_IF_ERROR(Verify(function_));
  return std::move(function_);
}

}  // namespace pw::ir
