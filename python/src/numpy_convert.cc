// NumPy <-> ir::Literal copies.
#include "python/src/numpy_convert.h"

#include <cstring>
#include <vector>

namespace py = pybind11;

namespace pw::python {

const char* NumpyName(ir::DType dtype) {
  switch (dtype) {
    case ir::DType::kF32: return "float32";
    case ir::DType::kF64: return "float64";
    case ir::DType::kI32: return "int32";
    case ir::DType::kBool: return "bool";
    default: return "invalid";
  }
}

ir::DType DTypeFromName(const std::string& name) {
  if (name == "float32") return ir::DType::kF32;
  if (name == "float64") return ir::DType::kF64;
  if (name == "int32") return ir::DType::kI32;
  if (name == "bool") return ir::DType::kBool;
  throw py::type_error("pathways has no dtype '" + name + "' (float32, float64, int32, bool)");
}

ir::Literal LiteralFromNumpy(const py::array& array) {
  const std::string name = py::str(array.dtype().attr("name"));
  const ir::DType dtype = DTypeFromName(name);
  std::vector<int64_t> dims(array.shape(), array.shape() + array.ndim());
  ir::TensorType type{dtype, ir::Shape(absl::MakeConstSpan(dims))};
  if (!type.IsValid()) throw py::value_error("array of shape " + type.DebugString() + " is too large");
  // A C-contiguous copy (no copy when the input already is one).
  py::array contiguous = py::array::ensure(array, py::array::c_style);
  if (!contiguous) throw py::type_error("array cannot be made contiguous");
  ir::Literal literal(type);
  if (literal.byte_size() > 0) std::memcpy(literal.untyped_data(), contiguous.data(), literal.byte_size());
  return literal;
}

py::array NumpyFromLiteral(const ir::Literal& literal) {
  py::dtype dtype(NumpyName(literal.dtype()));
  std::vector<py::ssize_t> dims(literal.shape().dims().begin(), literal.shape().dims().end());
  py::array out(dtype, dims);
  if (literal.byte_size() > 0) std::memcpy(out.mutable_data(), literal.untyped_data(), literal.byte_size());
  return out;
}

}  // namespace pw::python
