// RendezvousStore: the small key-value store ranks of a cross-process gang meet through (the
// controller serves one over gRPC; InMemoryRendezvousStore serves ranks of one process).
#ifndef PATHWAYS_COLLECTIVES_RENDEZVOUS_STORE_H_
#define PATHWAYS_COLLECTIVES_RENDEZVOUS_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace pw {

// Keys are opaque strings; users prefix them per gang (e.g. "gloo/gang:12/") so that many gangs
// share one store. Values are bytes. Every method is thread-safe and may be called from any
// thread; only Wait blocks. A remote implementation reports a lost store as UNAVAILABLE.
class RendezvousStore {
 public:
  virtual ~RendezvousStore() = default;

  // Stores `value` under `key`, replacing any previous value.
  virtual absl::Status Set(const std::string& key, std::string value) = 0;

  // Stores `value` unless `key` already exists; returns the value stored now (the existing one
  // when there was one). Lets racing writers agree on one value (first abort reason, gang size).
  virtual absl::StatusOr<std::string> SetIfAbsent(const std::string& key, std::string value) = 0;

  // The value of `key`, NOT_FOUND when absent. Never blocks.
  virtual absl::StatusOr<std::string> Get(const std::string& key) = 0;

  // Blocks until every key in `keys` exists (OK). Returns early with ABORTED carrying the value
  // of `abort_key` once that key exists (when `abort_key` is not empty), and with
  // DEADLINE_EXCEEDED naming the missing keys after `timeout`.
  virtual absl::Status Wait(const std::vector<std::string>& keys, absl::Duration timeout,
                            const std::string& abort_key) = 0;

  // Erases every key starting with `prefix` (a gang's keys once all its ranks are connected);
  // returns how many were erased.
  virtual absl::StatusOr<int64_t> DeletePrefix(const std::string& prefix) = 0;

  virtual std::string DebugString() const = 0;
};

}  // namespace pw

#endif  // PATHWAYS_COLLECTIVES_RENDEZVOUS_STORE_H_
