// Internal to shape inference: the checks every op's inference shares, and the collectives'
// inference (shape_inference_collectives.cc).
#ifndef PATHWAYS_IR_SHAPE_INFERENCE_INTERNAL_H_
#define PATHWAYS_IR_SHAPE_INFERENCE_INTERNAL_H_

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "pathways/base/status.h"
#include "pathways/ir/op.h"
#include "pathways/ir/shape.h"

namespace pw::ir::internal {

absl::Status Invalid(auto&&... parts) { return absl::InvalidArgumentError(absl::StrCat(parts...)); }

inline absl::Status CheckArity(absl::Span<const TensorType> operands, size_t n) {
  if (operands.size() != n) return Invalid("expects ", n, " operand(s), got ", operands.size());
  return absl::OkStatus();
}

inline absl::Status CheckAxis(int64_t axis, int64_t rank, std::string_view what) {
  if (axis < 0 || axis >= rank) {
    return Invalid(ToAbsl(what), " ", axis, " is out of range for rank ", rank);
  }
  return absl::OkStatus();
}

inline absl::Status CheckNumeric(const TensorType& t, std::string_view role) {
  if (!IsNumeric(t.dtype)) {
    return Invalid(ToAbsl(role), " must be a numeric type (f32, f64, i32), got ", t.DebugString());
  }
  return absl::OkStatus();
}

inline absl::StatusOr<TensorType> Checked(TensorType t) {
  if (!t.shape.IsValid()) {
    return Invalid("result shape ", t.shape.DebugString(), " is invalid (negative or too large)");
  }
  return t;
}

// The result type of a collective (all_reduce, all_gather, reduce_scatter, all_to_all,
// collective_permute, shard_index) in a gang of `gang_shards`.
absl::StatusOr<TensorType> InferCollective(OpCode op, absl::Span<const TensorType> in,
                                           const Attributes& a, int64_t gang_shards);

// The result type of while, case (a tuple, ir/tuple.h) and get_result
// (shape_inference_control_flow.cc). Regions are checked against the operands, not verified.
absl::StatusOr<TensorType> InferControlFlow(OpCode op, absl::Span<const TensorType> in,
                                            const Attributes& a, int64_t num_shards);

}  // namespace pw::ir::internal

#endif  // PATHWAYS_IR_SHAPE_INFERENCE_INTERNAL_H_
