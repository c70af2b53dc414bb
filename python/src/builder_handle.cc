// BuilderHandle and its Python binding (the ops tracers record).
#include "python/src/builder_handle.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "absl/strings/match.h"
#include "pathways/autodiff/vjp.h"
#include "pathways/ir/inline_function.h"
#include "python/src/numpy_convert.h"

namespace py = pybind11;

namespace pw::python {

namespace {

ir::Shape ToShape(const std::vector<int64_t>& dims) { return ir::Shape(absl::MakeConstSpan(dims)); }

ir::ReduceKind ParseReduceKind(const std::string& kind) {
  if (kind == "sum") return ir::ReduceKind::kSum;
  if (kind == "max") return ir::ReduceKind::kMax;
  if (kind == "min") return ir::ReduceKind::kMin;
  throw py::value_error("unknown reduction '" + kind + "' (sum, max, min)");
}

ir::ComparisonDirection ParseComparison(const std::string& dir) {
  if (dir == "EQ") return ir::ComparisonDirection::kEq;
  if (dir == "NE") return ir::ComparisonDirection::kNe;
  if (dir == "LT") return ir::ComparisonDirection::kLt;
  if (dir == "LE") return ir::ComparisonDirection::kLe;
  if (dir == "GT") return ir::ComparisonDirection::kGt;
  if (dir == "GE") return ir::ComparisonDirection::kGe;
  throw py::value_error("unknown comparison '" + dir + "'");
}

ir::OpCode ParseOp(const std::string& name) {
  absl::StatusOr<ir::OpCode> op = ir::ParseOpName(name);
  if (!op.ok()) throw py::value_error(std::string(op.status().message()));
  return *op;
}

}  // namespace

BuilderHandle::BuilderHandle(ir::FunctionBuilder* builder, absl::Span<const ir::Value> parameters)
    : builder_(builder), values_(parameters.begin(), parameters.end()) {}

std::shared_ptr<BuilderHandle> BuilderHandle::Child(const std::string& name) const {
  auto child = std::make_shared<BuilderHandle>(nullptr, absl::Span<const ir::Value>());
  child->owned_ = std::make_unique<ir::FunctionBuilder>(
      name, ir::FunctionOptions{.num_shards = builder().num_shards()});
  child->builder_ = child->owned_.get();
  return child;
}

std::vector<int64_t> BuilderHandle::Differentiate(BuilderHandle& child, const std::string& mode,
                                                  const std::vector<int64_t>& outputs,
                                                  const std::vector<int64_t>& wrt,
                                                  const std::vector<int64_t>& args,
                                                  const std::vector<int64_t>& cotangents) {
  if (child.owned_ == nullptr) {
    throw py::value_error("differentiate: the child must come from Builder.child (a pmap's own "
                          "builder cannot be differentiated in place)");
  }
  if (mode != "value_and_grad" && mode != "vjp") {
    throw py::value_error("differentiate: mode must be 'value_and_grad' or 'vjp', got '" + mode + "'");
  }
  if (!child.built_.has_value()) {
    std::vector<ir::Value> out_values;
    for (int64_t o : outputs) out_values.push_back(child.Get(o));
    absl::StatusOr<ir::Function> f = child.builder().Build(out_values);
    child.Invalidate();  // its tracers are spent; the Function stays for later derivatives
    if (!f.ok()) throw py::value_error(std::string(f.status().message()));
    child.built_ = *std::move(f);
  }
  std::vector<ir::Value> arg_values;
  for (int64_t a : args) arg_values.push_back(Get(a));
  for (int64_t c : cotangents) arg_values.push_back(Get(c));
  const autodiff::VjpOptions options{.wrt = std::vector<int64_t>(wrt.begin(), wrt.end())};
  absl::StatusOr<ir::Function> d = mode == "value_and_grad"
                                       ? autodiff::ValueAndGrad(*child.built_, options)
                                       : autodiff::Vjp(*child.built_, options);
  if (!d.ok()) {
    if (absl::IsUnimplemented(d.status())) throw py::type_error(std::string(d.status().message()));
    throw py::value_error(std::string(d.status().message()));
  }
  absl::StatusOr<std::vector<ir::Value>> values = ir::InlineFunction(builder(), *d, arg_values);
  if (!values.ok()) throw py::value_error(std::string(values.status().message()));
  std::vector<int64_t> ids;
  for (ir::Value v : ir::OutputsOf(*d, *values)) ids.push_back(Add(v));
  return ids;
}

ir::Function BuilderHandle::BuildChild(const std::vector<int64_t>& outputs, const std::string& role) {
  if (owned_ == nullptr) throw py::value_error(role + ": not a child builder");
  std::vector<ir::Value> out_values;
  for (int64_t o : outputs) out_values.push_back(Get(o));
  absl::StatusOr<ir::Function> f = builder().Build(out_values);
  Invalidate();
  if (!f.ok()) throw py::value_error(role + ": " + std::string(f.status().message()));
  return *std::move(f);
}

ir::FunctionBuilder& BuilderHandle::builder() const {
  if (builder_ == nullptr) {
    throw py::value_error(
        "this tracer belongs to a pmap trace that has finished; values computed inside a pmapped "
        "function cannot be used outside it (return them instead)");
  }
  return *builder_;
}

int64_t BuilderHandle::num_shards() const { return builder().num_shards(); }

ir::Value BuilderHandle::Get(int64_t index) const {
  builder();  // raises if stale
  if (index < 0 || index >= static_cast<int64_t>(values_.size())) {
    throw py::value_error("unknown traced value " + std::to_string(index));
  }
  return values_[index];
}

int64_t BuilderHandle::Add(ir::Value v) {
  const ir::FunctionBuilder& b = builder();
  if (!v.valid() || !b.status().ok()) {
    const std::string message(b.status().message());
    // The builder requires exact dtype matches; a mismatch is a type error in Python terms.
    if (absl::StrContains(message, "dtype") || absl::StrContains(message, "element type")) {
      throw py::type_error(message);
    }
    throw py::value_error(message.empty() ? std::string("invalid traced value") : message);
  }
  values_.push_back(v);
  return static_cast<int64_t>(values_.size()) - 1;
}

py::tuple BuilderHandle::TypeOf(int64_t index) const {
  const ir::TensorType& t = builder().TypeOf(Get(index));
  py::tuple shape(t.shape.rank());
  for (int64_t i = 0; i < t.shape.rank(); ++i) shape[i] = py::int_(t.shape.dim(i));
  return py::make_tuple(NumpyName(t.dtype), shape);
}

void BuilderHandle::Bind(py::module_& m) {
  using H = BuilderHandle;
  py::class_<H, std::shared_ptr<H>>(m, "Builder")
      .def_property_readonly("alive", &H::alive)
      .def_property_readonly("num_shards", &H::num_shards)
      .def("type_of", &H::TypeOf)
      .def("constant", [](H& h, const py::array& a) { return h.Add(h.builder().Constant(LiteralFromNumpy(a))); })
      .def("scalar", [](H& h, const std::string& dtype, double v) {
        return h.Add(h.builder().ScalarLike(DTypeFromName(dtype), v));
      })
      .def("iota", [](H& h, const std::string& dtype, std::vector<int64_t> shape, int64_t axis) {
        return h.Add(h.builder().Iota({DTypeFromName(dtype), ToShape(shape)}, axis));
      })
      .def("unary", [](H& h, const std::string& op, int64_t x) {
        return h.Add(h.builder().Unary(ParseOp(op), h.Get(x)));
      })
      .def("binary", [](H& h, const std::string& op, int64_t a, int64_t b) {
        return h.Add(h.builder().Binary(ParseOp(op), h.Get(a), h.Get(b)));
      })
      .def("compare", [](H& h, const std::string& dir, int64_t a, int64_t b) {
        return h.Add(h.builder().Compare(h.Get(a), h.Get(b), ParseComparison(dir)));
      })
      .def("select", [](H& h, int64_t p, int64_t t, int64_t f) {
        return h.Add(h.builder().Select(h.Get(p), h.Get(t), h.Get(f)));
      })
      .def("convert", [](H& h, int64_t x, const std::string& dtype) {
        return h.Add(h.builder().Convert(h.Get(x), DTypeFromName(dtype)));
      })
      .def("broadcast_in_dim", [](H& h, int64_t x, std::vector<int64_t> shape, std::vector<int64_t> dims) {
        return h.Add(h.builder().BroadcastInDim(h.Get(x), ToShape(shape), std::move(dims)));
      })
      .def("broadcast_to", [](H& h, int64_t x, std::vector<int64_t> shape) {
        return h.Add(h.builder().BroadcastTo(h.Get(x), ToShape(shape)));
      })
      .def("reshape", [](H& h, int64_t x, std::vector<int64_t> shape) {
        return h.Add(h.builder().Reshape(h.Get(x), ToShape(shape)));
      })
      .def("transpose", [](H& h, int64_t x, std::vector<int64_t> perm) {
        return h.Add(h.builder().Transpose(h.Get(x), std::move(perm)));
      })
      .def("slice", [](H& h, int64_t x, std::vector<int64_t> starts, std::vector<int64_t> limits,
                       std::vector<int64_t> strides) {
        return h.Add(h.builder().Slice(h.Get(x), std::move(starts), std::move(limits), std::move(strides)));
      })
      .def("concatenate", [](H& h, const std::vector<int64_t>& xs, int64_t axis) {
        std::vector<ir::Value> values;
        for (int64_t x : xs) values.push_back(h.Get(x));
        return h.Add(h.builder().Concatenate(values, axis));
      })
      .def("gather", [](H& h, int64_t x, int64_t indices, int64_t axis) {
        return h.Add(h.builder().Gather(h.Get(x), h.Get(indices), axis));
      })
      .def("scatter_add", [](H& h, int64_t x, int64_t indices, int64_t updates, int64_t axis) {
        return h.Add(h.builder().ScatterAdd(h.Get(x), h.Get(indices), h.Get(updates), axis));
      })
      .def("dynamic_slice", [](H& h, int64_t x, const std::vector<int64_t>& starts,
                               std::vector<int64_t> sizes) {
        std::vector<ir::Value> s;
        for (int64_t v : starts) s.push_back(h.Get(v));
        return h.Add(h.builder().DynamicSlice(h.Get(x), s, std::move(sizes)));
      })
      .def("dynamic_update_slice", [](H& h, int64_t x, int64_t update,
                                      const std::vector<int64_t>& starts) {
        std::vector<ir::Value> s;
        for (int64_t v : starts) s.push_back(h.Get(v));
        return h.Add(h.builder().DynamicUpdateSlice(h.Get(x), h.Get(update), s));
      })
      .def("cumsum", [](H& h, int64_t x, int64_t axis, bool reverse) {
        return h.Add(h.builder().Cumsum(h.Get(x), axis, reverse));
      })
      .def("top_k", [](H& h, int64_t x, int64_t k) {
        auto [values, indices] = h.builder().TopK(h.Get(x), k);
        const int64_t v = h.Add(values);
        return std::make_pair(v, h.Add(indices));
      })
      .def("dot", [](H& h, int64_t a, int64_t b) { return h.Add(h.builder().Dot(h.Get(a), h.Get(b))); })
      .def("dot_general", [](H& h, int64_t a, int64_t b, std::vector<int64_t> lhs_contracting,
                             std::vector<int64_t> rhs_contracting, std::vector<int64_t> lhs_batch,
                             std::vector<int64_t> rhs_batch) {
        ir::DotDimensionNumbers dn{std::move(lhs_batch), std::move(rhs_batch), std::move(lhs_contracting),
                                   std::move(rhs_contracting)};
        return h.Add(h.builder().DotGeneral(h.Get(a), h.Get(b), std::move(dn)));
      })
      .def("reduce", [](H& h, int64_t x, std::vector<int64_t> axes, const std::string& kind) {
        return h.Add(h.builder().Reduce(h.Get(x), std::move(axes), ParseReduceKind(kind)));
      })
      // `groups`: the shard groups the collective runs within (empty: the whole gang).
      .def("all_reduce", [](H& h, int64_t x, const std::string& kind, ir::ShardGroups groups) {
        return h.Add(h.builder().AllReduce(h.Get(x), ParseReduceKind(kind), std::move(groups)));
      }, py::arg("x"), py::arg("kind"), py::arg("groups") = ir::ShardGroups{})
      .def("all_gather", [](H& h, int64_t x, int64_t axis, ir::ShardGroups groups) {
        return h.Add(h.builder().AllGather(h.Get(x), axis, std::move(groups)));
      }, py::arg("x"), py::arg("axis"), py::arg("groups") = ir::ShardGroups{})
      .def("reduce_scatter", [](H& h, int64_t x, int64_t axis, const std::string& kind,
                                ir::ShardGroups groups) {
        return h.Add(h.builder().ReduceScatter(h.Get(x), axis, ParseReduceKind(kind), std::move(groups)));
      }, py::arg("x"), py::arg("axis"), py::arg("kind"), py::arg("groups") = ir::ShardGroups{})
      .def("all_to_all", [](H& h, int64_t x, int64_t split_axis, int64_t concat_axis,
                            ir::ShardGroups groups) {
        return h.Add(h.builder().AllToAll(h.Get(x), split_axis, concat_axis, std::move(groups)));
      }, py::arg("x"), py::arg("split_axis"), py::arg("concat_axis"), py::arg("groups") = ir::ShardGroups{})
      .def("collective_permute", [](H& h, int64_t x, std::vector<std::pair<int64_t, int64_t>> pairs) {
        return h.Add(h.builder().CollectivePermute(h.Get(x), std::move(pairs)));
      })
      .def("shard_index", [](H& h) { return h.Add(h.builder().ShardIndex()); })
      .def("push_scope", [](H& h, const std::string& name) { h.builder().PushScope(name); })
      .def("pop_scope", [](H& h) { h.builder().PopScope(); })
      .def("child", &H::Child, py::arg("name"))
      .def("parameter", [](H& h, const std::string& dtype, std::vector<int64_t> shape) {
        return h.Add(h.builder().Parameter(ir::TensorType{DTypeFromName(dtype), ToShape(shape)}));
      })
      .def("differentiate", &H::Differentiate, py::arg("child"), py::arg("mode"), py::arg("outputs"),
           py::arg("wrt"), py::arg("args"), py::arg("cotangents"))
      .def("while_loop", &H::WhileLoop, py::arg("cond"), py::arg("cond_out"),
           py::arg("cond_sources"), py::arg("body"), py::arg("body_outs"),
           py::arg("body_sources"), py::arg("init"), py::arg("extras"),
           py::arg("max_iterations"))
      .def("case", &H::Case, py::arg("index"), py::arg("branches"), py::arg("operands"),
           py::arg("extras"));
}

}  // namespace pw::python
