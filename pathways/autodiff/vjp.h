// Reverse-mode automatic differentiation of compiled functions: a Function in, the Function
// computing its vector-Jacobian product out. Written once here and used by every client.
#ifndef PATHWAYS_AUTODIFF_VJP_H_
#define PATHWAYS_AUTODIFF_VJP_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "pathways/ir/function.h"

namespace pw::autodiff {

// Named scopes of the derivative function: the recomputed forward pass is in scope
// "forward/<the instruction's own scope>", the derivative of an instruction of scope s in
// "backward/s", so a step's trace breaks down into forward and backward time.
inline constexpr std::string_view kForwardScope = "forward";
inline constexpr std::string_view kBackwardScope = "backward";

struct VjpOptions {
  // Indices of the parameters to differentiate with respect to, in the order their cotangents
  // are returned. Empty: every floating-point parameter, in parameter order.
  std::vector<int64_t> wrt;
};

// The reverse-mode derivative of `f`, as a new verified Function
//
//   vjp_f(params..., ct...) -> (outputs..., d<ct, f(params)>/d params[wrt[0]], ...)
//
// with one cotangent parameter `ct` per floating-point output of `f`, in output order, of that
// output's type (integer and boolean outputs take none: they have no derivative). Each
// returned cotangent has its parameter's type; a parameter no output depends on gets zeros.
// `f`'s outputs are recomputed, so vjp_f is one compiled function for a training step's
// forward and backward passes. Collectives transpose as in JAX's pmap: all_reduce(sum) to
// all_reduce(sum), all_gather to reduce_scatter(sum) and back, all_to_all to all_to_all with
// the axes swapped, collective_permute to the inverse permutation.
//
// Where a derivative is not unique, the convention is JAX's: maximum/minimum split ties evenly
// between their operands, reduce(max/min) splits evenly among the tied elements, abs has
// derivative 0 at 0; gather and scatter_add transpose into each other, their indices clamped
// as in the forward ops, and so do dynamic_slice and dynamic_update_slice (at the same clamped
// starts); cumsum transposes to the cumsum running the other way; top_k's indices have no
// derivative (TopK's values differentiate as the select taking them); stop_gradient passes no
// cotangent to its operand.
//
// Errors: INVALID_ARGUMENT when `f` does not verify, or a wrt index is out of range, repeated
// or names a non-floating-point parameter (naming it); UNIMPLEMENTED naming the instruction for
// an op with no derivative here (all_reduce and reduce_scatter of max or min).
absl::StatusOr<ir::Function> Vjp(const ir::Function& f, const VjpOptions& options = {});

// value_and_grad: for `f` whose output 0 is a floating-point scalar (the loss; later outputs
// are auxiliary and not differentiated), the Function
//
//   g(params...) -> (outputs..., d output0 / d params[wrt[0]], ...)
//
// Errors: as Vjp, and INVALID_ARGUMENT naming output 0's type when it is not a float scalar.
absl::StatusOr<ir::Function> ValueAndGrad(const ir::Function& f, const VjpOptions& options = {});

}  // namespace pw::autodiff

#endif  // PATHWAYS_AUTODIFF_VJP_H_
