// ClientSessions: the sessions of the clients connected to a controller over gRPC — an
// unguessable token per client that every call carries, and a lease the client renews.
#ifndef PATHWAYS_CLUSTER_CLIENT_SESSIONS_H_
#define PATHWAYS_CLUSTER_CLIENT_SESSIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pathways/base/ids.h"
#include "pathways/base/secret.h"

namespace pw {

// Thread-safe. A session lives from Open to Close, or until its lease runs out: a lease not
// renewed (Renew, or any call naming the session: Find renews) for `lease` expires, and
// TakeExpired hands its client to the caller to disconnect.
class ClientSessions {
 public:
  explicit ClientSessions(absl::Duration lease) : lease_(lease) {}

  absl::Duration lease() const { return lease_; }

  // A new session for `client`; returns its token.
  absl::StatusOr<std::string> Open(ClientId client, absl::Time now);
  // The client of a live session, renewing its lease. UNAUTHENTICATED for a token that names
  // no live session (never issued, closed, or expired): the same answer for each, so a caller
  // learns nothing from it.
  absl::StatusOr<ClientId> Find(const std::string& token, absl::Time now);
  // Ends the session of `client` (its Disconnect). Idempotent.
  void Close(ClientId client);
  // Removes the sessions whose lease ran out by `now`; returns their clients.
  std::vector<ClientId> TakeExpired(absl::Time now);
  // The time since the session of `client` was last renewed (status); -1 s when it has none.
  absl::Duration LeaseAge(ClientId client, absl::Time now) const;
  int64_t size() const;

 private:
  struct Session {
    ClientId client;
    absl::Time renewed;
  };
  const absl::Duration lease_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Session> by_token_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<ClientId, std::string> token_of_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pw

#endif  // PATHWAYS_CLUSTER_CLIENT_SESSIONS_H_
