// BuilderHandle::WhileLoop and BuilderHandle::Case: traced children become the regions of a
// while or case.
//
// Python traces cond, body and branches as children of the enclosing trace. Each child has its
// own parameters (the carried values it reads, then the enclosing values it captured, in the
// order it captured them), so before they become regions every child is adapted to one
// signature: all carried values, then all captured values (passed through by a loop body).
#include <pybind11/stl.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pathways/ir/inline_function.h"
#include "python/src/builder_handle.h"

namespace py = pybind11;

namespace pw::python {
namespace {

// `f` as a function of `unified` values: its parameter i is unified value sources[i]. With
// `pass_from` >= 0, unified values from `pass_from` on are also returned, unchanged.
ir::Function Adapt(const ir::Function& f, const std::vector<ir::TensorType>& unified,
                   const std::vector<int64_t>& sources, int64_t pass_from, int64_t num_shards) {
  if (sources.size() != f.parameters.size()) {
    throw py::value_error(absl::StrCat("'", f.name, "' has ", f.parameters.size(),
                                       " parameters but ", sources.size(), " sources"));
  }
  ir::FunctionBuilder b(f.name, ir::FunctionOptions{.num_shards = num_shards});
  std::vector<ir::Value> params;
  for (const ir::TensorType& t : unified) params.push_back(b.Parameter(t));
  std::vector<ir::Value> args;
  for (int64_t s : sources) {
    if (s < 0 || s >= static_cast<int64_t>(unified.size())) {
      throw py::value_error(absl::StrCat("'", f.name, "': parameter source ", s, " out of range"));
    }
    args.push_back(params[s]);
  }
  absl::StatusOr<std::vector<ir::Value>> values = ir::InlineFunction(b, f, args);
  if (!values.ok()) throw py::value_error(std::string(values.status().message()));
  std::vector<ir::Value> outs = ir::OutputsOf(f, *values);
  if (pass_from >= 0) outs.insert(outs.end(), params.begin() + pass_from, params.end());
  absl::StatusOr<ir::Function> adapted = b.Build(outs);
  if (!adapted.ok()) throw py::value_error(std::string(adapted.status().message()));
  return *std::move(adapted);
}

}  // namespace

std::vector<int64_t> BuilderHandle::WhileLoop(
    BuilderHandle& cond, int64_t cond_out, const std::vector<int64_t>& cond_sources,
    BuilderHandle& body, const std::vector<int64_t>& body_outs,
    const std::vector<int64_t>& body_sources, const std::vector<int64_t>& init,
    const std::vector<int64_t>& extras, int64_t max_iterations) {
  std::vector<ir::Value> carried;
  std::vector<ir::TensorType> types;
  for (int64_t v : init) carried.push_back(Get(v));
  for (int64_t v : extras) carried.push_back(Get(v));
  for (ir::Value v : carried) types.push_back(builder().TypeOf(v));
  const ir::Function c = cond.BuildChild({cond_out}, "while_loop cond_fun");
  const ir::Function f = body.BuildChild(body_outs, "while_loop body_fun");
  const int64_t shards = num_shards();
  std::vector<ir::Value> results =
      builder().While(Adapt(c, types, cond_sources, -1, shards),
                      Adapt(f, types, body_sources, static_cast<int64_t>(init.size()), shards),
                      carried, max_iterations);
  std::vector<int64_t> ids;
  for (size_t i = 0; i < init.size(); ++i)
    ids.push_back(Add(results.empty() ? ir::Value() : results[i]));
  return ids;
}

std::vector<int64_t> BuilderHandle::Case(int64_t index, const py::list& branches,
                                         const std::vector<int64_t>& operands,
                                         const std::vector<int64_t>& extras) {
  std::vector<ir::Value> values;
  std::vector<ir::TensorType> types;
  for (int64_t v : operands) values.push_back(Get(v));
  for (int64_t v : extras) values.push_back(Get(v));
  for (ir::Value v : values) types.push_back(builder().TypeOf(v));
  std::vector<ir::Function> regions;
  for (size_t i = 0; i < branches.size(); ++i) {
    auto branch = branches[i].cast<py::tuple>();
    auto& child = branch[0].cast<BuilderHandle&>();
    const ir::Function f =
        child.BuildChild(branch[1].cast<std::vector<int64_t>>(), absl::StrCat("branch ", i));
    regions.push_back(Adapt(f, types, branch[2].cast<std::vector<int64_t>>(), -1, num_shards()));
  }
  const ir::Value idx = Get(index);
  std::vector<ir::Value> results = builder().Case(idx, std::move(regions), values);
  std::vector<int64_t> ids;
  if (results.empty()) Add(ir::Value());  // raises with the builder's error
  for (ir::Value v : results) ids.push_back(Add(v));
  return ids;
}

}  // namespace pw::python
