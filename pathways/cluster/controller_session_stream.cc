// ControllerServer::ApiService::SessionStream: one client's ControllerApi.Session stream — the
// runs, array waits and releases of an op-by-op loop on one persistent stream instead of a unary
// call each (services.proto, SessionCall).
//
// Reading: one message at a time; its calls are applied in order (a run is dispatched, a
// release applied, a wait registered with its array's future), so everything a client sent
// before a call has taken effect when the call does. A message is applied on gRPC's callback
// thread that read it, unless it runs a program for the first time on this stream: then on the
// service's run loop (a program's first dispatch to a host registers its functions there, a
// blocking call to the host; a later run blocks only if the program moved to other hosts). The next message is
// read once the last one is applied and fewer than kMaxSessionCalls answers wait to be written.
// Each call is checked as its unary twin is (version, the session's client, every field, naming
// it); a message that breaks the stream's own rules ends the stream naming it: another wire
// version FAILED_PRECONDITION; more than kMaxSessionCalls calls, a call with nothing set, a run,
// wait or sync without a tag INVALID_ARGUMENT. At most kMaxSessionAwaits waits may be pending;
// a further one is answered RESOURCE_EXHAUSTED. A client may have kMaxSessionStreamsPerClient
// streams open (RESOURCE_EXHAUSTED beyond); its streams end when it disconnects or its lease
// runs out.
//
// Writing: answers queue up and leave in one message per write, batching whatever came while
// the previous write was in flight; an array's answer is queued on the thread that resolved it.
//
// End: the client closing its side, the call breaking, a broken rule or the server stopping
// (StopSessions) finish the call once no write is in flight; answers still queued or pending
// are dropped (the client fails the calls waiting for them). Lives until OnDone (self_ holds
// it; the service's set too while it is open; a pending wait's callback until it runs).
#include <memory>

#include "absl/algorithm/container.h"
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

// Programs a stream remembers having run.
constexpr size_t kMaxWarmPrograms = 4096;

class ControllerServer::ApiService::SessionStream final
    : public grpc::ServerBidiReactor<pwire::SessionCalls, pwire::SessionAnswers>,
      public std::enable_shared_from_this<SessionStream> {
 public:
  SessionStream(ApiService* service, grpc::CallbackServerContext* context)
      : service_(service), context_(context) {}

  void Begin() {
    self_ = shared_from_this();
    // The session must be live now; each call is authorized again (a session may end meanwhile).
    // Kept: the context is gone once the call is (a run applied on the run loop may outlive it).
    token_ = api_internal::SessionToken(context_);
    absl::StatusOr<ClientId> client = service_->server_->sessions().Find(token_, absl::Now());
    absl::Status refused = client.status();
    {
      absl::MutexLock lock(&service_->mu_);
      if (refused.ok() && service_->stopped_) {
        refused = absl::UnavailableError("the controller is shutting down");
      }
      if (refused.ok() && service_->streams_of_[*client] >= kMaxSessionStreamsPerClient) {
        refused = absl::ResourceExhaustedError(
            absl::StrCat(client->DebugString(), " has ", kMaxSessionStreamsPerClient,
                         " session streams open (at most that many)"));
      }
      if (refused.ok()) {
        client_ = *client;
        ++service_->streams_of_[client_];
        service_->sessions_.insert(self_);
      }
    }
    if (!refused.ok()) {
      End(refused);
      return;
    }
    StartRead(&calls_);
  }

  ClientId client() const { return client_; }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client closed its side, or the call broke
      End(absl::OkStatus());
      return;
    }
    // A program's first run may block (its first dispatch to a host registers the program's
    // functions there, a call to the host): a message with one is applied on the service's own
    // threads, not on gRPC's few callback threads; the rest on the thread that read them (a
    // hand-off costs an op-by-op call a fifth of its time). The next message is read only once
    // this one is applied, so calls keep their order either way.
    const bool cold = absl::c_any_of(calls_.calls(), [this](const pwire::SessionCall& call) {
      return call.call_case() == pwire::SessionCall::kRun &&
             !warm_programs_.contains(call.run().program());
    });
    if (!cold) {
      Process();
      return;
    }
    service_->run_loop_->Post([self = shared_from_this()]() mutable { self->Process(); });
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
    bool resume = false;
    {
      absl::MutexLock lock(&mu_);
      resume = read_paused_ && !ending_;
      read_paused_ = false;
    }
    if (resume) StartRead(&calls_);
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
    if (service_->sessions_.erase(keep) != 0 && --service_->streams_of_[client_] == 0) {
      service_->streams_of_.erase(client_);
    }
  }

 private:
  // Applies the message read, writes its answers and reads the next one, unless the stream is
  // ending or kMaxSessionCalls answers wait behind the write in flight (a client that does not
  // read its answers): then the next write's end resumes reading.
  void Process() {
    if (absl::Status broken = Apply(); !broken.ok()) {
      PW_LOG(WARNING) << "pw-controller: session stream of " << client_ << " ended: " << broken;
      End(broken);
      return;
    }
    Flush();
    {
      absl::MutexLock lock(&mu_);
      if (ending_) return;
      if (writing_ && static_cast<int64_t>(queued_.size()) >= kMaxSessionCalls) {
        read_paused_ = true;
        return;
      }
    }
    StartRead(&calls_);
  }

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
        absl::StatusOr<ClientId> client = api_internal::ReadClient(sessions, token_, call.run());
        if (client.ok()) {
          service_->ServeRun(*client, call.run(), *answer.mutable_run());
        } else {
          SetStatus(*answer.mutable_run(), client.status());
        }
        // Its functions are on its hosts now (a later run blocks only if the program moves to
        // other hosts, e.g. after a slice repair).
        if (answer.run().status().code() == 0 && warm_programs_.size() < kMaxWarmPrograms) {
          warm_programs_.insert(call.run().program());
        }
        Queue(std::move(answer));
        return;
      }
      case pwire::SessionCall::kAwaitArray: {
        absl::StatusOr<std::pair<ClientId, ArrayId>> ids =
            api_internal::ReadArrayRequest(sessions, token_, call.await_array());
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
            api_internal::ReadArrayRequest(sessions, token_, call.release_array());
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
  grpc::CallbackServerContext* const context_;  // valid until OnDone: read by Begin only
  std::string token_;                           // the session token the call carries
  pwire::SessionCalls calls_;                   // the message being read
  absl::Mutex mu_;
  std::vector<pwire::SessionAnswer> queued_ ABSL_GUARDED_BY(mu_);
  pwire::SessionAnswers out_;  // the message being written (touched only while writing_)
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool ending_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;  // answers wait: no read until they leave
  ClientId client_;                                // the session's, set by Begin
  // Programs this stream ran (at most kMaxWarmPrograms): their runs are applied where they are
  // read. Touched only by the thread applying a message, one message at a time.
  absl::flat_hash_set<int64_t> warm_programs_;
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

void ControllerServer::ApiService::EndSessionsOf(ClientId client, const absl::Status& reason) {
  std::vector<std::shared_ptr<SessionStream>> ending;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& session : sessions_) {
      if (session->client() == client) ending.push_back(session);
    }
  }
  for (const auto& session : ending) session->End(reason);
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
