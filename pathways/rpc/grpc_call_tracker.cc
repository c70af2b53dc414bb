// CallTracker.
#include "pathways/rpc/grpc_call_tracker.h"

namespace pw::grpc_transport {

bool CallTracker::Begin(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  if (closed_) return false;
  calls_.insert(context);
  ++active_;
  return true;
}

void CallTracker::End(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  calls_.erase(context);
  --active_;
}

void CallTracker::Detach(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  calls_.erase(context);
}

void CallTracker::Done() {
  absl::MutexLock lock(&mu_);
  --active_;
}

void CallTracker::CancelAll() {
  absl::MutexLock lock(&mu_);
  // TryCancel only requests cancellation (the callback runs later, on a gRPC thread), so it is
  // safe under the lock End() takes.
  for (grpc::ClientContext* context : calls_) context->TryCancel();
}

void CallTracker::CloseAndWait() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  for (grpc::ClientContext* context : calls_) context->TryCancel();
  mu_.Await(absl::Condition(+[](int64_t* active) { return *active == 0; }, &active_));
}

int64_t CallTracker::in_flight() const {
  absl::MutexLock lock(&mu_);
  return active_;
}

}  // namespace pw::grpc_transport
