// CallTracker: the gRPC calls a stub has in flight, so its owner can cancel them and wait for
// their callbacks before it goes away (a callback touching a destroyed owner is a crash).
#ifndef PATHWAYS_RPC_GRPC_CALL_TRACKER_H_
#define PATHWAYS_RPC_GRPC_CALL_TRACKER_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace pw::grpc_transport {

// Thread-safe. Owners hold it by shared_ptr and callbacks keep a copy, so End() never touches a
// destroyed tracker even when the owner's destructor returns the moment the count drops to 0.
class CallTracker {
 public:
  CallTracker() = default;
  CallTracker(const CallTracker&) = delete;
  CallTracker& operator=(const CallTracker&) = delete;

  // Registers a call about to start; false once Close() was called (the call must not start).
  bool Begin(grpc::ClientContext* context);
  // The call's callback (or the blocking call) finished; the last thing a callback does.
  void End(grpc::ClientContext* context);
  // End in two steps, for a callback that destroys its context before it returns: Detach (no
  // more cancellation of `context`; it may be destroyed after this), then Done (the last thing).
  void Detach(grpc::ClientContext* context);
  void Done();
  // Cancels every call in flight (they finish with CANCELLED); new calls may still start.
  void CancelAll();
  // Refuses new calls, cancels those in flight and waits until every one has ended.
  void CloseAndWait();
  int64_t in_flight() const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_set<grpc::ClientContext*> calls_ ABSL_GUARDED_BY(mu_);  // cancellable
  int64_t active_ ABSL_GUARDED_BY(mu_) = 0;  // begun and not done
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

// A deadline `timeout` from now, for ClientContext::set_deadline.
inline std::chrono::system_clock::time_point DeadlineIn(absl::Duration timeout) {
  return absl::ToChronoTime(absl::Now() + timeout);
}

}  // namespace pw::grpc_transport

#endif  // PATHWAYS_RPC_GRPC_CALL_TRACKER_H_
