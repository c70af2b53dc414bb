// How runtime errors (absl::Status) become Python exceptions: pw.PathwaysError for everything
// the runtime reports, and pw.InvalidArgumentError (also a ValueError) for user mistakes.
#ifndef PATHWAYS_PYTHON_SRC_ERRORS_H_
#define PATHWAYS_PYTHON_SRC_ERRORS_H_

#include <exception>
#include <string>
#include <utility>

#include <pybind11/pybind11.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pw::python {

// Thrown by the binding layer only (the runtime itself never throws); translated to a Python
// exception by RegisterErrors.
class StatusError : public std::exception {
 public:
  explicit StatusError(absl::Status status) : status_(std::move(status)), what_(status_.ToString()) {}
  const absl::Status& status() const { return status_; }
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  absl::Status status_;
  std::string what_;
};

// Creates PathwaysError (a RuntimeError) and InvalidArgumentError (PathwaysError + ValueError)
// in `m` and installs the translator.
void RegisterErrors(pybind11::module_& m);

inline void ThrowIfError(const absl::Status& status) {
  if (!status.ok()) throw StatusError(status);
}
template <typename T>
T ValueOrThrow(absl::StatusOr<T> v) {
  if (!v.ok()) throw StatusError(v.status());
  return *std::move(v);
}

}  // namespace pw::python

#endif  // PATHWAYS_PYTHON_SRC_ERRORS_H_
