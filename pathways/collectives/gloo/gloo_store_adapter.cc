// GlooStoreAdapter implementation.
#include "pathways/collectives/gloo/gloo_store_adapter.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace pw {

RendezvousStoreError::RendezvousStoreError(absl::Status status)
    : std::runtime_error(status.ToString()), status_(std::move(status)) {}

GlooStoreAdapter::GlooStoreAdapter(RendezvousStore& store, GlooStoreAdapterOptions options)
    : store_(store), options_(std::move(options)) {}

void GlooStoreAdapter::set(const std::string& key, const std::vector<char>& data) {
  absl::Status status = store_.Set(options_.prefix + key, std::string(data.begin(), data.end()));
  if (!status.ok()) throw RendezvousStoreError(std::move(status));
}

std::vector<char> GlooStoreAdapter::get(const std::string& key) {
  Wait({key});
  absl::StatusOr<std::string> value = store_.Get(options_.prefix + key);
  if (!value.ok()) throw RendezvousStoreError(value.status());
  std::vector<char> bytes(value->begin(), value->end());
  values_[key] = bytes;
  return bytes;
}

void GlooStoreAdapter::wait(const std::vector<std::string>& keys) { Wait(keys); }

void GlooStoreAdapter::wait(const std::vector<std::string>& keys,
                            const std::chrono::milliseconds& /*timeout*/) {
  Wait(keys);
}

void GlooStoreAdapter::Wait(const std::vector<std::string>& keys) {
  std::vector<std::string> full;
  full.reserve(keys.size());
  for (const std::string& key : keys) full.push_back(options_.prefix + key);
  absl::Status status = store_.Wait(full, options_.timeout, options_.abort_key);
  if (status.ok()) return;
  if (status.code() == absl::StatusCode::kDeadlineExceeded) {
    missing_.clear();
    for (const std::string& key : keys) {
      if (!store_.Get(options_.prefix + key).ok()) missing_.push_back(key);
    }
  }
  throw RendezvousStoreError(std::move(status));
}

}  // namespace pw
