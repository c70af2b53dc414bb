// ClientSessions: random tokens and leases.
#include "pathways/cluster/client_sessions.h"

#include "absl/strings/str_cat.h"

namespace pw {

absl::StatusOr<std::string> ClientSessions::Open(ClientId client, absl::Time now) {
  std::string token;
  {
    absl::StatusOr<std::string> t = RandomToken();
    if (!t.ok()) return t.status();
    token = *std::move(t);
  }
  absl::MutexLock lock(&mu_);
  if (auto it = token_of_.find(client); it != token_of_.end()) by_token_.erase(it->second);
  by_token_[token] = Session{client, now};
  token_of_[client] = token;
  return token;
}

absl::StatusOr<ClientId> ClientSessions::Find(const std::string& token, absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto it = by_token_.find(token);
  if (it == by_token_.end() || now - it->second.renewed > lease_) {
    return absl::UnauthenticatedError(
        "no such session: the call carries no session token, or one that was never issued, "
        "was closed or expired; connect again");
  }
  it->second.renewed = now;
  return it->second.client;
}

void ClientSessions::Close(ClientId client) {
  absl::MutexLock lock(&mu_);
  auto it = token_of_.find(client);
  if (it == token_of_.end()) return;
  by_token_.erase(it->second);
  token_of_.erase(it);
}

std::vector<ClientId> ClientSessions::TakeExpired(absl::Time now) {
  std::vector<ClientId> expired;
  absl::MutexLock lock(&mu_);
  for (auto it = by_token_.begin(); it != by_token_.end();) {
    if (now - it->second.renewed > lease_) {
      expired.push_back(it->second.client);
      token_of_.erase(it->second.client);
      by_token_.erase(it++);
    } else {
      ++it;
    }
  }
  return expired;
}

absl::Duration ClientSessions::LeaseAge(ClientId client, absl::Time now) const {
  absl::MutexLock lock(&mu_);
  auto it = token_of_.find(client);
  if (it == token_of_.end()) return absl::Seconds(-1);
  return now - by_token_.at(it->second).renewed;
}

int64_t ClientSessions::size() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(by_token_.size());
}

}  // namespace pw
