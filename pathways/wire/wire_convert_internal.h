// Error helpers shared by the wire readers (wire_convert*.cc); not part of the transport's API.
#ifndef PATHWAYS_WIRE_WIRE_CONVERT_INTERNAL_H_
#define PATHWAYS_WIRE_WIRE_CONVERT_INTERNAL_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "pathways/base/status.h"

namespace pw::wire::internal {

// "field[i]".
inline std::string Indexed(std::string_view field, int64_t i) {
  return absl::StrCat(ToAbsl(field), "[", i, "]");
}

// INVALID_ARGUMENT "<message>.<field>: <reason...>". Reasons are StrCat arguments.
template <typename... Reason>
absl::Status Invalid(std::string_view message, std::string_view field, const Reason&... reason) {
  return absl::InvalidArgumentError(
      absl::StrCat(ToAbsl(message), ".", ToAbsl(field), ": ", reason...));
}

// An error of a nested message, prefixed by where it sits: "<message>.<field>: <inner error>".
inline absl::Status Nested(const absl::Status& inner, std::string_view message,
                           std::string_view field) {
  return Annotate(inner, absl::StrCat(ToAbsl(message), ".", ToAbsl(field)));
}

// Returns Nested(error) from the enclosing function if `expr` (a StatusOr) failed; otherwise
// assigns its value to `lhs`.
#define PW_WIRE_ASSIGN_OR_RETURN(lhs, rexpr, message, field) \
  PW_WIRE_ASSIGN_OR_RETURN_IMPL_(PW_CONCAT_(pw_wire_or_, __LINE__), lhs, rexpr, message, field)
#define PW_WIRE_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr, message, field)             \
  auto statusor = (rexpr);                                                                \
  if (!statusor.ok()) return ::pw::wire::internal::Nested(statusor.status(), message, field); \
  lhs = std::move(statusor).value()

}  // namespace pw::wire::internal

#endif  // PATHWAYS_WIRE_WIRE_CONVERT_INTERNAL_H_
