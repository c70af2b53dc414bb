// Status helpers.
#include "pathways/base/status.h"

#include "absl/strings/str_cat.h"

namespace pw {

absl::Status Annotate(const absl::Status& status, std::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(),
                      absl::StrCat(ToAbsl(context), ": ", status.message()));
}

}  // namespace pw
