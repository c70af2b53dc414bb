// ControllerServerSource: the controller's status with every client's lease age, and its trace.
#include "pathways/dashboard/controller_server_source.h"

#include "absl/time/clock.h"

namespace pw {

ClusterStatus ControllerServerSource::Status() {
  ClusterStatus status = server_->controller().Status();
  const absl::Time now = absl::Now();
  for (ClientStatus& c : status.clients) {
    const absl::Duration age = server_->sessions().LeaseAge(c.id, now);
    c.lease_age_millis = age < absl::ZeroDuration() ? -1 : absl::ToInt64Milliseconds(age);
  }
  return status;
}

absl::Status ControllerServerSource::CollectTrace(TraceRecorder& into) {
  server_->CollectTrace(into);
  return absl::OkStatus();
}

}  // namespace pw
