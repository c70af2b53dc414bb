// InProcessDataPlane implementation.
#include "pathways/dataplane/in_process/in_process_data_plane.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"

namespace pw {

InProcessDataPlane::~InProcessDataPlane() {
  absl::MutexLock lock(&mu_);
  for (auto& [host, peer] : peers_) {
    mu_.Await(absl::Condition(
        +[](Peer* p) { return p->active == 0; }, peer.get()));
  }
}

absl::Status InProcessDataPlane::Register(HostId host, ShardReceiver* receiver) {
  PW_CHECK(receiver != nullptr);
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = peers_.try_emplace(host);
  if (!inserted) {
    return absl::AlreadyExistsError(
        absl::StrCat("in-process data plane: ", host.DebugString(), " is already registered"));
  }
  it->second = std::make_shared<Peer>();
  it->second->receiver = receiver;
  return absl::OkStatus();
}

void InProcessDataPlane::Unregister(HostId host) {
  absl::MutexLock lock(&mu_);
  auto it = peers_.find(host);
  if (it == peers_.end()) return;
  std::shared_ptr<Peer> peer = std::move(it->second);
  peers_.erase(it);
  mu_.Await(absl::Condition(
      +[](Peer* p) { return p->active == 0; }, peer.get()));
}

std::shared_ptr<InProcessDataPlane::Peer> InProcessDataPlane::Acquire(HostId host) {
  absl::MutexLock lock(&mu_);
  auto it = peers_.find(host);
  if (it == peers_.end()) return nullptr;
  ++it->second->active;
  ++pushes_;
  return it->second;
}

void InProcessDataPlane::ReleasePeer(const std::shared_ptr<Peer>& peer) {
  absl::MutexLock lock(&mu_);
  --peer->active;
}

EventRef InProcessDataPlane::Push(HostId dest_host, ArrayId array, int32_t shard,
                                  DeviceId dest_device, const ir::TensorType& type,
                                  const void* data, int64_t bytes) {
  std::shared_ptr<Peer> peer = Acquire(dest_host);
  if (peer == nullptr) {
    return AsyncEvent::CreateError(absl::UnavailableError(
        absl::StrCat("in-process data plane: ", dest_host.DebugString(),
                     " is not reachable (not registered) for a push of ", array.DebugString(),
                     " shard ", shard)));
  }
  absl::Status status =
      peer->receiver->ReceiveShard(array, shard, dest_device, type, data, bytes);
  ReleasePeer(peer);
  return status.ok() ? AsyncEvent::CreateReady() : AsyncEvent::CreateError(std::move(status));
}

void InProcessDataPlane::PushError(HostId dest_host, ArrayId array, int32_t shard,
                                   DeviceId dest_device, const ir::TensorType& type,
                                   absl::Status error) {
  std::shared_ptr<Peer> peer = Acquire(dest_host);
  if (peer == nullptr) {
    PW_LOG(WARNING) << "in-process data plane: dropping the error of " << array << " shard "
                    << shard << " for unknown " << dest_host << ": " << error;
    return;
  }
  peer->receiver->FailShard(array, shard, type, std::move(error));
  ReleasePeer(peer);
}

int64_t InProcessDataPlane::pushes() const {
  absl::MutexLock lock(&mu_);
  return pushes_;
}

std::string InProcessDataPlane::DebugString() const {
  absl::MutexLock lock(&mu_);
  return absl::StrCat("in-process data plane (", peers_.size(), " hosts, ", pushes_, " pushes)");
}

}  // namespace pw
