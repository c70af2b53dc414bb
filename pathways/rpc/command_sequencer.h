// CommandSequencer: applies a sender's numbered commands (seq 1, 2, 3 ...) in that order, whatever
// order concurrent RPCs deliver them in. The worker needs it because gang order is decided by the
// controller's scheduler and must reach the host executor intact.
#ifndef PATHWAYS_RPC_COMMAND_SEQUENCER_H_
#define PATHWAYS_RPC_COMMAND_SEQUENCER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace pw {

// Thread-safe. A command whose turn has come runs at once; earlier-numbered commands still
// missing park it. Whichever thread finds the next command runs it and every consecutive parked
// one after it (one thread at a time, so commands never overlap and never reorder); the others
// return as soon as their command is parked. Commands run outside the sequencer's lock and must
// be short (they queue work, they do not do it).
class CommandSequencer {
 public:
  // Called once: with OK when the command's turn comes, or with the reason it is dropped
  // (Stop). Never called with OK after Stop.
  using Command = absl::AnyInvocable<void(const absl::Status&)>;

  CommandSequencer() = default;
  CommandSequencer(const CommandSequencer&) = delete;
  CommandSequencer& operator=(const CommandSequencer&) = delete;

  // seq 0 means unordered: the command runs at once on the calling thread. Otherwise the command
  // runs in seq order. INVALID_ARGUMENT (and `command` is dropped without being called) for a
  // seq already applied or already waiting; the Stop reason after Stop.
  absl::Status Submit(uint64_t seq, Command command) {
    if (seq == 0) {
      {
        absl::MutexLock lock(&mu_);
        if (stopped_.has_value()) return *stopped_;
      }
      command(absl::OkStatus());
      return absl::OkStatus();
    }
    absl::MutexLock lock(&mu_);
    if (stopped_.has_value()) return *stopped_;
    if (seq < next_ || parked_.contains(seq)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "command seq ", seq, " arrived twice (commands before seq ", next_, " were applied)"));
    }
    parked_.emplace(seq, std::move(command));
    if (draining_) return absl::OkStatus();  // the draining thread will get to it
    draining_ = true;
    for (auto it = parked_.find(next_); it != parked_.end() && !stopped_.has_value();
         it = parked_.find(next_)) {
      Command next = std::move(it->second);
      parked_.erase(it);
      ++next_;
      mu_.Unlock();
      next(absl::OkStatus());
      mu_.Lock();
    }
    draining_ = false;
    return absl::OkStatus();
  }

  // Drops every parked command (each is called with `reason`); later submissions are refused
  // with `reason`. A command already running finishes. Idempotent (the first reason sticks).
  void Stop(absl::Status reason) {
    std::vector<Command> dropped;
    {
      absl::MutexLock lock(&mu_);
      if (!stopped_.has_value()) stopped_ = std::move(reason);
      for (auto& [seq, command] : parked_) dropped.push_back(std::move(command));
      parked_.clear();
      reason = *stopped_;
    }
    for (Command& command : dropped) command(reason);
  }

  // The seq the sequencer waits for next.
  uint64_t next() const {
    absl::MutexLock lock(&mu_);
    return next_;
  }
  size_t parked() const {
    absl::MutexLock lock(&mu_);
    return parked_.size();
  }
  std::string DebugString() const {
    absl::MutexLock lock(&mu_);
    return absl::StrCat("command sequencer (next seq ", next_, ", ", parked_.size(), " parked)");
  }

 private:
  mutable absl::Mutex mu_;
  uint64_t next_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, Command> parked_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<absl::Status> stopped_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pw

#endif  // PATHWAYS_RPC_COMMAND_SEQUENCER_H_
