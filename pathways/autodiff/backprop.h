// The VJP rules of every op, used by Vjp (vjp.cc): given an instruction of the original
// function and its output's cotangent, add its operands' cotangents.
#ifndef PATHWAYS_AUTODIFF_BACKPROP_H_
#define PATHWAYS_AUTODIFF_BACKPROP_H_

#include <cstdint>

#include "absl/status/status.h"
#include "pathways/ir/builder.h"
#include "pathways/ir/function.h"

namespace pw::autodiff {

// What a rule may use: the builder of the derivative function, the primal value of every
// original instruction in it, and cotangent accumulation.
class BackpropContext {
 public:
  virtual ~BackpropContext() = default;
  virtual ir::FunctionBuilder& builder() = 0;
  // The recomputed value of original instruction `id`.
  virtual ir::Value primal(int64_t id) const = 0;
  // Adds `cotangent` to original instruction `id`'s (ignored for non-floating-point values).
  virtual void AddCotangent(int64_t id, ir::Value cotangent) = 0;
  // Adds `cotangent` to result `index` of control-flow instruction `id` (from its get_result).
  virtual void AddResultCotangent(int64_t id, int64_t index, ir::Value cotangent) = 0;
};

// Adds the cotangents of `inst`'s operands given `g`, the cotangent of its result (of the
// result's type). UNIMPLEMENTED naming the instruction for an op with no derivative. Not for
// while and case (control_flow.h), whose results' cotangents come from their get_results.
absl::Status Backprop(const ir::Instruction& inst, ir::Value g, BackpropContext& ctx);

}  // namespace pw::autodiff

#endif  // PATHWAYS_AUTODIFF_BACKPROP_H_
