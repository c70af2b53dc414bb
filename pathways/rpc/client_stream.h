// ClientStream: one persistent gRPC stream (callback API) that its owner writes messages to, one
// at a time. The two hot paths between the controller and a worker ride on one each: the
// controller's commands (GrpcWorkerClient, Worker.Commands) and the worker's run completions
// (RunReporter, ControllerWorkers.ReportRuns). Batching is the owner's: while a write is in
// flight it collects what comes and writes it as the next message.
//
// The server never writes back: it ends the stream with a gRPC status when it refuses a message
// (naming it) or stops. The stream keeps a read pending only to learn of that end at once, even
// while nothing is being written.
#ifndef PATHWAYS_RPC_CLIENT_STREAM_H_
#define PATHWAYS_RPC_CLIENT_STREAM_H_

#include <functional>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/client_callback.h"
#include "pathways/rpc/services.pb.h"

namespace pw::grpc_transport {

// Threads: Write and Close may be called from any thread, but only while no write is in flight
// (the owner tracks that: one Write, then wait for on_write_done). Writing to a stream that has
// ended is allowed: on_write_done(false) then runs at once, on the calling thread. Callbacks run
// on gRPC threads (or inline as said); they must be quick, must not call Write or Close on the
// calling thread's behalf while holding a lock the callbacks take, and must not destroy the
// stream. on_done runs once, after the last on_write_done, with the call's status.
//
// Lifetime: gRPC's call object must not be touched after its end, so the stream holds the call
// open while a write is in flight and lets it end only once none is. The owner destroys the
// stream only after on_done returned; the destructor waits for that (call Cancel or Close first,
// or the wait lasts until the peer ends the call). Start must have been called.
template <typename Message>
class ClientStream final : public ::grpc::ClientBidiReactor<Message, pathways::wire::StatusResponse> {
 public:
  struct Callbacks {
    // The message of the last Write left (ok) or never will (the call is over).
    std::function<void(bool ok)> on_write_done;
    std::function<void(const grpc::Status& status)> on_done;
  };
  // `start(context, reactor)` binds the reactor to the stub's async method, e.g.
  // stub->async()->Commands(context, reactor).
  template <typename Start>
  ClientStream(Start start, Callbacks callbacks) : callbacks_(std::move(callbacks)) {
    start(&context_, this);
  }
  ~ClientStream() override { WaitDone(); }
  ClientStream(const ClientStream&) = delete;
  ClientStream& operator=(const ClientStream&) = delete;

  // Starts the call, writing `first` (gRPC sends them together).
  void Start(std::unique_ptr<Message> first) {
    this->AddHold();  // released once the call is over and no write is in flight
    this->StartRead(&reply_);
    Write(std::move(first));
    this->StartCall();
  }
  void Write(std::unique_ptr<Message> message) {
    {
      absl::MutexLock lock(&mu_);
      if (!ended_) {
        writing_ = true;
        in_flight_ = std::move(message);
      }
    }
    if (in_flight_ == nullptr) {  // ended: never to be sent
      callbacks_.on_write_done(false);
      return;
    }
    this->StartWrite(in_flight_.get());
  }
  // No more writes: the call ends once the server answers.
  void Close() {
    {
      absl::MutexLock lock(&mu_);
      if (ended_) return;
      writing_ = true;  // the half-close is a write too
    }
    this->StartWritesDone();
  }
  // Ends the call now: a write in flight fails, on_done gets CANCELLED.
  void Cancel() { context_.TryCancel(); }
  // Returns once on_done has returned.
  void WaitDone() { done_.WaitForNotification(); }
  // WaitDone for at most `timeout`; false if the call is still going.
  bool WaitDoneFor(absl::Duration timeout) {
    return done_.WaitForNotificationWithTimeout(timeout);
  }

  void OnWriteDone(bool ok) override {
    in_flight_.reset();
    const bool release = Finished(/*ended=*/!ok);
    callbacks_.on_write_done(ok);
    if (release) this->RemoveHold();
  }
  void OnWritesDoneDone(bool ok) override {
    if (Finished(/*ended=*/false)) this->RemoveHold();
  }
  void OnReadDone(bool ok) override {
    if (ok) {  // the server does not write; read on until the end
      this->StartRead(&reply_);
      return;
    }
    if (Ended()) this->RemoveHold();
  }
  void OnDone(const grpc::Status& status) override {
    callbacks_.on_done(status);
    done_.Notify();  // last: the owner may destroy the stream right after
  }

 private:
  // A write (or the half-close) finished; true when the hold is to be released now.
  bool Finished(bool ended) {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (ended) ended_ = true;
    return ReleaseLocked();
  }
  // The server ended the call (the pending read failed).
  bool Ended() {
    absl::MutexLock lock(&mu_);
    ended_ = true;
    return ReleaseLocked();
  }
  bool ReleaseLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!ended_ || writing_ || released_) return false;
    released_ = true;
    return true;
  }

  Callbacks callbacks_;
  grpc::ClientContext context_;
  pathways::wire::StatusResponse reply_;
  std::unique_ptr<Message> in_flight_;
  absl::Mutex mu_;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
  absl::Notification done_;
};

}  // namespace pw::grpc_transport

#endif  // PATHWAYS_RPC_CLIENT_STREAM_H_
