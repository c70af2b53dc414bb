// ArrayRecord shard resolution and refcounts; ArrayStore handles per client.
#include "pathways/controller/array_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace pw {

ArrayRecord::ArrayRecord(ArrayId id, ClientId owner, ArraySpec spec, std::vector<DeviceId> devices,
                         std::vector<HostId> shard_hosts, Initial initial,
                         std::vector<int64_t> mesh)
    : id_(id),
      owner_(owner),
      spec_(std::move(spec)),
      devices_(std::move(devices)),
      shard_hosts_(std::move(shard_hosts)),
      mesh_(mesh.empty() ? std::vector<int64_t>{static_cast<int64_t>(devices_.size())}
                         : std::move(mesh)),
      ready_(initial == Initial::kReady ? AsyncEvent::CreateReady() : AsyncEvent::Create()) {
  absl::MutexLock lock(&mu_);
  resolved_.assign(devices_.size(), initial == Initial::kReady);
  pending_ = initial == Initial::kReady ? 0 : static_cast<int64_t>(devices_.size());
  done_ = initial == Initial::kReady;
  if (!done_ && pending_ == 0) {
    done_ = true;
    ready_->SetReady();
  }
}

bool ArrayRecord::OnHost(HostId host) const {
  return std::find(shard_hosts_.begin(), shard_hosts_.end(), host) != shard_hosts_.end();
}

void ArrayRecord::ResolveShard(int32_t shard, const absl::Status& status) {
  absl::Status to_set;
  {
    absl::MutexLock lock(&mu_);
    if (done_ || shard < 0 || shard >= static_cast<int32_t>(resolved_.size()) ||
        resolved_[shard]) {
      return;
    }
    resolved_[shard] = true;
    --pending_;
    if (!status.ok()) {
      to_set = status;
    } else if (pending_ > 0) {
      return;
    }
    done_ = true;
  }
  // Outside the lock: AndThen callbacks run here.
  ready_->SetStatus(std::move(to_set));
}

void ArrayRecord::Fail(const absl::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    if (done_) return;
    done_ = true;
  }
  ready_->SetError(status.ok() ? absl::InternalError("array failed with OK status") : status);
}

bool ArrayRecord::DropRef(int64_t n) {
  const int64_t before = refs_.fetch_sub(n, std::memory_order_acq_rel);
  PW_CHECK(before >= n) << id_ << " dropped " << n << " references of " << before;
  return before == n;
}

std::string ArrayRecord::DebugString() const {
  std::string state = "pending";
  if (ready_->IsAvailable()) state = ready_->IsError() ? ready_->status().ToString() : "ready";
  return absl::StrCat(id_.DebugString(), "{owner=", owner_.DebugString(),
                      " shard=", spec_.shard_type.DebugString(), " x", devices_.size(), " ",
                      spec_.slice.DebugString(), " refs=", refs(), " ", state, "}");
}

void ArrayStore::AddHandle(std::shared_ptr<ArrayRecord> record) {
  record->AddRef();
  absl::MutexLock lock(&mu_);
  Entry& entry = arrays_[record->id()];
  if (entry.record == nullptr) entry.record = std::move(record);
  ++entry.handles;
}

absl::StatusOr<std::shared_ptr<ArrayRecord>> ArrayStore::Get(ClientId client, ArrayId array) const {
  absl::MutexLock lock(&mu_);
  auto it = arrays_.find(array);
  if (it == arrays_.end() || it->second.record->owner() != client) {
    return absl::NotFoundError(
        absl::StrCat("unknown ", array.DebugString(), " for ", client.DebugString()));
  }
  return it->second.record;
}

absl::StatusOr<std::shared_ptr<ArrayRecord>> ArrayStore::Release(ClientId client, ArrayId array) {
  absl::MutexLock lock(&mu_);
  auto it = arrays_.find(array);
  if (it == arrays_.end() || it->second.record->owner() != client) {
    return absl::NotFoundError(absl::StrCat("ReleaseArray: unknown ", array.DebugString(),
                                            " for ", client.DebugString()));
  }
  std::shared_ptr<ArrayRecord> record = it->second.record;
  if (--it->second.handles == 0) {
    RefundRecordLocked(*record);
    arrays_.erase(it);
  }
  return record;
}

