// ControllerServer::ApiService::SessionStream: one client's ControllerApi.Session stream — the
// runs, array waits and releases of an op-by-op loop on one persistent stream instead of a unary
// call each (services.proto, SessionCall).
//
// Reading: one message at a time, on gRPC's callback thread; its calls are applied in order
// there (a run is dispatched, a release applied, a wait registered with its array's future), so
// everything a client sent before a call has taken effect when the call does. Each call is
// checked as its unary twin is (version, the session's client, every field, naming it); a
// message that breaks the stream's own rules (wrong version, more than kMaxSessionCalls calls, a
// call with nothing set, a run, wait or sync without a tag) ends the stream INVALID_ARGUMENT
// naming it. At most kMaxSessionAwaits waits may be pending; a further one is answered
// RESOURCE_EXHAUSTED.
//
// Writing: answers queue up and leave in one message per write, batching whatever came while
// the previous write was in flight; an array's answer is queued on the thread that resolved it.
//
// End: the client closing its side, the call breaking, a broken rule or the server stopping
// (StopSessions) finish the call once no write is in flight; answers still queued or pending
// are dropped (the client fails the calls waiting for them). Lives until OnDone (self_ holds
// it; the service's set too while it is open; a pending wait's callback until it runs).
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pathways/base/logging.h"
#include "pathways/cluster/controller_server_internal.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/wire/wire_convert.h"

namespace pw {

namespace pwire = pathways::wire;
using grpc_transport::SetStatus;

class ControllerServer::ApiService::SessionStream final
    : public grpc::ServerBidiReactor<pwire::SessionCalls, pwire::SessionAnswers>,
      public std::enable_shared_from_this<SessionStream> {
 public:
  SessionStream(ApiService* service, grpc::CallbackServerContext* context)
      : service_(service), context_(context) {}

  void Begin() {
    self_ = shared_from_this();
    // The session must be live now; each call is authorized again (a session may end meanwhile).
    absl::Status refused =
        service_->server_->sessions()
            .Find(grpc_transport::ClientMetadata(context_, grpc_transport::kSessionMetadata),
                  absl::Now())
            .status();
    {
      absl::MutexLock lock(&service_->mu_);
      if (refused.ok() && service_->stopped_) {
        refused = absl::UnavailableError("the controller is shutting down");
      }
      if (refused.ok()) service_->sessions_.insert(self_);
    }
    if (!refused.ok()) {
      End(refused);
      return;
    }
    StartRead(&calls_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client closed its side, or the call broke
      End(absl::OkStatus());
      return;
    }
    if (absl::Status broken = Apply(); !broken.ok()) {
      PW_LOG(WARNING) << "pw-controller: session stream ended: " << broken;
      End(broken);
      return;
    }
    Flush();
    StartRead(&calls_);
  }

  void OnWriteDone(bool ok) override {
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      out_.Clear();
      if (!ok) ending_ = true;  // the call is broken: nothing more will leave
      finish = ending_ && !finished_;
      if (finish) finished_ = true;
    }
    if (finish) {
      Finish(grpc_transport::ToGrpc(end_status_));
      return;
    }
    Flush();
  }

