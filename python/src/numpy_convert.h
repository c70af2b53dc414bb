// Conversions between NumPy arrays and the runtime's host values (ir::Literal, ir::DType).
#ifndef PATHWAYS_PYTHON_SRC_NUMPY_CONVERT_H_
#define PATHWAYS_PYTHON_SRC_NUMPY_CONVERT_H_

#include <string>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "pathways/ir/literal.h"

namespace pw::python {

// "float32", "float64", "int32", "bool": NumPy's names, which the Python layer uses throughout.
const char* NumpyName(ir::DType dtype);
// Inverse of NumpyName; raises TypeError for anything else.
ir::DType DTypeFromName(const std::string& name);

// Copies a NumPy array into a literal. The dtype must already be one the runtime has (the
// Python layer canonicalizes int64 -> int32 first); raises TypeError otherwise.
ir::Literal LiteralFromNumpy(const pybind11::array& array);
// A fresh NumPy array holding the literal's elements.
pybind11::array NumpyFromLiteral(const ir::Literal& literal);

}  // namespace pw::python

#endif  // PATHWAYS_PYTHON_SRC_NUMPY_CONVERT_H_
