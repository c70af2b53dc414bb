// InMemoryRendezvousStore implementation.
#include "pathways/collectives/in_process/in_memory_rendezvous_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace pw {

absl::Status InMemoryRendezvousStore::Set(const std::string& key, std::string value) {
  absl::MutexLock lock(&mu_);
  values_[key] = std::move(value);
  return absl::OkStatus();
}

absl::StatusOr<std::string> InMemoryRendezvousStore::SetIfAbsent(const std::string& key,
                                                                  std::string value) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = values_.try_emplace(key, std::move(value));
  return it->second;
}

absl::StatusOr<std::string> InMemoryRendezvousStore::Get(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = values_.find(key);
  if (it == values_.end()) {
    return absl::NotFoundError(absl::StrCat("rendezvous key '", key, "' is not set"));
  }
  return it->second;
}

absl::Status InMemoryRendezvousStore::Wait(const std::vector<std::string>& keys,
                                           absl::Duration timeout,
                                           const std::string& abort_key) {
  absl::MutexLock lock(&mu_);
  auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!abort_key.empty() && values_.contains(abort_key)) return true;
    for (const std::string& key : keys) {
      if (!values_.contains(key)) return false;
    }
    return true;
  };
  mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  if (!abort_key.empty()) {
    auto it = values_.find(abort_key);
    if (it != values_.end()) return absl::AbortedError(it->second);
  }
  std::vector<std::string> missing;
  for (const std::string& key : keys) {
    if (!values_.contains(key)) missing.push_back(key);
  }
  if (missing.empty()) return absl::OkStatus();
  return absl::DeadlineExceededError(
      absl::StrCat("rendezvous keys not set within ", absl::FormatDuration(timeout), ": '",
                   absl::StrJoin(missing, "', '"), "'"));
}

absl::StatusOr<int64_t> InMemoryRendezvousStore::DeletePrefix(const std::string& prefix) {
  absl::MutexLock lock(&mu_);
  int64_t erased = 0;
  auto it = values_.lower_bound(prefix);
  while (it != values_.end() && it->first.compare(0, prefix.size(), prefix) == 0) {
    it = values_.erase(it);
    ++erased;
  }
  return erased;
}

int64_t InMemoryRendezvousStore::num_keys() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(values_.size());
}

std::string InMemoryRendezvousStore::DebugString() const {
  absl::MutexLock lock(&mu_);
  return absl::StrCat("in-memory rendezvous store (", values_.size(), " keys)");
}

}  // namespace pw