  // Finishes the call with `status` once no write is in flight (at once if none is), unless it
  // is ending already. Answers not yet written are dropped.
  void End(const absl::Status& status) {
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      if (ending_) return;
      ending_ = true;
      end_status_ = status;
      queued_.clear();
      finish = !writing_;
      if (finish) finished_ = true;
    }
    if (finish) Finish(grpc_transport::ToGrpc(status));
  }

  void OnDone() override {
    std::shared_ptr<SessionStream> keep = std::move(self_);  // released last: may free this
    absl::MutexLock lock(&service_->mu_);
    service_->sessions_.erase(keep);
  }

 private:
  // Applies the message's calls in order; a broken rule of the stream itself ends it (returned).
  absl::Status Apply() {
    PW_RETURN_IF_ERROR(wire::CheckVersion(calls_));
    if (calls_.calls_size() > kMaxSessionCalls) {
      return absl::InvalidArgumentError(absl::StrCat("SessionCalls.calls: ", calls_.calls_size(),
                                                     " calls (at most ", kMaxSessionCalls, ")"));
    }
    for (int i = 0; i < calls_.calls_size(); ++i) {
      const pwire::SessionCall& call = calls_.calls(i);
      const pwire::SessionCall::CallCase kind = call.call_case();
      if (kind == pwire::SessionCall::CALL_NOT_SET) {
        return absl::InvalidArgumentError(absl::StrCat("SessionCalls.calls[", i, "]: no call set"));
      }
      if (call.tag() == 0 && kind != pwire::SessionCall::kReleaseArray) {
        return absl::InvalidArgumentError(
            absl::StrCat("SessionCalls.calls[", i, "].tag: 0 (a run, wait or sync needs a tag)"));
      }
      ApplyCall(call);
    }
    return absl::OkStatus();
  }

  void ApplyCall(const pwire::SessionCall& call) {
    ClientSessions& sessions = service_->server_->sessions();
    Controller& controller = service_->server_->controller();
    switch (call.call_case()) {
      case pwire::SessionCall::kRun: {
        pwire::SessionAnswer answer;
        answer.set_tag(call.tag());
        absl::StatusOr<ClientId> client = api_internal::ReadClient(sessions, context_, call.run());
        if (client.ok()) {
          service_->ServeRun(*client, call.run(), *answer.mutable_run());
        } else {
          SetStatus(*answer.mutable_run(), client.status());
        }
        Queue(std::move(answer));
        return;
      }
      case pwire::SessionCall::kAwaitArray: {
        absl::StatusOr<std::pair<ClientId, ArrayId>> ids =
            api_internal::ReadArrayRequest(sessions, context_, call.await_array());
        if (!ids.ok()) {
          Answer(call.tag(), ids.status());
          return;
        }
        {
          absl::MutexLock lock(&mu_);
          if (awaits_ >= kMaxSessionAwaits) {
            ids = absl::ResourceExhaustedError(
                absl::StrCat("AwaitArray(", ids->second.DebugString(), "): ", awaits_,
                             " waits pending on this session stream (at most ", kMaxSessionAwaits,
                             ")"));
          } else {
            ++awaits_;
          }
        }
        if (!ids.ok()) {
          Answer(call.tag(), ids.status());
          return;
        }
        controller.AwaitArray(ids->first, ids->second)
            ->AndThen([self = shared_from_this(), tag = call.tag()](const absl::Status& status) {
              self->AwaitDone(tag, status);
            });
        return;
      }
      case pwire::SessionCall::kReleaseArray: {
        absl::StatusOr<std::pair<ClientId, ArrayId>> ids =
            api_internal::ReadArrayRequest(sessions, context_, call.release_array());
        absl::Status released =
            ids.ok() ? controller.ReleaseArray(ids->first, ids->second) : ids.status();
        if (!released.ok()) Answer(call.tag(), released);
        return;
      }
      case pwire::SessionCall::kSync:
        Answer(call.tag(), absl::OkStatus());
        return;
      case pwire::SessionCall::CALL_NOT_SET:
        return;  // refused by Apply
    }
  }

  // A wait's array resolved (on the thread that resolved it).
  void AwaitDone(uint64_t tag, const absl::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      --awaits_;
    }
    Answer(tag, status);
    Flush();
  }

  void Answer(uint64_t tag, const absl::Status& status) {
    pwire::SessionAnswer answer;
    answer.set_tag(tag);
    SetStatus(*answer.mutable_status(), status);
    Queue(std::move(answer));
  }
  void Queue(pwire::SessionAnswer answer) {
    absl::MutexLock lock(&mu_);
    if (!ending_) queued_.push_back(std::move(answer));
  }
  // Writes what is queued unless a write is in flight (its end writes the rest).
  void Flush() {
    {
      absl::MutexLock lock(&mu_);
      if (writing_ || ending_ || queued_.empty()) return;
      writing_ = true;
      out_.set_version(wire::kWireVersion);
      out_.mutable_answers()->Reserve(static_cast<int>(queued_.size()));
      for (pwire::SessionAnswer& answer : queued_) *out_.add_answers() = std::move(answer);
      queued_.clear();
    }
    StartWrite(&out_);
  }

  ApiService* const service_;
  grpc::CallbackServerContext* const context_;  // valid until OnDone
  pwire::SessionCalls calls_;                   // the message being read
  absl::Mutex mu_;
  std::vector<pwire::SessionAnswer> queued_ ABSL_GUARDED_BY(mu_);
  pwire::SessionAnswers out_;  // the message being written (touched only while writing_)
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool ending_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status end_status_;  // written before ending_ is set, read after
  int64_t awaits_ ABSL_GUARDED_BY(mu_) = 0;
  std::shared_ptr<SessionStream> self_;
};

grpc::ServerBidiReactor<pwire::SessionCalls, pwire::SessionAnswers>*
ControllerServer::ApiService::Session(grpc::CallbackServerContext* context) {
  auto stream = std::make_shared<SessionStream>(this, context);
  stream->Begin();
  return stream.get();
}

void ControllerServer::ApiService::StopSessions(const absl::Status& reason) {
  absl::flat_hash_set<std::shared_ptr<SessionStream>> sessions;
  {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    sessions.swap(sessions_);
  }
  for (const auto& session : sessions) session->End(reason);
}

}  // namespace pw
