// The VJP rule of every op: elementwise, data movement, contractions and reductions,
// collectives. Each emits the operands' cotangents into the derivative's builder.
#include "pathways/autodiff/backprop.h"

#include <algorithm>
#include <numeric>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace pw::autodiff {
namespace {

using ir::ComparisonDirection;
using ir::DotDimensionNumbers;
using ir::DType;
using ir::FunctionBuilder;
using ir::Instruction;
using ir::OpCode;
using ir::ReduceKind;
using ir::Shape;
using ir::Value;

// One rule's view: the builder, the instruction's operands and result, and where the operands'
// cotangents go.
struct Rule {
  const Instruction& inst;
  Value g;  // the result's cotangent
  BackpropContext& ctx;
  FunctionBuilder& b;

  Value x(int i) const { return ctx.primal(inst.operands[i]); }
  Value y() const { return ctx.primal(inst.id); }
  DType dtype() const { return inst.type.dtype; }
  Value Scalar(double v) const { return b.ScalarLike(dtype(), v); }
  Value Zeros(const Shape& shape) const { return b.BroadcastInDim(Scalar(0), shape, {}); }
  // A copy: the builder's types move as it grows.
  Shape OperandShape(int i) const { return b.TypeOf(x(i)).shape; }
  void To(int i, Value cotangent) const { ctx.AddCotangent(inst.operands[i], cotangent); }
};

std::vector<int64_t> Iota(int64_t n, int64_t from = 0) {
  std::vector<int64_t> v(n);
  std::iota(v.begin(), v.end(), from);
  return v;
}

bool Contains(const std::vector<int64_t>& v, int64_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// Dims 0..rank-1 not in `a` or `b`, ascending.
std::vector<int64_t> FreeDims(int64_t rank, const std::vector<int64_t>& a,
                              const std::vector<int64_t>& b) {
  std::vector<int64_t> out;
  for (int64_t d = 0; d < rank; ++d) {
    if (!Contains(a, d) && !Contains(b, d)) out.push_back(d);
  }
  return out;
}

// `raw` holds operand dims in the order `raw_dims` names them; transposes it to dims 0..n-1.
Value ToOperandOrder(FunctionBuilder& b, Value raw, const std::vector<int64_t>& raw_dims) {
  std::vector<int64_t> perm(raw_dims.size());
  for (size_t pos = 0; pos < raw_dims.size(); ++pos) perm[raw_dims[pos]] = static_cast<int64_t>(pos);
  if (perm == Iota(static_cast<int64_t>(perm.size()))) return raw;
  return b.Transpose(raw, perm);
}

void UnaryRule(const Rule& r) {
  FunctionBuilder& b = r.b;
  const Value g = r.g;
  switch (r.inst.op) {
    case OpCode::kNegate:
      return r.To(0, b.Negate(g));
    case OpCode::kExp:
      return r.To(0, b.Multiply(g, r.y()));
    case OpCode::kLog:
      return r.To(0, b.Divide(g, r.x(0)));
    case OpCode::kTanh:
      return r.To(0, b.Multiply(g, b.Subtract(r.Scalar(1), b.Multiply(r.y(), r.y()))));
    case OpCode::kSqrt:
      return r.To(0, b.Divide(b.Multiply(g, r.Scalar(0.5)), r.y()));
    case OpCode::kSine:
      return r.To(0, b.Multiply(g, b.Cosine(r.x(0))));
    case OpCode::kCosine:
      return r.To(0, b.Negate(b.Multiply(g, b.Sine(r.x(0)))));
    case OpCode::kRsqrt:  // d x^-1/2 = -1/2 x^-3/2 = -1/2 y / x
      return r.To(0, b.Multiply(g, b.Divide(b.Multiply(r.y(), r.Scalar(-0.5)), r.x(0))));
    case OpCode::kAbs: {  // sign(x), 0 at 0
      const Value zero = r.Scalar(0);
      const Value sign = b.Select(b.Compare(r.x(0), zero, ComparisonDirection::kGt), r.Scalar(1),
                                  b.Select(b.Compare(r.x(0), zero, ComparisonDirection::kLt),
                                           r.Scalar(-1), zero));
      return r.To(0, b.Multiply(g, sign));
    }
    default:
      return;
  }
}

// maximum / minimum: the operand that won takes the cotangent; a tie splits it evenly.
void ExtremumRule(const Rule& r, ComparisonDirection wins) {
  FunctionBuilder& b = r.b;
  const Value share = b.Select(b.Compare(r.x(0), r.x(1), wins), r.Scalar(1),
                               b.Select(b.Compare(r.x(0), r.x(1), ComparisonDirection::kEq),
                                        r.Scalar(0.5), r.Scalar(0)));
  r.To(0, b.Multiply(r.g, share));
  r.To(1, b.Multiply(r.g, b.Subtract(r.Scalar(1), share)));
}

void BinaryRule(const Rule& r) {
  FunctionBuilder& b = r.b;
  const Value g = r.g;
  switch (r.inst.op) {
    case OpCode::kAdd:
      r.To(0, g);
      return r.To(1, g);
    case OpCode::kSubtract:
      r.To(0, g);
      return r.To(1, b.Negate(g));
    case OpCode::kMultiply:
      r.To(0, b.Multiply(g, r.x(1)));
      return r.To(1, b.Multiply(g, r.x(0)));
    case OpCode::kDivide:
      r.To(0, b.Divide(g, r.x(1)));
      return r.To(1, b.Negate(b.Divide(b.Multiply(g, r.y()), r.x(1))));
    case OpCode::kMaximum:
      return ExtremumRule(r, ComparisonDirection::kGt);
    case OpCode::kMinimum:
      return ExtremumRule(r, ComparisonDirection::kLt);
    case OpCode::kPower: {  // d a^e/da = e a^(e-1) (0 where e == 0); d a^e/de = a^e log a
      const Value a = r.x(0);
      const Value e = r.x(1);
      const Value da = b.Multiply(e, b.Power(a, b.Subtract(e, r.Scalar(1))));
      r.To(0, b.Multiply(g, b.Select(b.Compare(e, r.Scalar(0), ComparisonDirection::kEq),
                                      r.Scalar(0), da)));
      const Value safe_a =
          b.Select(b.Compare(a, r.Scalar(0), ComparisonDirection::kEq), r.Scalar(1), a);
      return r.To(1, b.Multiply(g, b.Multiply(r.y(), b.Log(safe_a))));
    }
    default:
      return;
  }
}

// broadcast_in_dim: sum over the result dims the operand does not have and over the ones it has
// with size 1 but the result widens, then back to the operand's dim order and shape.
void BroadcastRule(const Rule& r) {
  FunctionBuilder& b = r.b;
  const Shape in = r.OperandShape(0);
  const Shape& out = r.inst.type.shape;
  const std::vector<int64_t>& dims = r.inst.attrs.dims;
  std::vector<int64_t> summed;
  std::vector<int64_t> kept;  // operand dims whose result dim survives the sum
  for (int64_t d = 0; d < out.rank(); ++d) {
    auto it = std::find(dims.begin(), dims.end(), d);
    if (it == dims.end()) {
      summed.push_back(d);
      continue;
    }
    const int64_t i = it - dims.begin();
    if (in.dim(i) == 1 && out.dim(d) != 1) {
      summed.push_back(d);
    } else {
      kept.push_back(i);  // in result-dim order
    }
  }
  Value v = summed.empty() ? r.g : b.Reduce(r.g, summed, ReduceKind::kSum);
  std::vector<int64_t> sorted = kept;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> perm;  // to ascending operand dim order
  for (int64_t i : sorted) perm.push_back(std::find(kept.begin(), kept.end(), i) - kept.begin());
  if (perm != Iota(static_cast<int64_t>(perm.size()))) v = b.Transpose(v, perm);
  r.To(0, b.Reshape(v, in));
}

// slice: the cotangent goes back to the sliced positions, zeros elsewhere (a pad, built one
// axis at a time: strided positions by interleaving zeros, then zeros before and after).
void SliceRule(const Rule& r) {
  FunctionBuilder& b = r.b;
  const Shape in = r.OperandShape(0);
  const ir::Attributes& a = r.inst.attrs;
  if (r.inst.type.num_elements() == 0) return r.To(0, r.Zeros(in));
  Value v = r.g;
  for (int64_t k = 0; k < in.rank(); ++k) {
    const int64_t start = a.starts[k];
    const int64_t limit = a.limits[k];
    Shape shape = b.TypeOf(v).shape;
    const int64_t n = shape.dim(k);
    // One element taken: its stride does not matter (and may be huge).
    const int64_t stride = (a.strides.empty() || n == 1) ? 1 : a.strides[k];
    if (stride > 1 && n > 0) {
      std::vector<int64_t> split(shape.dims().begin(), shape.dims().end());
      split.insert(split.begin() + k + 1, 1);
      Value column = b.Reshape(v, Shape(split));
      split[k + 1] = stride - 1;
      column = b.Concatenate({column, r.Zeros(Shape(split))}, k + 1);
      shape.set_dim(k, n * stride);
      v = b.Reshape(column, shape);
      std::vector<int64_t> starts(shape.rank(), 0);
      std::vector<int64_t> limits(shape.dims().begin(), shape.dims().end());
      limits[k] = limit - start;
      v = b.Slice(v, starts, limits);
      shape = b.TypeOf(v).shape;
    }
    std::vector<Value> parts;
    if (start > 0) {
      shape.set_dim(k, start);
      parts.push_back(r.Zeros(shape));
    }
    parts.push_back(v);
    const int64_t after = in.dim(k) - start - b.TypeOf(v).shape.dim(k);
    if (after > 0) {
      shape.set_dim(k, after);
      parts.push_back(r.Zeros(shape));
    }
    if (parts.size() > 1) v = b.Concatenate(parts, k);
    if (!b.status().ok()) return;  // the builder's error is reported by Vjp
  }
  r.To(0, v);
}

void ConcatenateRule(const Rule& r) {
  const int64_t axis = r.inst.attrs.axis;
  const Shape& out = r.inst.type.shape;
  int64_t offset = 0;
  for (size_t i = 0; i < r.inst.operands.size(); ++i) {
    const int64_t size = r.OperandShape(static_cast<int>(i)).dim(axis);
    std::vector<int64_t> starts(out.rank(), 0);
    std::vector<int64_t> limits(out.dims().begin(), out.dims().end());
    starts[axis] = offset;
    limits[axis] = offset + size;
    r.To(static_cast<int>(i), r.b.Slice(r.g, starts, limits));
    offset += size;
  }
}

// gather(operand, indices, axis): its transpose, scatter_add into zeros (which clamps the
// indices as gather does).
void GatherRule(const Rule& r) {
  const int64_t axis = r.inst.attrs.axis;
  r.To(0, r.b.ScatterAdd(r.Zeros(r.OperandShape(0)), r.x(1), r.g, axis));
}

// scatter_add(operand, indices, updates, axis): the operand passes g through; the updates read
// it back at their indices (gather, the transpose); the indices are integers.
void ScatterAddRule(const Rule& r) {
  r.To(0, r.g);
  r.To(2, r.b.Gather(r.g, r.x(1), r.inst.attrs.axis));
}

// dot_general: each operand's cotangent contracts g with the other operand over the other's
// free dims (batch dims stay batch), then goes back to the operand's dim order.
void DotRule(const Rule& r) {
  FunctionBuilder& b = r.b;
  const DotDimensionNumbers& dn = r.inst.attrs.dot;
  const int64_t lhs_rank = r.OperandShape(0).rank();
  const int64_t rhs_rank = r.OperandShape(1).rank();
  const std::vector<int64_t> lhs_free = FreeDims(lhs_rank, dn.lhs_batch, dn.lhs_contracting);
  const std::vector<int64_t> rhs_free = FreeDims(rhs_rank, dn.rhs_batch, dn.rhs_contracting);
  const int64_t nb = static_cast<int64_t>(dn.lhs_batch.size());
  const int64_t nlf = static_cast<int64_t>(lhs_free.size());
  const int64_t nrf = static_cast<int64_t>(rhs_free.size());
  // g's dims: batch, lhs free, rhs free.
  const std::vector<int64_t> g_batch = Iota(nb);
  const std::vector<int64_t> g_lhs_free = Iota(nlf, nb);
  const std::vector<int64_t> g_rhs_free = Iota(nrf, nb + nlf);
  // One operand's cotangent: contract g's `g_other_free` with `other`'s free dims.
  auto side = [&](int mine, const std::vector<int64_t>& my_batch,
                  const std::vector<int64_t>& my_free, const std::vector<int64_t>& my_contracting,
                  const std::vector<int64_t>& other_batch, const std::vector<int64_t>& other_free,
                  const std::vector<int64_t>& other_contracting,
                  const std::vector<int64_t>& g_other_free) {
    DotDimensionNumbers d;
    d.lhs_batch = g_batch;
    d.rhs_batch = other_batch;
    d.lhs_contracting = g_other_free;
    d.rhs_contracting = other_free;
    const Value raw = b.DotGeneral(r.g, r.x(1 - mine), d);
    // raw: batch, my free, then the other's remaining (contracting) dims ascending.
    std::vector<int64_t> raw_dims = my_batch;
    raw_dims.insert(raw_dims.end(), my_free.begin(), my_free.end());
    std::vector<int64_t> rest = other_contracting;
    std::sort(rest.begin(), rest.end());
    for (int64_t o : rest) {
      const int64_t pos = std::find(other_contracting.begin(), other_contracting.end(), o) -
                          other_contracting.begin();
      raw_dims.push_back(my_contracting[pos]);
    }
    r.To(mine, ToOperandOrder(b, raw, raw_dims));
  };
  side(0, dn.lhs_batch, lhs_free, dn.lhs_contracting, dn.rhs_batch, rhs_free,
       dn.rhs_contracting, g_rhs_free);
  side(1, dn.rhs_batch, rhs_free, dn.rhs_contracting, dn.lhs_batch, lhs_free,
       dn.lhs_contracting, g_lhs_free);
}

// reduce: sum spreads g over the reduced dims; max/min give it to the elements equal to the
// result, split evenly among ties.
void ReduceRule(const Rule& r) {
  FunctionBuilder& b = r.b;
  const Shape in = r.OperandShape(0);
  const std::vector<int64_t>& axes = r.inst.attrs.dims;
  const std::vector<int64_t> kept = FreeDims(in.rank(), axes, {});
  const Value spread = b.BroadcastInDim(r.g, in, kept);
  if (r.inst.attrs.reduce_kind == ReduceKind::kSum) return r.To(0, spread);
  const Value hit = b.Convert(
      b.Compare(r.x(0), b.BroadcastInDim(r.y(), in, kept), ComparisonDirection::kEq), r.dtype());
  const Value ties = b.BroadcastInDim(b.Reduce(hit, axes, ReduceKind::kSum), in, kept);
  r.To(0, b.Divide(b.Multiply(spread, hit), ties));
}

absl::Status CollectiveRule(const Rule& r) {
  FunctionBuilder& b = r.b;
  const ir::Attributes& a = r.inst.attrs;
  const bool sum = a.reduce_kind == ReduceKind::kSum;
  switch (r.inst.op) {
    case OpCode::kAllReduce:
      if (!sum) break;
      r.To(0, b.AllReduce(r.g, ReduceKind::kSum, a.groups));
      return absl::OkStatus();
    case OpCode::kAllGather:
      r.To(0, b.ReduceScatter(r.g, a.axis, ReduceKind::kSum, a.groups));
      return absl::OkStatus();
    case OpCode::kReduceScatter:
      if (!sum) break;
      r.To(0, b.AllGather(r.g, a.axis, a.groups));
      return absl::OkStatus();
    case OpCode::kAllToAll:
      r.To(0, b.AllToAll(r.g, a.concat_axis, a.split_axis, a.groups));
      return absl::OkStatus();
    case OpCode::kCollectivePermute: {
      std::vector<std::pair<int64_t, int64_t>> inverse;
      for (const auto& [source, target] : a.pairs) inverse.emplace_back(target, source);
      r.To(0, b.CollectivePermute(r.g, inverse));
      return absl::OkStatus();
    }
    default:
      return absl::OkStatus();  // shard_index: an integer
  }
  return absl::UnimplementedError(absl::StrCat(
      r.inst.DebugName(), ": ", ir::OpName(r.inst.op), " of ",
      ir::ReduceKindName(a.reduce_kind), " has no derivative here (only sum)"));
}

// dynamic_slice and dynamic_update_slice transpose into each other at the same starts: the
// clamping depends only on the starts and the block's shape, so the same block is addressed.
void DynamicSliceRule(const Rule& r) {
  FunctionBuilder& b = r.b;
  std::vector<Value> starts;
  const bool update = r.inst.op == OpCode::kDynamicUpdateSlice;
  for (size_t i = update ? 2 : 1; i < r.inst.operands.size(); ++i) starts.push_back(r.x(static_cast<int>(i)));
  if (!update) return r.To(0, b.DynamicUpdateSlice(r.Zeros(r.OperandShape(0)), r.g, starts));
  const Shape block = r.OperandShape(1);
  r.To(0, b.DynamicUpdateSlice(r.g, r.Zeros(block), starts));
  std::vector<int64_t> sizes(block.dims().begin(), block.dims().end());
  r.To(1, b.DynamicSlice(r.g, starts, sizes));
}

}  // namespace

absl::Status Backprop(const Instruction& inst, Value g, BackpropContext& ctx) {
  const Rule r{inst, g, ctx, ctx.builder()};
  switch (inst.op) {
    case OpCode::kParameter:
    case OpCode::kConstant:
    case OpCode::kIota:
    case OpCode::kCompare:
    case OpCode::kTopK:  // indices: no derivative (TopK's values differentiate as a select)
      return absl::OkStatus();
    case OpCode::kDynamicSlice:
    case OpCode::kDynamicUpdateSlice:
      DynamicSliceRule(r);
      return absl::OkStatus();
    case OpCode::kGetResult:
      ctx.AddResultCotangent(inst.operands[0], inst.attrs.index, g);
      return absl::OkStatus();
    case OpCode::kCumsum:  // the transpose of a running sum runs the other way
      r.To(0, r.b.Cumsum(g, inst.attrs.axis, !inst.attrs.reverse));
      return absl::OkStatus();
    case OpCode::kSelect:
      r.To(1, r.b.Select(r.x(0), g, r.Scalar(0)));
      r.To(2, r.b.Select(r.x(0), r.Scalar(0), g));
      return absl::OkStatus();
    case OpCode::kConvert:
      if (ir::IsFloating(r.b.TypeOf(r.x(0)).dtype)) {
        r.To(0, r.b.Convert(g, r.b.TypeOf(r.x(0)).dtype));
      }
      return absl::OkStatus();
    case OpCode::kBroadcastInDim:
      BroadcastRule(r);
      return absl::OkStatus();
    case OpCode::kReshape:
      r.To(0, r.b.Reshape(g, r.OperandShape(0)));
      return absl::OkStatus();
    case OpCode::kTranspose: {
      const std::vector<int64_t>& perm = inst.attrs.dims;
      std::vector<int64_t> inverse(perm.size());
      for (size_t i = 0; i < perm.size(); ++i) inverse[perm[i]] = static_cast<int64_t>(i);
      r.To(0, r.b.Transpose(g, inverse));
      return absl::OkStatus();
    }
    case OpCode::kSlice:
      SliceRule(r);
      return absl::OkStatus();
    case OpCode::kConcatenate:
      ConcatenateRule(r);
      return absl::OkStatus();
    case OpCode::kGather:
      GatherRule(r);
      return absl::OkStatus();
    case OpCode::kScatterAdd:
      ScatterAddRule(r);
      return absl::OkStatus();
    case OpCode::kDotGeneral:
      DotRule(r);
      return absl::OkStatus();
    case OpCode::kReduce:
      ReduceRule(r);
      return absl::OkStatus();
    default:
      break;
  }
  if (ir::IsUnaryElementwise(inst.op)) {
    UnaryRule(r);
    return absl::OkStatus();
  }
  if (ir::IsBinaryElementwise(inst.op)) {
    BinaryRule(r);
    return absl::OkStatus();
  }
  if (ir::IsCollective(inst.op)) return CollectiveRule(r);
  return absl::UnimplementedError(
      absl::StrCat(inst.DebugName(), ": no derivative rule for ", ir::OpName(inst.op)));
}

}  // namespace pw::autodiff
