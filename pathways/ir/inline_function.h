// InlineFunction: a Function's instructions added to another function's builder, its
// parameters bound to values there (how a traced sub-function, e.g. a derivative, becomes part
// of the function calling it).
#ifndef PATHWAYS_IR_INLINE_FUNCTION_H_
#define PATHWAYS_IR_INLINE_FUNCTION_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pathways/ir/builder.h"
#include "pathways/ir/function.h"

namespace pw::ir {

// How InlineFunction adds one instruction, given its operands' values in the builder: the
// value that stands for it there, or an error. Null: a copy (AddInstruction with the
// instruction's op, attributes and name).
using EmitInstruction =
    std::function<absl::StatusOr<Value>(const Instruction& inst, absl::Span<const Value> operands)>;

// Adds every instruction of `f` that an output depends on to `b`, parameter i bound to
// `args[i]`; returns the value of each instruction of `f` by id (invalid for the ones no
// output needs). `f` must be verified. Errors: INVALID_ARGUMENT naming the function for a
// wrong number of arguments, an argument whose type differs from its parameter's, or a gang
// size (num_shards) different from the builder's; `emit`'s errors; the builder's own first
// error otherwise.
absl::StatusOr<std::vector<Value>> InlineFunction(FunctionBuilder& b, const Function& f,
                                                  absl::Span<const Value> args,
                                                  const EmitInstruction& emit = nullptr);

// The values of `f`'s outputs, from InlineFunction's result.
std::vector<Value> OutputsOf(const Function& f, const std::vector<Value>& values);

// "outer/inner" (either may be empty), cut at kMaxScopeLength. InlineFunction gives each
// inlined instruction JoinScopes(the builder's scope, its own scope).
std::string JoinScopes(std::string_view outer, std::string_view inner);

}  // namespace pw::ir

#endif  // PATHWAYS_IR_INLINE_FUNCTION_H_
