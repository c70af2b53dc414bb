// GlooStoreAdapter: presents one gang's slice of a RendezvousStore to Gloo as the
// gloo::rendezvous::Store its full-mesh connect uses.
#ifndef PATHWAYS_COLLECTIVES_GLOO_GLOO_STORE_ADAPTER_H_
#define PATHWAYS_COLLECTIVES_GLOO_GLOO_STORE_ADAPTER_H_

#include <chrono>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gloo/rendezvous/store.h"
#include "pathways/collectives/rendezvous_store.h"

namespace pw {

// Thrown through Gloo's connect code (Gloo's Store interface cannot return errors) and caught
// by GlooCommunicator at the Gloo boundary, which turns it back into `status`.
class RendezvousStoreError : public std::runtime_error {
 public:
  explicit RendezvousStoreError(absl::Status status);
  const absl::Status& status() const { return status_; }

 private:
  absl::Status status_;
};

struct GlooStoreAdapterOptions {
  // Prepended to every key Gloo uses, so gangs sharing the store never collide.
  std::string prefix;
  // While waiting, this key appearing ends the wait with ABORTED (the gang was aborted).
  std::string abort_key;
  // Bounds every wait (Gloo's own timeout argument is ignored: one deadline per gang).
  absl::Duration timeout = absl::Seconds(30);
};

// Used by one rank's connect on one thread. Every failure throws RendezvousStoreError.
class GlooStoreAdapter final : public gloo::rendezvous::Store {
 public:
  GlooStoreAdapter(RendezvousStore& store, GlooStoreAdapterOptions options);

  void set(const std::string& key, const std::vector<char>& data) override;
  // Waits for the key first: Gloo expects get() of a peer's key to block until it exists.
  std::vector<char> get(const std::string& key) override;
  void wait(const std::vector<std::string>& keys) override;
  void wait(const std::vector<std::string>& keys,
            const std::chrono::milliseconds& timeout) override;

  // The keys Gloo asked for that were not in the store at the last timeout (unprefixed), so
  // the caller can name the ranks that never joined.
  const std::vector<std::string>& missing_keys() const { return missing_; }
  // Every value Gloo read (unprefixed key -> bytes): the peers' published pair addresses.
  const std::map<std::string, std::vector<char>>& values() const { return values_; }

 private:
  void Wait(const std::vector<std::string>& keys);

  RendezvousStore& store_;
  const GlooStoreAdapterOptions options_;
  std::vector<std::string> missing_;
  std::map<std::string, std::vector<char>> values_;
};

}  // namespace pw

#endif  // PATHWAYS_COLLECTIVES_GLOO_GLOO_STORE_ADAPTER_H_
