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
#include "pathways/dataflow/sharding.h"
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
// device i of `slice`, laid out over the slice's mesh by `sharding` (sharding.h; stacked by
// default: pmap semantics, the global array has a leading axis of size num_shards).
struct ArraySpec {
  ir::TensorType shard_type;
  SliceId slice;
  Sharding sharding;
  friend bool operator==(const ArraySpec&, const ArraySpec&) = default;
};

// One call of a compiled function: shard i of every argument goes to shard i of the function,
// which runs as ONE gang over the slice's devices.
//
// `arg_shardings[j]` is how the function sees argument j as a global array over the slice
// (absent or an empty list: stacked); `out_shardings[k]` how its output k is one. An argument
// whose value lives on other devices or in another layout is resharded host to host before
// the call (the global shapes must agree).
struct ProgramCall {
  std::string name;  // for traces and errors, e.g. "a" or "layer3/matmul"
  FunctionId function;
  SliceId slice;
  std::vector<ValueRef> args;
  std::vector<Sharding> arg_shardings;  // empty, or one per argument
  std::vector<Sharding> out_shardings;  // empty, or one per output
  friend bool operator==(const ProgramCall&, const ProgramCall&) = default;
};

// Where a program output is delivered: on `slice` (invalid: where it was produced) in
// `sharding`. An output placed elsewhere is resharded host to host before it is returned.
struct OutputPlacement {
  SliceId slice;
  Sharding sharding;
  // Copy the value into a new array even where it already has this placement and layout
  // (otherwise such an output is the value itself).
  bool copy = false;
  friend bool operator==(const OutputPlacement&, const OutputPlacement&) = default;
};

struct ProgramDef {
  std::string name;
  std::vector<ArraySpec> inputs;
  std::vector<ProgramCall> calls;  // in trace order; args refer to inputs or earlier calls
  std::vector<ValueRef> outputs;
  // Empty, or one per output (a program of no calls whose output is an input placed elsewhere
  // is a pure reshard).
  std::vector<OutputPlacement> output_placements;
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
