// Function: a static-shaped compiled function in SSA form (our stand-in for an XLA HLO module).
#ifndef PATHWAYS_IR_FUNCTION_H_
#define PATHWAYS_IR_FUNCTION_H_

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "pathways/ir/op.h"
#include "pathways/ir/shape.h"

namespace pw::ir {

// The longest named-scope path an instruction may carry.
inline constexpr int64_t kMaxScopeLength = 1024;
// How deep control-flow regions may nest (a loop in a branch in a loop ... ).
inline constexpr int64_t kMaxRegionDepth = 16;

// One SSA value: the single result of an operation.
struct Instruction {
  int64_t id = -1;  // value id; in a verified Function, equal to the index in instructions()
  OpCode op = OpCode::kInvalid;
  std::vector<int64_t> operands;  // value ids
  TensorType type;                // result type
  Attributes attrs;
  std::string name;  // optional, for messages and the text form
  // Named-scope path ("train_step/forward/attention"; "" for none): executables emit one trace
  // event per run of consecutive instructions of one scope, so a step's time breaks down by it.
  std::string scope;

  // "%3" or "%3 \"logits\"", with the op name: "%3 (add)".
  std::string DebugName() const;
  friend bool operator==(const Instruction&, const Instruction&) = default;
};

// A function the Builder made or the deserializer read. A *verified* function (Verify() OK)
// has instructions in topological order with id == index, operands defined earlier, parameter
// indices 0..k-1 in `parameters` order, and every result type equal to what shape inference
// gives; kernels and the runtime rely on that and call Verify() on anything they did not build.
struct Function {
  std::string name;
  // Size of the gang running the function: the number of shards collectives span. Collectives
  // whose result shape depends on it (all_gather, reduce_scatter, all_to_all) are typed with it.
  int64_t num_shards = 1;
  std::vector<Instruction> instructions;
  std::vector<int64_t> parameters;  // ids of the parameter instructions, by parameter index
  std::vector<int64_t> outputs;     // ids of the returned values, in order

  const Instruction& instruction(int64_t id) const { return instructions[id]; }
  std::vector<TensorType> parameter_types() const;
  std::vector<TensorType> output_types() const;
  // live[id]: some output depends on instruction `id` (operands precede their users); only
  // those run.
  std::vector<bool> live_instructions() const;
  // Some instruction, here or in a nested region, is a collective.
  bool HasCollectives() const;

  // Readable text form (see printer.cc), for debugging and error messages.
  std::string ToString() const;
  friend bool operator==(const Function&, const Function&) = default;
};

// Checks every invariant of a verified function (see above), re-running shape inference on
// every instruction, and verifies the regions of control-flow ops (nested at most
// kMaxRegionDepth deep); a tuple (ir/tuple.h) is used only by get_result, whose index and type
// must match its operand's results. Errors are InvalidArgument naming the function, the
// instruction and its operands.
absl::Status Verify(const Function& function);

// ToString() form, so test failures comparing Functions show the functions.
std::ostream& operator<<(std::ostream& os, const Function& function);

}  // namespace pw::ir

#endif  // PATHWAYS_IR_FUNCTION_H_