std::vector<std::pair<std::shared_ptr<ArrayRecord>, int64_t>> ArrayStore::ReleaseClient(
    ClientId client) {
  std::vector<std::pair<std::shared_ptr<ArrayRecord>, int64_t>> out;
  absl::MutexLock lock(&mu_);
  used_.erase(client);
  for (auto it = arrays_.begin(); it != arrays_.end();) {
    if (it->second.record->owner() == client) {
      out.emplace_back(std::move(it->second.record), it->second.handles);
      arrays_.erase(it++);
    } else {
      ++it;
    }
  }
  return out;
}

void ArrayFootprint::Add(const ir::TensorType& shard_type, absl::Span<const DeviceId> devices) {
  ++arrays;
  for (DeviceId d : devices) bytes[d] += shard_type.byte_size();
}

absl::Status ArrayStore::Charge(ClientId client, const ArrayFootprint& footprint,
                                const ArrayQuota& quota) {
  absl::MutexLock lock(&mu_);
  ArrayFootprint& used = used_[client];
  if (quota.live_arrays > 0 && used.arrays + footprint.arrays > quota.live_arrays) {
    return absl::ResourceExhaustedError(absl::StrCat(
        client.DebugString(), "'s quota of ", quota.live_arrays, " live arrays: it holds ",
        used.arrays, " and asked for ", footprint.arrays, " more (release arrays it no longer needs)"));
  }
  if (quota.memory_per_device_bytes > 0) {
    for (const auto& [device, bytes] : footprint.bytes) {
      const int64_t would = used.bytes[device] + bytes;
      if (would > quota.memory_per_device_bytes) {
        return absl::ResourceExhaustedError(absl::StrCat(
            client.DebugString(), "'s memory quota of ", quota.memory_per_device_bytes,
            " bytes per device: its arrays on ", device.DebugString(), " would take ", would,
            " bytes (", used.bytes[device], " held, ", bytes, " asked)"));
      }
    }
  }
  used.arrays += footprint.arrays;
  for (const auto& [device, bytes] : footprint.bytes) used.bytes[device] += bytes;
  return absl::OkStatus();
}

void ArrayStore::Refund(ClientId client, const ArrayFootprint& footprint) {
  absl::MutexLock lock(&mu_);
  RefundLocked(client, footprint);
}

void ArrayStore::RefundLocked(ClientId client, const ArrayFootprint& footprint) {
  auto it = used_.find(client);
  if (it == used_.end()) return;
  it->second.arrays = std::max<int64_t>(0, it->second.arrays - footprint.arrays);
  for (const auto& [device, bytes] : footprint.bytes) {
    int64_t& b = it->second.bytes[device];
    b = std::max<int64_t>(0, b - bytes);
  }
}

void ArrayStore::RefundRecordLocked(const ArrayRecord& record) {
  ArrayFootprint footprint;
  footprint.Add(record.spec().shard_type, record.devices());
  RefundLocked(record.owner(), footprint);
}

int64_t ArrayStore::BytesOf(ClientId client) const {
  absl::MutexLock lock(&mu_);
  auto it = used_.find(client);
  int64_t total = 0;
  if (it != used_.end()) {
    for (const auto& [device, bytes] : it->second.bytes) total += bytes;
  }
  return total;
}

int64_t ArrayStore::size() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(arrays_.size());
}

int64_t ArrayStore::CountOf(ClientId client) const {
  absl::MutexLock lock(&mu_);
  int64_t n = 0;
  for (const auto& [id, entry] : arrays_) n += entry.record->owner() == client;
  return n;
}

std::vector<std::shared_ptr<ArrayRecord>> ArrayStore::All() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<ArrayRecord>> out;
  out.reserve(arrays_.size());
  for (const auto& [id, entry] : arrays_) out.push_back(entry.record);
  return out;
}

}  // namespace pw
