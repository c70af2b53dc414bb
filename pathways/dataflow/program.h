// ProgramDef: a traced, device-location-agnostic program — calls of compiled functions on slices.
//
// This is what a client submits: either one call (op-by-op) or a whole traced block (the paper's
// `@program`). It names functions and virtual slices by id; lowering (lowering.h) turns it into
// a sharded dataflow graph on physical devices.
#ifndef PATHWAYS_DATAFLOW_PROGRAM_H_
#define PATHWAYS_DATAFLOW_PROGRAM_H_

#include <cstdint>
#include <string>
#include <vector>

#include "pathways/base/ids.h"
#include "pathways/ir/shape.h"

namespace pw {

// A value of a program: program input `index` (node == kProgramInput) or output `index` of
// call `node`.
struct ValueRef {
  static constexpr int64_t kProgramInput = -1;
  int64_t node = kProgramInput;
  int64_t index = 0;
  friend bool operator==(const ValueRef&, const ValueRef&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const ValueRef& v) {
    return H::combine(std::move(h), v.node, v.index);
  }
};

// A sharded array as a program sees it: `num_shards` shards of `shard_type`, shard i on virtual
// device i of `slice` (pmap semantics: the global array has a leading axis of size num_shards).
struct ArraySpec {
  ir::TensorType shard_type;
  SliceId slice;
  friend bool operator==(const ArraySpec&, const ArraySpec&) = default;
};

// One call of a compiled function with pmap semantics: shard i of every argument goes to shard i
// of the function, which runs as ONE gang over the slice's devices.
struct ProgramCall {
  std::string name;  // for traces and errors, e.g. "a" or "layer3/matmul"
  FunctionId function;
  SliceId slice;
  std::vector<ValueRef> args;
  friend bool operator==(const ProgramCall&, const ProgramCall&) = default;
};

struct ProgramDef {
  std::string name;
  std::vector<ArraySpec> inputs;
  std::vector<ProgramCall> calls;  // in trace order; args refer to inputs or earlier calls
  std::vector<ValueRef> outputs;
  friend bool operator==(const ProgramDef&, const ProgramDef&) = default;
};

// What lowering needs to know of a registered function.
struct FunctionSignature {
  FunctionId id;
  std::string name;
  int64_t num_shards = 1;
  std::vector<ir::TensorType> parameter_types;  // per shard
  std::vector<ir::TensorType> output_types;     // per shard
};

}  // namespace pw

#endif  // PATHWAYS_DATAFLOW_PROGRAM_H_
