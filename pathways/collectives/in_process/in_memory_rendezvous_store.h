// InMemoryRendezvousStore: a RendezvousStore inside one process (tests, the embedded cluster,
// and the state a controller-side gRPC rendezvous service serves).
#ifndef PATHWAYS_COLLECTIVES_IN_PROCESS_IN_MEMORY_RENDEZVOUS_STORE_H_
#define PATHWAYS_COLLECTIVES_IN_PROCESS_IN_MEMORY_RENDEZVOUS_STORE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "pathways/collectives/rendezvous_store.h"

namespace pw {

// Thread-safe. Waiters sleep on the store's mutex and are woken by every Set (rendezvous is
// off the per-collective path: it runs once per gang, so simplicity wins over wake-up cost).
class InMemoryRendezvousStore final : public RendezvousStore {
 public:
  InMemoryRendezvousStore() = default;
  InMemoryRendezvousStore(const InMemoryRendezvousStore&) = delete;
  InMemoryRendezvousStore& operator=(const InMemoryRendezvousStore&) = delete;

  absl::Status Set(const std::string& key, std::string value) override;
  absl::StatusOr<std::string> SetIfAbsent(const std::string& key, std::string value) override;
  absl::StatusOr<std::string> Get(const std::string& key) override;
  absl::Status Wait(const std::vector<std::string>& keys, absl::Duration timeout,
                    const std::string& abort_key) override;
  absl::StatusOr<int64_t> DeletePrefix(const std::string& prefix) override;

  int64_t num_keys() const;
  std::string DebugString() const override;

 private:
  mutable absl::Mutex mu_;
  // Ordered, so DeletePrefix visits only the keys it erases.
  std::map<std::string, std::string> values_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pw

#endif  // PATHWAYS_COLLECTIVES_IN_PROCESS_IN_MEMORY_RENDEZVOUS_STORE_H_
