// Reverse-mode derivatives of the control-flow ops (while, case), used by Vjp (vjp.cc).
//
// A while loop is differentiable because its trip count is bounded: the recomputed forward
// loop also stacks each iteration's incoming carried values into a [max_iterations, ...] buffer
// (a "tape") and counts its iterations; the derivative is a second loop running the body's own
// VJP backwards over the tape, from the last iteration to the first. Only carried values the
// body changes are stacked (a value the body passes through, such as stacked layer weights a
// scan reads from, is kept once). The body's forward pass is recomputed from the tape in the
// backward loop, so the tape costs max_iterations x (changing carried values), not every
// intermediate of every iteration. A case differentiates into a case of its branches' VJPs.
#ifndef PATHWAYS_AUTODIFF_CONTROL_FLOW_H_
#define PATHWAYS_AUTODIFF_CONTROL_FLOW_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pathways/autodiff/backprop.h"
#include "pathways/ir/builder.h"
#include "pathways/ir/function.h"

namespace pw::autodiff {

// Where the recomputed loop keeps its tape among its results (after the carried values).
struct LoopTape {
  std::vector<int64_t> stacked;  // indices of the carried values stacked per iteration
  int64_t first_stack = 0;       // result index of stacked[0]'s stack
  int64_t trip_count = 0;        // result index of the number of iterations run (i32)
};

// Adds `inst` (a while) to `b` on `operands` as the taping loop; returns its tuple, whose
// first results are the original loop's, and fills `tape`.
absl::StatusOr<ir::Value> RecomputeWhile(ir::FunctionBuilder& b, const ir::Instruction& inst,
                                         absl::Span<const ir::Value> operands, LoopTape& tape);

// Adds the cotangents of `inst`'s operands given its results' `cotangents` (one per result;
// invalid where none). A while's primal (ctx.primal) must be RecomputeWhile's tuple.
absl::Status BackpropWhile(const ir::Instruction& inst, const LoopTape& tape,
                           absl::Span<const ir::Value> cotangents, BackpropContext& ctx);
absl::Status BackpropCase(const ir::Instruction& inst, absl::Span<const ir::Value> cotangents,
                          BackpropContext& ctx);

}  // namespace pw::autodiff

#endif  // PATHWAYS_AUTODIFF_CONTROL_FLOW_H_
