// Shape inference for every op of the IR.
#include "pathways/ir/shape_inference.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pathways/base/status.h"
#include "pathways/ir/shape_inference_internal.h"

namespace pw::ir {
namespace {

using internal::CheckArity;
using internal::CheckAxis;
using internal::Checked;
using internal::CheckNumeric;
using internal::InferCollective;
using internal::Invalid;

std::string Join(absl::Span<const int64_t> v) { return absl::StrCat("[", absl::StrJoin(v, ","), "]"); }

// dims must be distinct and each in [0, rank).
absl::Status CheckDistinctAxes(absl::Span<const int64_t> dims, int64_t rank, std::string_view what) {
  std::vector<bool> seen(rank, false);
  for (int64_t d : dims) {
    PW_RETURN_IF_ERROR(CheckAxis(d, rank, what));
    if (seen[d]) return Invalid(ToAbsl(what), " ", d, " appears twice in ", Join(dims));
    seen[d] = true;
  }
  return absl::OkStatus();
}

absl::StatusOr<TensorType> InferDot(const TensorType& lhs, const TensorType& rhs,
                                    const DotDimensionNumbers& d) {
  if (lhs.dtype != rhs.dtype) {
    return Invalid("operand dtypes differ: ", lhs.DebugString(), " vs ", rhs.DebugString());
  }
  PW_RETURN_IF_ERROR(CheckNumeric(lhs, "lhs"));
  if (d.lhs_batch.size() != d.rhs_batch.size()) {
    return Invalid("lhs has ", d.lhs_batch.size(), " batch dims but rhs has ", d.rhs_batch.size());
  }
  if (d.lhs_contracting.size() != d.rhs_contracting.size()) {
    return Invalid("lhs has ", d.lhs_contracting.size(), " contracting dims but rhs has ",
                   d.rhs_contracting.size());
  }
  std::vector<int64_t> lhs_used = d.lhs_batch, rhs_used = d.rhs_batch;
  lhs_used.insert(lhs_used.end(), d.lhs_contracting.begin(), d.lhs_contracting.end());
  rhs_used.insert(rhs_used.end(), d.rhs_contracting.begin(), d.rhs_contracting.end());
  PW_RETURN_IF_ERROR(CheckDistinctAxes(lhs_used, lhs.shape.rank(), "lhs batch/contracting dim"));
  PW_RETURN_IF_ERROR(CheckDistinctAxes(rhs_used, rhs.shape.rank(), "rhs batch/contracting dim"));
  for (size_t i = 0; i < d.lhs_batch.size(); ++i) {
    if (lhs.shape.dim(d.lhs_batch[i]) != rhs.shape.dim(d.rhs_batch[i])) {
      return Invalid("batch dim sizes differ: lhs dim ", d.lhs_batch[i], " of ",
                     lhs.DebugString(), " vs rhs dim ", d.rhs_batch[i], " of ", rhs.DebugString());
    }
  }
  for (size_t i = 0; i < d.lhs_contracting.size(); ++i) {
    if (lhs.shape.dim(d.lhs_contracting[i]) != rhs.shape.dim(d.rhs_contracting[i])) {
      return Invalid("contracting dim sizes differ: lhs dim ", d.lhs_contracting[i], " of ",
                     lhs.DebugString(), " vs rhs dim ", d.rhs_contracting[i], " of ",
                     rhs.DebugString());
    }
  }
  std::vector<int64_t> dims;
  for (int64_t b : d.lhs_batch) dims.push_back(lhs.shape.dim(b));
  auto append_free = [&dims](const TensorType& t, const std::vector<int64_t>& used) {
    for (int64_t i = 0; i < t.shape.rank(); ++i) {
      if (std::find(used.begin(), used.end(), i) == used.end()) dims.push_back(t.shape.dim(i));
    }
  };
  append_free(lhs, lhs_used);
  append_free(rhs, rhs_used);
  return Checked(TensorType{lhs.dtype, Shape(dims)});
}

absl::Status CheckShards(int64_t num_shards) {
  if (num_shards < 1 || num_shards > kMaxShards) {
    return Invalid("num_shards must be in [1, ", kMaxShards, "], got ", num_shards);
  }
  return absl::OkStatus();
}

absl::StatusOr<TensorType> InferLeaf(OpCode op, absl::Span<const TensorType> in,
                                     const Attributes& a) {
  switch (op) {
    case OpCode::kParameter:
      PW_RETURN_IF_ERROR(CheckArity(in, 0));
      if (a.index < 0) return Invalid("parameter index must be >= 0, got ", a.index);
      if (!a.type.IsValid()) return Invalid("parameter type ", a.type.DebugString(), " is invalid");
      return a.type;
    case OpCode::kConstant:
      PW_RETURN_IF_ERROR(CheckArity(in, 0));
      if (!a.literal.has_value()) return Invalid("constant has no literal value");
      if (!a.literal->type().IsValid() ||
          a.literal->byte_size() != a.literal->type().byte_size()) {
        return Invalid("constant literal of type ", a.literal->type().DebugString(),
                       " is malformed");
      }
      return a.literal->type();
    case OpCode::kIota:
      PW_RETURN_IF_ERROR(CheckArity(in, 0));
      if (!a.type.IsValid()) return Invalid("iota type ", a.type.DebugString(), " is invalid");
      PW_RETURN_IF_ERROR(CheckNumeric(a.type, "iota result"));
      PW_RETURN_IF_ERROR(CheckAxis(a.axis, a.type.shape.rank(), "iota axis"));
      return a.type;
    default:
      return Invalid("unknown op code ", static_cast<int>(op));
  }
}

absl::StatusOr<TensorType> InferElementwise(OpCode op, absl::Span<const TensorType> in,
                                            const Attributes& a) {
  if (IsUnaryElementwise(op)) {
    PW_RETURN_IF_ERROR(CheckArity(in, 1));
    if (op == OpCode::kNegate || op == OpCode::kAbs || op == OpCode::kStopGradient) {
      PW_RETURN_IF_ERROR(CheckNumeric(in[0], "operand"));
    } else if (!IsFloating(in[0].dtype)) {
      return Invalid("operand must be floating point (f32, f64), got ", in[0].DebugString());
    }
    return in[0];
  }
  if (IsBinaryElementwise(op)) {
    PW_RETURN_IF_ERROR(CheckArity(in, 2));
    if (!(in[0] == in[1])) {
      return Invalid("operand types differ: ", in[0].DebugString(), " vs ", in[1].DebugString());
    }
    if (IsBitwise(op) && in[0].dtype != DType::kI32) {
      return Invalid("bitwise ops take dtype i32 (32-bit words), got ", in[0].DebugString());
    }
    PW_RETURN_IF_ERROR(CheckNumeric(in[0], "operands"));
    return in[0];
  }
  switch (op) {
    case OpCode::kCompare: {
      PW_RETURN_IF_ERROR(CheckArity(in, 2));
      if (!(in[0] == in[1])) {
        return Invalid("operand types differ: ", in[0].DebugString(), " vs ", in[1].DebugString());
      }
      if (in[0].dtype == DType::kBool && a.comparison != ComparisonDirection::kEq &&
          a.comparison != ComparisonDirection::kNe) {
        return Invalid("bool operands support only EQ and NE, got ", ComparisonName(a.comparison));
      }
      if (static_cast<uint8_t>(a.comparison) > static_cast<uint8_t>(ComparisonDirection::kGe)) {
        return Invalid("unknown comparison direction ", static_cast<int>(a.comparison));
      }
      return TensorType{DType::kBool, in[0].shape};
    }
    case OpCode::kSelect:
      PW_RETURN_IF_ERROR(CheckArity(in, 3));
      if (in[0].dtype != DType::kBool) return Invalid("predicate must be bool, got ", in[0].DebugString());
      if (!(in[1] == in[2])) {
        return Invalid("on_true and on_false types differ: ", in[1].DebugString(), " vs ",
                       in[2].DebugString());
      }
      if (in[0].shape.rank() != 0 && !(in[0].shape == in[1].shape)) {
        return Invalid("predicate shape ", in[0].shape.DebugString(),
                       " must be a scalar or equal the value shape ", in[1].shape.DebugString());
      }
      return in[1];
    case OpCode::kConvert:
      PW_RETURN_IF_ERROR(CheckArity(in, 1));
      if (!IsValidDType(a.dtype)) return Invalid("convert target dtype is invalid");
      return TensorType{a.dtype, in[0].shape};
    default:
      return Invalid("unknown op code ", static_cast<int>(op));
  }
}

absl::StatusOr<TensorType> InferSlice(const TensorType& operand, const Attributes& a) {
  const Shape& s = operand.shape;
  size_t r = static_cast<size_t>(s.rank());
  if (a.starts.size() != r || a.limits.size() != r || a.strides.size() != r) {
    return Invalid("starts ", Join(a.starts), ", limits ", Join(a.limits), " and strides ",
                   Join(a.strides), " must each have ", r, " entries for ", operand.DebugString());
  }
  std::vector<int64_t> dims(r);
  for (size_t i = 0; i < r; ++i) {
    if (a.starts[i] < 0 || a.starts[i] > a.limits[i] || a.limits[i] > s.dim(i) || a.strides[i] < 1) {
      return Invalid("dim ", i, ": slice [", a.starts[i], ":", a.limits[i], ":", a.strides[i],
                     "] is out of bounds for size ", s.dim(i), " of ", operand.DebugString());
    }
    // Not (limit - start + stride - 1) / stride: that overflows for a huge stride.
    dims[i] = a.limits[i] == a.starts[i] ? 0 : (a.limits[i] - a.starts[i] - 1) / a.strides[i] + 1;
  }
  return TensorType{operand.dtype, Shape(dims)};
}

absl::StatusOr<TensorType> InferConcatenate(absl::Span<const TensorType> in, const Attributes& a) {
  if (in.empty()) return Invalid("expects at least one operand");
  PW_RETURN_IF_ERROR(CheckAxis(a.axis, in[0].shape.rank(), "axis"));
  std::vector<int64_t> dims(in[0].shape.dims().begin(), in[0].shape.dims().end());
  for (size_t i = 1; i < in.size(); ++i) {
    bool ok = in[i].dtype == in[0].dtype && in[i].shape.rank() == in[0].shape.rank();
    for (int64_t d = 0; ok && d < in[0].shape.rank(); ++d) {
      if (d != a.axis && in[i].shape.dim(d) != in[0].shape.dim(d)) ok = false;
    }
    if (!ok) {
      return Invalid("operand ", i, " ", in[i].DebugString(), " does not match operand 0 ",
                     in[0].DebugString(), " outside axis ", a.axis);
    }
    dims[a.axis] += in[i].shape.dim(a.axis);
    if (dims[a.axis] > kMaxElements) {
      return Invalid("result dim ", a.axis, " exceeds ", kMaxElements, " elements");
    }
  }
  return Checked(TensorType{in[0].dtype, Shape(dims)});
}

// gather(operand, indices, axis): operand.shape[:axis] + indices.shape + operand.shape[axis+1:].
absl::StatusOr<TensorType> InferGather(const TensorType& operand, const TensorType& indices,
                                       int64_t axis) {
  if (indices.dtype != DType::kI32) return Invalid("indices must be i32, got ", indices.DebugString());
  PW_RETURN_IF_ERROR(CheckAxis(axis, operand.shape.rank(), "axis"));
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < axis; ++i) dims.push_back(operand.shape.dim(i));
  for (int64_t d : indices.shape.dims()) dims.push_back(d);
  for (int64_t i = axis + 1; i < operand.shape.rank(); ++i) dims.push_back(operand.shape.dim(i));
  return Checked(TensorType{operand.dtype, Shape(dims)});
}

// scatter_add(operand, indices, updates, axis): updates must be what gather(operand, indices,
// axis) would give; the result is the operand's type.
absl::StatusOr<TensorType> InferScatterAdd(absl::Span<const TensorType> in, int64_t axis) {
  PW_RETURN_IF_ERROR(CheckArity(in, 3));
  const TensorType& operand = in[0];
  const TensorType& updates = in[2];
  PW_RETURN_IF_ERROR(CheckNumeric(operand, "operand"));
  PW_ASSIGN_OR_RETURN(TensorType gathered, InferGather(operand, in[1], axis));
  if (updates.dtype != operand.dtype) {
    return Invalid("updates dtype ", DTypeName(updates.dtype), " (", updates.DebugString(),
                   ") differs from the operand's ", DTypeName(operand.dtype));
  }
  if (!(updates.shape == gathered.shape)) {
    return Invalid("updates shape ", updates.shape.DebugString(), " must be ",
                   gathered.shape.DebugString(), ", the shape of gather(operand ",
                   operand.DebugString(), ", indices ", in[1].DebugString(), ", axis ", axis, ")");
  }
  return operand;
}

// The scalar i32 start operands of dynamic_slice / dynamic_update_slice, one per operand dim.
absl::Status CheckStarts(absl::Span<const TensorType> starts, const TensorType& operand,
                         size_t first_start) {
  if (static_cast<int64_t>(starts.size()) != operand.shape.rank()) {
    return Invalid("expects one start index per dim of the operand ", operand.DebugString(),
                   ": ", operand.shape.rank(), " start operand(s), got ", starts.size());
  }
  for (size_t i = 0; i < starts.size(); ++i) {
    if (starts[i].dtype != DType::kI32 || starts[i].shape.rank() != 0) {
      return Invalid("start index operand ", first_start + i, " (for dim ", i,
                     ") must be a scalar i32, got ", starts[i].DebugString());
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<TensorType> InferDynamicSlice(absl::Span<const TensorType> in, const Attributes& a) {
  if (in.empty()) return Invalid("expects an operand and its start indices");
  const TensorType& operand = in[0];
  PW_RETURN_IF_ERROR(CheckStarts(in.subspan(1), operand, 1));
  if (static_cast<int64_t>(a.dims.size()) != operand.shape.rank()) {
    return Invalid("slice sizes ", Join(a.dims), " must have one entry per dim of ",
                   operand.DebugString());
  }
  for (size_t i = 0; i < a.dims.size(); ++i) {
    if (a.dims[i] < 0 || a.dims[i] > operand.shape.dim(i)) {
      return Invalid("slice size ", a.dims[i], " of dim ", i, " is outside [0, ",
                     operand.shape.dim(i), "] for ", operand.DebugString());
    }
  }
  return TensorType{operand.dtype, Shape(a.dims)};
}

absl::StatusOr<TensorType> InferDynamicUpdateSlice(absl::Span<const TensorType> in) {
  if (in.size() < 2) return Invalid("expects an operand, an update and start indices");
  const TensorType& operand = in[0];
  const TensorType& update = in[1];
  if (update.dtype != operand.dtype || update.shape.rank() != operand.shape.rank()) {
    return Invalid("update ", update.DebugString(), " must have the dtype and rank of operand ",
                   operand.DebugString());
  }
  for (int64_t i = 0; i < operand.shape.rank(); ++i) {
    if (update.shape.dim(i) > operand.shape.dim(i)) {
      return Invalid("update ", update.DebugString(), " does not fit in operand ",
                     operand.DebugString(), " along dim ", i);
    }
  }
  PW_RETURN_IF_ERROR(CheckStarts(in.subspan(2), operand, 2));
  return operand;
}

absl::StatusOr<TensorType> InferCumsumOrTopK(OpCode op, absl::Span<const TensorType> in,
                                             const Attributes& a) {
  PW_RETURN_IF_ERROR(CheckArity(in, 1));
  PW_RETURN_IF_ERROR(CheckNumeric(in[0], "operand"));
  const Shape& s = in[0].shape;
  if (op == OpCode::kCumsum) {
    PW_RETURN_IF_ERROR(CheckAxis(a.axis, s.rank(), "axis"));
    return in[0];
  }
  if (s.rank() < 1) return Invalid("operand must have rank >= 1, got ", in[0].DebugString());
  const int64_t n = s.dim(s.rank() - 1);
  if (a.k < 1 || a.k > n) {
    return Invalid("k = ", a.k, " must be in [1, ", n, "], the last dim of ", in[0].DebugString());
  }
  std::vector<int64_t> dims(s.dims().begin(), s.dims().end());
  dims.back() = a.k;
  return TensorType{DType::kI32, Shape(dims)};
}

absl::StatusOr<TensorType> InferDataMovement(OpCode op, absl::Span<const TensorType> in,
                                             const Attributes& a) {
  switch (op) {
    case OpCode::kBroadcastInDim: {
      PW_RETURN_IF_ERROR(CheckArity(in, 1));
      const Shape& out = a.type.shape;
      if (!out.IsValid()) return Invalid("result shape ", out.DebugString(), " is invalid");
      if (static_cast<int64_t>(a.dims.size()) != in[0].shape.rank()) {
        return Invalid("broadcast_dimensions ", Join(a.dims), " must have one entry per operand dim (rank ",
                       in[0].shape.rank(), ")");
      }
      PW_RETURN_IF_ERROR(CheckDistinctAxes(a.dims, out.rank(), "broadcast dimension"));
      for (size_t i = 0; i < a.dims.size(); ++i) {
        int64_t od = in[0].shape.dim(i), rd = out.dim(a.dims[i]);
        if (od != 1 && od != rd) {
          return Invalid("operand dim ", i, " of size ", od, " cannot broadcast to result dim ",
                         a.dims[i], " of size ", rd, " (", in[0].DebugString(), " -> ",
                         out.DebugString(), ")");
        }
      }
      return TensorType{in[0].dtype, out};
    }
    case OpCode::kReshape:
      PW_RETURN_IF_ERROR(CheckArity(in, 1));
      if (!a.type.shape.IsValid()) return Invalid("result shape ", a.type.shape.DebugString(), " is invalid");
      if (a.type.shape.num_elements() != in[0].num_elements()) {
        return Invalid("cannot reshape ", in[0].DebugString(), " (", in[0].num_elements(),
                       " elements) to ", a.type.shape.DebugString(), " (",
                       a.type.shape.num_elements(), " elements)");
      }
      return TensorType{in[0].dtype, a.type.shape};
    case OpCode::kTranspose: {
      PW_RETURN_IF_ERROR(CheckArity(in, 1));
      const Shape& s = in[0].shape;
      if (static_cast<int64_t>(a.dims.size()) != s.rank()) {
        return Invalid("permutation ", Join(a.dims), " must have ", s.rank(), " entries for ",
                       in[0].DebugString());
      }
      PW_RETURN_IF_ERROR(CheckDistinctAxes(a.dims, s.rank(), "permutation entry"));
      std::vector<int64_t> dims(s.rank());
      for (int64_t i = 0; i < s.rank(); ++i) dims[i] = s.dim(a.dims[i]);
      return TensorType{in[0].dtype, Shape(dims)};
    }
    case OpCode::kSlice:
      PW_RETURN_IF_ERROR(CheckArity(in, 1));
      return InferSlice(in[0], a);
    case OpCode::kConcatenate:
      return InferConcatenate(in, a);
    case OpCode::kGather:
      PW_RETURN_IF_ERROR(CheckArity(in, 2));
      return InferGather(in[0], in[1], a.axis);
    case OpCode::kScatterAdd:
      return InferScatterAdd(in, a.axis);
    case OpCode::kDynamicSlice:
      return InferDynamicSlice(in, a);
    case OpCode::kDynamicUpdateSlice:
      return InferDynamicUpdateSlice(in);
    case OpCode::kCumsum:
    case OpCode::kTopK:
      return InferCumsumOrTopK(op, in, a);
    default:
      return Invalid("unknown op code ", static_cast<int>(op));
  }
}

absl::StatusOr<TensorType> InferContraction(OpCode op, absl::Span<const TensorType> in,
                                            const Attributes& a) {
  switch (op) {
    case OpCode::kDotGeneral:
      PW_RETURN_IF_ERROR(CheckArity(in, 2));
      return InferDot(in[0], in[1], a.dot);
    case OpCode::kReduce: {
      PW_RETURN_IF_ERROR(CheckArity(in, 1));
      PW_RETURN_IF_ERROR(CheckNumeric(in[0], "operand"));
      PW_RETURN_IF_ERROR(CheckDistinctAxes(a.dims, in[0].shape.rank(), "reduce axis"));
      if (!std::is_sorted(a.dims.begin(), a.dims.end())) {
        return Invalid("reduce axes ", Join(a.dims), " must be in ascending order");
      }
      if (static_cast<uint8_t>(a.reduce_kind) > static_cast<uint8_t>(ReduceKind::kMin)) {
        return Invalid("unknown reduction ", static_cast<int>(a.reduce_kind));
      }
      std::vector<int64_t> dims;
      for (int64_t i = 0; i < in[0].shape.rank(); ++i) {
        if (std::find(a.dims.begin(), a.dims.end(), i) == a.dims.end()) dims.push_back(in[0].shape.dim(i));
      }
      return TensorType{in[0].dtype, Shape(dims)};
    }
    default:
      return Invalid("unknown op code ", static_cast<int>(op));
  }
}

}  // namespace

absl::StatusOr<Shape> BroadcastShapes(const Shape& a, const Shape& b) {
  int64_t rank = std::max(a.rank(), b.rank());
  std::vector<int64_t> dims(rank);
  for (int64_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.rank() ? 1 : a.dim(i - (rank - a.rank()));
    int64_t db = i < rank - b.rank() ? 1 : b.dim(i - (rank - b.rank()));
    if (da != db && da != 1 && db != 1) {
      return Invalid("shapes ", a.DebugString(), " and ", b.DebugString(),
                     " are not broadcast-compatible");
    }
    dims[i] = da == 1 ? db : da;
  }
  return Shape(dims);
}

absl::StatusOr<TensorType> InferResultType(OpCode op, absl::Span<const TensorType> in,
                                           const Attributes& a, int64_t num_shards) {
  PW_RETURN_IF_ERROR(CheckShards(num_shards));
  if (op == OpCode::kInvalid || !IsKnownOpCode(static_cast<uint32_t>(op))) {
    return Invalid("unknown op code ", static_cast<int>(op));
  }
  for (size_t i = 0; i < in.size(); ++i) {
    if (!in[i].IsValid()) return Invalid("operand ", i, " has invalid type ", in[i].DebugString());
  }
  if (!a.groups.empty() && !IsCollective(op)) return Invalid(OpName(op), " takes no shard groups");
  if (IsUnaryElementwise(op) || IsBinaryElementwise(op)) return InferElementwise(op, in, a);
  switch (op) {
    case OpCode::kParameter:
    case OpCode::kConstant:
    case OpCode::kIota:
      return InferLeaf(op, in, a);
    case OpCode::kCompare:
    case OpCode::kSelect:
    case OpCode::kConvert:
      return InferElementwise(op, in, a);
    case OpCode::kBroadcastInDim:
    case OpCode::kReshape:
    case OpCode::kTranspose:
    case OpCode::kSlice:
    case OpCode::kConcatenate:
    case OpCode::kGather:
    case OpCode::kScatterAdd:
    case OpCode::kDynamicSlice:
    case OpCode::kDynamicUpdateSlice:
    case OpCode::kCumsum:
    case OpCode::kTopK:
      return InferDataMovement(op, in, a);
    case OpCode::kDotGeneral:
    case OpCode::kReduce:
      return InferContraction(op, in, a);
    case OpCode::kAllReduce:
    case OpCode::kAllGather:
    case OpCode::kReduceScatter:
    case OpCode::kAllToAll:
    case OpCode::kCollectivePermute:
    case OpCode::kShardIndex:
      return InferCollective(op, in, a, num_shards);
    case OpCode::kWhile:
    case OpCode::kCase:
    case OpCode::kGetResult:
      return internal::InferControlFlow(op, in, a, num_shards);
    default:
      return Invalid("unknown op code ", static_cast<int>(op));
  }
}

}  // namespace pw::ir
