// Errors every Device backend shares.
#include "pathways/device/device.h"

#include "absl/strings/str_cat.h"
#include "pathways/base/status.h"

namespace pw {

absl::Status DeviceDestroyedError(std::string_view device, std::string_view item) {
  return absl::AbortedError(absl::StrCat("device destroyed: ", ToAbsl(device),
                                         " was destroyed before stream item '", ToAbsl(item),
                                         "' could run (it waits on an unfinished event)"));
}

}  // namespace pw
