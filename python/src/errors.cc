// Python exception types for runtime errors.
#include "python/src/errors.h"

namespace py = pybind11;

namespace pw::python {

namespace {
// Owned by the module (which keeps a reference as an attribute) for the process's lifetime.
PyObject* pathways_error = nullptr;
PyObject* invalid_argument_error = nullptr;
}  // namespace

void RegisterErrors(py::module_& m) {
  pathways_error = PyErr_NewExceptionWithDoc(
      "pathways.PathwaysError", "An error reported by the Pathways runtime (its message names the culprit).",
      PyExc_RuntimeError, nullptr);
  py::tuple bases = py::make_tuple(py::handle(pathways_error), py::handle(PyExc_ValueError));
  invalid_argument_error = PyErr_NewExceptionWithDoc(
      "pathways.InvalidArgumentError", "The runtime rejected a request as malformed (also a ValueError).",
      bases.ptr(), nullptr);
  m.attr("PathwaysError") = py::handle(pathways_error);
  m.attr("InvalidArgumentError") = py::handle(invalid_argument_error);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const StatusError& e) {
      PyObject* type = e.status().code() == absl::StatusCode::kInvalidArgument ? invalid_argument_error
                                                                               : pathways_error;
      py::object exc = py::reinterpret_steal<py::object>(
          PyObject_CallFunction(type, "s", std::string(e.status().message()).c_str()));
      if (!exc) return;  // PyObject_CallFunction set the error
      exc.attr("code") = absl::StatusCodeToString(e.status().code());
      PyErr_SetObject(type, exc.ptr());
    }
  });
}

}  // namespace pw::python
