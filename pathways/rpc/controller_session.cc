// ControllerSession: a client's persistent Session stream — calls batched out, answers matched
// to their callers by tag.
#include "pathways/rpc/controller_session.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pathways/base/logging.h"
#include "pathways/wire/wire_convert.h"

namespace pw::grpc_transport {

namespace pwire = pathways::wire;

ControllerSession::ControllerSession(pwire::ControllerApi::Stub& stub,
                                     const std::function<void(grpc::ClientContext&)>& prepare,
                                     Callbacks callbacks)
    : callbacks_(std::move(callbacks)) {
  prepare(context_);
  stub.async()->Session(&context_, this);
  AddHold();  // released once no write can leave any more and none is in flight
  StartRead(&answers_);
  StartCall();
}

bool ControllerSession::Send(pwire::SessionCall& call, OnAnswer& on_answer) {
  bool start = false;
  {
    absl::MutexLock lock(&mu_);
    if (ended_) return false;
    if (on_answer != nullptr) {
      const uint64_t tag = next_tag_++;
      call.set_tag(tag);
      waiting_.emplace(tag, std::move(on_answer));
    } else {
      call.set_tag(0);
    }
    if (call.has_release_array()) ++releases_sent_;
    queued_.push_back(std::move(call));
    start = TakeBatchLocked();
  }
  if (start) StartWrite(&out_);
  return true;
}

bool ControllerSession::TakeBatchLocked() {
  if (writing_ || ended_ || queued_.empty()) return false;
  writing_ = true;
  out_.Clear();
  out_.set_version(wire::kWireVersion);
  const size_t n = std::min<size_t>(queued_.size(), kMaxSessionCalls);
  out_.mutable_calls()->Reserve(static_cast<int>(n));
  for (size_t i = 0; i < n; ++i) *out_.add_calls() = std::move(queued_[i]);
  queued_.erase(queued_.begin(), queued_.begin() + static_cast<std::ptrdiff_t>(n));
  return true;
}

int64_t ControllerSession::unsynced_releases() const {
  absl::MutexLock lock(&mu_);
  return releases_sent_ - releases_synced_;
}

bool ControllerSession::ended() const {
  absl::MutexLock lock(&mu_);
  return ended_;
}

absl::Status ControllerSession::Sync(absl::Duration timeout) {
  struct Answer {
    absl::Notification done;
    absl::Status status;
  };
  auto answer = std::make_shared<Answer>();
  int64_t covered = 0;
  {
    absl::MutexLock lock(&mu_);
    covered = releases_sent_;
  }
  pwire::SessionCall call;
  call.mutable_sync();
  OnAnswer on_answer = [this, answer, covered](absl::StatusOr<pwire::SessionAnswer*> reply) {
    if (reply.ok()) {
      answer->status = wire::ResponseStatus((*reply)->status());
      absl::MutexLock lock(&mu_);
      releases_synced_ = std::max(releases_synced_, covered);
    } else {
      answer->status = reply.status();
    }
    answer->done.Notify();
  };
  if (!Send(call, on_answer)) {
    return absl::UnavailableError("the session stream to the controller has ended");
  }
  if (!answer->done.WaitForNotificationWithTimeout(timeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat("no answer from the controller within ", absl::FormatDuration(timeout)));
  }
  return answer->status;
}

void ControllerSession::OnWriteDone(bool ok) {
  bool start = false;
  bool release = false;
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) ended_ = true;  // the call is over: nothing more will leave
    start = TakeBatchLocked();
    release = ReleaseLocked();
  }
  if (start) StartWrite(&out_);
  if (release) RemoveHold();
}

void ControllerSession::OnReadDone(bool ok) {
  if (!ok) {  // the controller finished the call, or it broke
    bool release = false;
    {
      absl::MutexLock lock(&mu_);
      ended_ = true;
      release = ReleaseLocked();
    }
    if (release) RemoveHold();
    return;
  }
  for (int i = 0; i < answers_.answers_size(); ++i) {
    pwire::SessionAnswer* answer = answers_.mutable_answers(i);
    OnAnswer on_answer;
    {
      absl::MutexLock lock(&mu_);
      auto it = waiting_.find(answer->tag());
      if (it != waiting_.end()) {
        on_answer = std::move(it->second);
        waiting_.erase(it);
      }
    }
    if (on_answer != nullptr) {
      on_answer(answer);
    } else {
      callbacks_.on_unclaimed(*answer);
    }
  }
  StartRead(&answers_);
}

bool ControllerSession::ReleaseLocked() {
  if (!ended_ || writing_ || released_) return false;
  released_ = true;
  return true;
}

void ControllerSession::OnDone(const grpc::Status& status) {
  absl::flat_hash_map<uint64_t, OnAnswer> waiting;
  int64_t releases_lost = 0;
  {
    absl::MutexLock lock(&mu_);
    ended_ = true;
    for (const pwire::SessionCall& call : queued_) releases_lost += call.has_release_array();
    queued_.clear();
    waiting.swap(waiting_);
  }
  if (!waiting.empty()) {
    const absl::Status failure = callbacks_.failure(
        status.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                   "the controller ended the session stream")
                    : status);
    if (releases_lost > 0) {
    PW_LOG(WARNING) << releases_lost << " array releases not sent: " << failure;
  }
  for (auto& [tag, on_answer] : waiting) on_answer(failure);
  }
  done_.Notify();  // last: the owner may destroy the session right after
}

}  // namespace pw::grpc_transport
