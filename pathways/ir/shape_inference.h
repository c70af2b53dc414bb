// Shape inference: the result type of every op from its operand types and attributes.
#ifndef PATHWAYS_IR_SHAPE_INFERENCE_H_
#define PATHWAYS_IR_SHAPE_INFERENCE_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pathways/ir/op.h"
#include "pathways/ir/shape.h"

namespace pw::ir {

// Returns the result type of `op` applied to operands of `operand_types` with `attrs`, in a
// function whose gang has `num_shards` shards. Errors are InvalidArgument whose message says
// what is wrong in terms of the op's operands and attributes (callers prefix the op's name and
// operand list).
absl::StatusOr<TensorType> InferResultType(OpCode op, absl::Span<const TensorType> operand_types,
                                           const Attributes& attrs, int64_t num_shards);

// The size of every group of `groups` (Attributes::groups) when they partition [0, num_shards)
// into groups of one size; num_shards for no groups; InvalidArgument naming the group otherwise.
absl::StatusOr<int64_t> CollectiveGroupSize(const std::vector<std::vector<int64_t>>& groups,
                                            int64_t num_shards);

// Numpy broadcasting of two shapes: the result shape, or an error if they are incompatible.
absl::StatusOr<Shape> BroadcastShapes(const Shape& a, const Shape& b);

}  // namespace pw::ir

#endif  // PATHWAYS_IR_SHAPE_INFERENCE_H_
