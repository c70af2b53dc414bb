// BuilderHandle: the FunctionBuilder of one pmap trace as Python sees it — values are small
// integers (ir::Value cannot be rebuilt from an id outside the builder) and every op raises
// ValueError/TypeError with the builder's message the moment it fails.
#ifndef PATHWAYS_PYTHON_SRC_BUILDER_HANDLE_H_
#define PATHWAYS_PYTHON_SRC_BUILDER_HANDLE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <pybind11/pybind11.h>

#include "absl/types/span.h"
#include "pathways/ir/builder.h"

namespace pw::python {

// Valid only while the trace that created it runs (the builder lives on PmapFunction's stack);
// Invalidate() is called when the trace returns so a tracer leaked out of the traced function
// raises instead of touching a dead builder. Not thread-safe (used under the GIL).
class BuilderHandle {
 public:
  BuilderHandle(ir::FunctionBuilder* builder, absl::Span<const ir::Value> parameters);

  bool alive() const { return builder_ != nullptr; }
  void Invalidate() { builder_ = nullptr; }
  int64_t num_shards() const;
  const std::vector<ir::Value>& values() const { return values_; }
  // The ir::Value behind a Python value index; raises ValueError for a stale or unknown one.
  ir::Value Get(int64_t index) const;
  // Records `v` and returns its index; raises ValueError (TypeError for dtype problems) carrying
  // the builder's first error if `v` is invalid.
  int64_t Add(ir::Value v);
  ir::FunctionBuilder& builder() const;
  // (dtype name, shape tuple) of a value.
  pybind11::tuple TypeOf(int64_t index) const;

  static void Bind(pybind11::module_& m);

 private:
  ir::FunctionBuilder* builder_;
  std::vector<ir::Value> values_;
};

}  // namespace pw::python

#endif  // PATHWAYS_PYTHON_SRC_BUILDER_HANDLE_H_
