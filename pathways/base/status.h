// Status helpers: early-return macros over absl::Status / absl::StatusOr.
#ifndef PATHWAYS_BASE_STATUS_H_
#define PATHWAYS_BASE_STATUS_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#define PW_CONCAT_INNER_(a, b) a##b
#define PW_CONCAT_(a, b) PW_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (a Status) is not OK.
#define PW_RETURN_IF_ERROR(expr)                      \
  do {                                                \
    ::absl::Status pw_status_ = (expr);               \
    if (!pw_status_.ok()) return pw_status_;          \
  } while (0)

// PW_ASSIGN_OR_RETURN(auto x, StatusOrExpr()): assigns the value or returns the error.
#define PW_ASSIGN_OR_RETURN(lhs, rexpr) \
  PW_ASSIGN_OR_RETURN_IMPL_(PW_CONCAT_(pw_statusor_, __LINE__), lhs, rexpr)
#define PW_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                              \
  if (!statusor.ok()) return statusor.status();         \
  lhs = std::move(statusor).value()

namespace pw {

// Debian's Abseil has its own string_view; these convert explicitly at the boundary.
inline absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view ToStd(absl::string_view s) { return std::string_view(s.data(), s.size()); }

// Returns `status` with `context` prepended to its message, keeping its code.
absl::Status Annotate(const absl::Status& status, std::string_view context);

}  // namespace pw

#endif  // PATHWAYS_BASE_STATUS_H_
