// BuilderHandle: the FunctionBuilder of one pmap trace as Python sees it — values are small
// integers (ir::Value cannot be rebuilt from an id outside the builder) and every op raises
// ValueError/TypeError with the builder's message the moment it fails.
#ifndef PATHWAYS_PYTHON_SRC_BUILDER_HANDLE_H_
#define PATHWAYS_PYTHON_SRC_BUILDER_HANDLE_H_

#include <cstdint>
#include <memory>
#include <optional>
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
  // A handle that owns its builder: a sub-function traced inside this one (what pw.grad
  // differentiates), for the same gang size. Its values are only its own.
  std::shared_ptr<BuilderHandle> Child(const std::string& name) const;

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

  // Builds `child` (whose outputs are `outputs`, its values) into a Function once (later calls
  // reuse it and ignore `outputs`), differentiates it (`mode` "value_and_grad":
  // autodiff::ValueAndGrad; "vjp": autodiff::Vjp with `cotangents` bound to its cotangent
  // parameters, one per floating-point output), and inlines the derivative here with `args`
  // (this handle's values) as its parameters. Returns this handle's values of the derivative's
  // outputs: the child's outputs, then the cotangents of the `wrt` parameters.
  std::vector<int64_t> Differentiate(BuilderHandle& child, const std::string& mode,
                                     const std::vector<int64_t>& outputs,
                                     const std::vector<int64_t>& wrt,
                                     const std::vector<int64_t>& args,
                                     const std::vector<int64_t>& cotangents);

  // Builds this child (from Child) into a Function returning `outputs` (its values) and
  // retires its tracers; raises ValueError with the builder's message (naming `role`) if that
  // fails.
  ir::Function BuildChild(const std::vector<int64_t>& outputs, const std::string& role);

  // Control flow over traced children (python/src/control_flow.cc). The loop carries `init`
  // then `extras` (values of this handle the children captured, passed through unchanged);
  // each child's parameter i stands for carried value `*_sources[i]`, and the body returns the
  // new values of `init`. Returns this handle's values of the final `init` carries.
  std::vector<int64_t> WhileLoop(BuilderHandle& cond, int64_t cond_out,
                                 const std::vector<int64_t>& cond_sources, BuilderHandle& body,
                                 const std::vector<int64_t>& body_outs,
                                 const std::vector<int64_t>& body_sources,
                                 const std::vector<int64_t>& init,
                                 const std::vector<int64_t>& extras, int64_t max_iterations);
  // Runs branch `index` (i32 scalar of this handle) on `operands` then `extras`; branch i is
  // (child, its output values, its parameter sources). Returns the results' values here.
  std::vector<int64_t> Case(int64_t index, const pybind11::list& branches,
                            const std::vector<int64_t>& operands,
                            const std::vector<int64_t>& extras);

  static void Bind(pybind11::module_& m);

 private:
  std::unique_ptr<ir::FunctionBuilder> owned_;  // set for a Child
  std::optional<ir::Function> built_;           // a Child, once Differentiate built it
  ir::FunctionBuilder* builder_;
  std::vector<ir::Value> values_;
};

}  // namespace pw::python

#endif  // PATHWAYS_PYTHON_SRC_BUILDER_HANDLE_H_
