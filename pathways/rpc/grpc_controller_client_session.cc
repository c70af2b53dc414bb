// GrpcControllerClient's calls on a client's Session stream: Run, AwaitArray and
// ReleaseArrayNoWait (one message each on an open stream instead of a unary call), and the sync
// that lets later calls see the releases.
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"
#include "pathways/rpc/grpc_controller_client.h"
#include "pathways/wire/wire_convert.h"

namespace pw {
namespace {

namespace pwire = pathways::wire;
using grpc_transport::ControllerSession;

void SetArrayRequest(ClientId client, ArrayId array, pwire::ArrayRequest& request) {
  request.set_version(wire::kWireVersion);
  request.set_client(client.value());
  request.set_array(array.value());
}

}  // namespace

std::shared_ptr<ControllerSession> GrpcControllerClient::OpenSession(ClientId client) {
  absl::MutexLock lock(&session_streams_mu_);
  if (closing_.load(std::memory_order_acquire)) return nullptr;
  std::shared_ptr<ControllerSession>& slot = session_streams_[client];
  if (slot == nullptr || slot->ended()) {
    // An ended stream may not have run its last callback yet (this may even be that callback,
    // releasing an array): it is kept until it has, never destroyed while it waits for itself.
    std::erase_if(retired_sessions_, [](const auto& s) { return s->done(); });
    if (slot != nullptr) retired_sessions_.push_back(std::move(slot));
    slot = std::make_shared<ControllerSession>(
        *stub_, [this, client](grpc::ClientContext& context) { Authenticate(context, client); },
        ControllerSession::Callbacks{
            .failure = [this](const grpc::Status& status) {
              return Failed(status, "session stream");
            },
            .on_unclaimed = [this](const pwire::SessionAnswer& answer) {
              absl::Status s = wire::ResponseStatus(answer.status());
              if (!s.ok() && !closing_.load()) PW_LOG(WARNING) << s;
            }});
  }
  return slot;
}

absl::Status GrpcControllerClient::SendOnSession(ClientId client, pwire::SessionCall& call,
                                                 ControllerSession::OnAnswer on_answer) {
  // A stream that ended between the lookup and the send is replaced once more.
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::shared_ptr<ControllerSession> session = OpenSession(client);
    if (session == nullptr) return absl::CancelledError("the controller client is closing");
    if (session->Send(call, on_answer)) return absl::OkStatus();
  }
  // Both streams ended at once (the controller is unreachable).
  return Failed(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                             "the stream ended before the call could be sent"),
                "session stream");
}

void GrpcControllerClient::CloseSessions(std::optional<ClientId> client) {
  std::vector<std::shared_ptr<ControllerSession>> sessions;
  {
    absl::MutexLock lock(&session_streams_mu_);
    if (!client.has_value()) {
      for (auto& retired : retired_sessions_) sessions.push_back(std::move(retired));
      retired_sessions_.clear();
    }
    for (auto it = session_streams_.begin(); it != session_streams_.end();) {
      if (client.has_value() && it->first != *client) {
        ++it;
        continue;
      }
      sessions.push_back(std::move(it->second));
      session_streams_.erase(it++);
    }
  }
  for (const auto& session : sessions) session->Cancel();
  sessions.clear();  // each waits for its stream's end
}

absl::StatusOr<RunResult> GrpcControllerClient::Run(ClientId client, ProgramId program,
                                                    absl::Span<const ArrayId> inputs,
                                                    RunOptions options) {
  pwire::SessionCall call;
  pwire::RunRequest& request = *call.mutable_run();
  request.set_version(wire::kWireVersion);
  request.set_client(client.value());
  request.set_program(program.value());
  request.mutable_inputs()->Reserve(static_cast<int>(inputs.size()));
  for (ArrayId input : inputs) request.add_inputs(input.value());
  request.set_mode(static_cast<uint32_t>(options.mode));
  if (options.deadline != absl::InfiniteFuture()) {
    request.set_has_deadline(true);
    request.set_deadline_left_nanos(absl::ToInt64Nanoseconds(options.deadline - absl::Now()));
  }
  struct Answer {
    absl::Notification done;
    absl::StatusOr<pwire::RunResponse> response;
  };
  auto answer = std::make_shared<Answer>();
  PW_RETURN_IF_ERROR(SendOnSession(
      client, call, [answer](absl::StatusOr<pwire::SessionAnswer*> reply) {
        if (reply.ok()) {
          answer->response = std::move(*(*reply)->mutable_run());
        } else {
          answer->response = reply.status();
        }
        answer->done.Notify();
      }));
  if (!answer->done.WaitForNotificationWithTimeout(options_.call_timeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat("Run to controller at ", address_, ": no answer within ",
                     absl::FormatDuration(options_.call_timeout)));
  }
  if (!answer->response.ok()) return Annotate(answer->response.status(), "Run");
  PW_RETURN_IF_ERROR(wire::ResponseStatus(*answer->response));
  return wire::FromProto(answer->response->result());
}

EventRef GrpcControllerClient::AwaitArray(ClientId client, ArrayId array) {
  EventRef event = AsyncEvent::Create();
  pwire::SessionCall call;
  SetArrayRequest(client, array, *call.mutable_await_array());
  absl::Status sent = SendOnSession(
      client, call, [event, array](absl::StatusOr<pwire::SessionAnswer*> reply) {
        if (!reply.ok()) {
          event->SetError(Annotate(reply.status(), absl::StrCat("AwaitArray(", array.DebugString(), ")")));
          return;
        }
        // The controller's answer, e.g. the array's own error naming the node that failed.
        event->SetStatus(wire::ResponseStatus((*reply)->status()));
      });
  if (!sent.ok()) event->SetError(std::move(sent));
  return event;
}

void GrpcControllerClient::ReleaseArrayNoWait(ClientId client, ArrayId array) {
  pwire::SessionCall call;
  SetArrayRequest(client, array, *call.mutable_release_array());
  // A refusal comes back untagged and is logged (the session's on_unclaimed).
  absl::Status sent = SendOnSession(client, call, nullptr);
  if (!sent.ok() && !closing_.load()) {
    PW_LOG(WARNING) << "ReleaseArray(" << array.DebugString() << "): " << sent;
  }
}

absl::Status GrpcControllerClient::Ping(ClientId client) {
  std::shared_ptr<ControllerSession> session = OpenSession(client);
  if (session == nullptr) return absl::CancelledError("Ping: the controller client is closing");
  return Annotate(session->Sync(options_.call_timeout),
                  absl::StrCat("Ping to controller at ", address_));
}

void GrpcControllerClient::WaitForReleases() const {
  std::vector<std::shared_ptr<ControllerSession>> sessions;
  {
    absl::MutexLock lock(&session_streams_mu_);
    for (const auto& [client, session] : session_streams_) {
      // An ended stream's releases were applied or are lost with it (logged): nothing to wait for.
      if (!session->ended() && session->unsynced_releases() > 0) sessions.push_back(session);
    }
  }
  for (const std::shared_ptr<ControllerSession>& session : sessions) {
    absl::Status s = session->Sync(options_.call_timeout);
    if (!s.ok() && !closing_.load()) PW_LOG(WARNING) << "waiting for releases: " << s;
  }
}

}  // namespace pw
