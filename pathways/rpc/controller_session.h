// ControllerSession: one client's ControllerApi.Session stream, as GrpcControllerClient uses it
// for the calls of an op-by-op loop (runs, array waits, releases): one persistent stream per
// client instead of a unary call each, so a call costs a message on an open stream, not a gRPC
// call's setup and teardown on both sides (services.proto, SessionCall).
#ifndef PATHWAYS_RPC_CONTROLLER_SESSION_H_
#define PATHWAYS_RPC_CONTROLLER_SESSION_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/client_callback.h"
#include "pathways/rpc/services.grpc.pb.h"

namespace pw::grpc_transport {

// A session stream's bounds, which the controller enforces: calls per message, and array waits
// a stream may have pending at once (a further one is answered RESOURCE_EXHAUSTED); it also
// reads no further message while kMaxSessionCalls answers wait to be written.
inline constexpr int kMaxSessionCalls = 1024;
inline constexpr int64_t kMaxSessionAwaits = 1 << 16;
// Session streams one client may have open at once (a further one ends RESOURCE_EXHAUSTED).
inline constexpr int kMaxSessionStreamsPerClient = 8;

// Threads: Send, Sync and Cancel may be called from any thread, concurrently. Answers are
// delivered on gRPC's threads, never under a lock of this object: a callback may call Send, but
// must not block (the stream reads no further until it returns) nor drop the last reference to
// its own session.
//
// Ordering: calls leave in the order Send accepted them, batched (whatever came while the
// previous message was being written leaves as the next one), and the controller applies them
// in that order.
//
// Failure: when the stream ends (the controller stopped or vanished, a message broke its rules,
// Cancel), every call still waiting for its answer gets `failure(grpc_status)` instead, and
// Send returns false from then on: the owner opens a new session for later calls. An answer
// with a tag nobody waits for (a release's refusal) is passed to `on_unclaimed`.
//
// Lifetime: the owner destroys the session only after on_done ran (WaitDone); the destructor
// waits for it (call Cancel first, unless the stream has ended).
class ControllerSession final
    : public grpc::ClientBidiReactor<pathways::wire::SessionCalls, pathways::wire::SessionAnswers> {
 public:
  // The answer to a call, or why there will be none.
  using OnAnswer = absl::AnyInvocable<void(absl::StatusOr<pathways::wire::SessionAnswer*>)>;
  struct Callbacks {
    // Why the calls waiting on a stream that ended get no answer (from its gRPC status).
    std::function<absl::Status(const grpc::Status&)> failure;
    std::function<void(const pathways::wire::SessionAnswer&)> on_unclaimed;
  };

  // Opens the stream; `prepare(context)` adds the session's metadata.
  ControllerSession(pathways::wire::ControllerApi::Stub& stub,
                    const std::function<void(grpc::ClientContext&)>& prepare, Callbacks callbacks);
  ~ControllerSession() override { WaitDone(); }
  ControllerSession(const ControllerSession&) = delete;
  ControllerSession& operator=(const ControllerSession&) = delete;

  // Sends `call`. With `on_answer`, the call gets a fresh tag and on_answer runs once with its
  // answer (or the stream's failure); without one (a release) it is answered only when refused
  // (on_unclaimed). Takes both only when it returns true; false, with nothing sent, once the
  // stream has ended.
  bool Send(pathways::wire::SessionCall& call, OnAnswer& on_answer);
  // Releases sent and not yet known to be applied (a Sync after them answered).
  int64_t unsynced_releases() const;
  // Returns once every call sent before it was applied by the controller: OK, the stream's
  // failure, or DEADLINE_EXCEEDED after `timeout`.
  absl::Status Sync(absl::Duration timeout);
  bool ended() const;
  // Ends the stream now; waiting calls fail (failure(CANCELLED)).
  void Cancel() { context_.TryCancel(); }
  // Returns once on_done has run.
  void WaitDone() { done_.WaitForNotification(); }
  bool done() const { return done_.HasBeenNotified(); }

  void OnWriteDone(bool ok) override;
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  // Takes the next batch of what is queued into out_ unless a write is in flight or nothing is
  // queued; true when the caller is to start its write (after releasing the lock).
  bool TakeBatchLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The stream has ended for writing; true when the hold on the call is to be released now.
  bool ReleaseLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Callbacks callbacks_;
  grpc::ClientContext context_;
  pathways::wire::SessionAnswers answers_;  // the message being read
  pathways::wire::SessionCalls out_;        // the message being written (while writing_)
  mutable absl::Mutex mu_;
  std::vector<pathways::wire::SessionCall> queued_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, OnAnswer> waiting_ ABSL_GUARDED_BY(mu_);
  uint64_t next_tag_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t releases_sent_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t releases_synced_ ABSL_GUARDED_BY(mu_) = 0;  // covered by an answered Sync
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;     // no write will leave any more
  bool released_ ABSL_GUARDED_BY(mu_) = false;  // the hold on the call was let go
  absl::Notification done_;
};

}  // namespace pw::grpc_transport

#endif  // PATHWAYS_RPC_CONTROLLER_SESSION_H_
