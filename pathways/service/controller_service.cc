// ControllerService value types: ConnectOptions' bounds.
#include "pathways/service/controller_service.h"

#include "absl/strings/str_cat.h"

namespace pw {

absl::Status ValidateConnectOptions(const ConnectOptions& options) {
  if (options.weight < 1 || options.weight > kMaxClientWeight) {
    return absl::InvalidArgumentError(absl::StrCat("Connect: weight ", options.weight,
                                                   " is outside [1, ", kMaxClientWeight, "]"));
  }
  if (options.priority < -kMaxClientPriority || options.priority > kMaxClientPriority) {
    return absl::InvalidArgumentError(absl::StrCat("Connect: priority ", options.priority,
                                                   " is outside [", -kMaxClientPriority, ", ",
                                                   kMaxClientPriority, "]"));
  }
  return absl::OkStatus();
}

}  // namespace pw
