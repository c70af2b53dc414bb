// GlooMeshPool implementation. Meshes leaving the pool are destroyed after the lock is
// released: closing a Gloo context waits for its device's event loop.
#include "pathways/collectives/gloo/gloo_mesh_pool.h"

#include <vector>

#include "absl/strings/str_cat.h"

namespace pw {

std::string GlooMeshKey::DebugString() const {
  return absl::StrCat("members ", absl::Hex(members), " rank ", rank, " of ", size);
}

std::shared_ptr<GlooMesh> GlooMeshPool::Take(const GlooMeshKey& key, uint64_t user, bool first) {
  absl::MutexLock lock(&mu_);
  auto it = slots_.find(key);
  if (it == slots_.end()) return nullptr;
  Slot& slot = it->second;
  if (slot.mesh == nullptr || slot.busy || (!first && slot.user != user)) return nullptr;
  slot.busy = true;
  slot.user = user;
  slot.user_live = true;
  return slot.mesh;
}

bool GlooMeshPool::Return(const GlooMeshKey& key, uint64_t user, std::shared_ptr<GlooMesh> mesh) {
  std::shared_ptr<GlooMesh> replaced;  // destroyed after the lock
  std::vector<std::shared_ptr<GlooMesh>> evicted;
  {
    absl::MutexLock lock(&mu_);
    Slot& slot = slots_[key];
    if (slot.mesh != mesh) {
      if (slot.mesh != nullptr && slot.busy) return false;
      replaced = std::move(slot.mesh);
      slot.mesh = std::move(mesh);
    }
    slot.user = user;
    slot.user_live = true;
    slot.busy = false;
    slot.last_return = ++clock_;
    evicted = EvictLocked();
  }
  return true;
}

std::vector<std::shared_ptr<GlooMesh>> GlooMeshPool::EvictLocked() {
  std::vector<std::shared_ptr<GlooMesh>> evicted;
  while (static_cast<int64_t>(slots_.size()) > max_idle_meshes_) {
    // Least recently returned first, among slots nobody can come back for.
    auto victim = slots_.end();
    for (auto it = slots_.begin(); it != slots_.end(); ++it) {
      const Slot& s = it->second;
      if (s.busy || s.user_live) continue;
      if (victim == slots_.end() || s.last_return < victim->second.last_return) victim = it;
    }
    if (victim == slots_.end()) break;
    evicted.push_back(std::move(victim->second.mesh));
    slots_.erase(victim);
  }
  return evicted;
}

void GlooMeshPool::Drop(const GlooMeshKey& key, const GlooMesh* mesh) {
  std::shared_ptr<GlooMesh> dropped;  // destroyed after the lock (declared before it)
  absl::MutexLock lock(&mu_);
  auto it = slots_.find(key);
  if (it == slots_.end() || it->second.mesh.get() != mesh) return;
  dropped = std::move(it->second.mesh);
  slots_.erase(it);
}

std::shared_ptr<GlooMesh> GlooMeshPool::Reclaim(const GlooMeshKey& key, uint64_t user) {
  absl::MutexLock lock(&mu_);
  auto it = slots_.find(key);
  if (it == slots_.end()) return nullptr;
  Slot& slot = it->second;
  if (slot.mesh == nullptr || slot.busy || slot.user != user) return nullptr;
  std::shared_ptr<GlooMesh> mesh = std::move(slot.mesh);
  slots_.erase(it);
  return mesh;
}

void GlooMeshPool::UserGone(const GlooMeshKey& key, uint64_t user) {
  absl::MutexLock lock(&mu_);
  auto it = slots_.find(key);
  if (it != slots_.end() && it->second.user == user) it->second.user_live = false;
}

void GlooMeshPool::Clear() {
  std::vector<std::shared_ptr<GlooMesh>> closed;  // destroyed after the lock (declared before it)
  absl::MutexLock lock(&mu_);
  for (auto it = slots_.begin(); it != slots_.end();) {
    if (it->second.busy) {
      ++it;
      continue;
    }
    closed.push_back(std::move(it->second.mesh));
    slots_.erase(it++);
  }
}

int64_t GlooMeshPool::num_meshes() const {
  absl::MutexLock lock(&mu_);
  int64_t n = 0;
  for (const auto& [key, slot] : slots_) n += slot.mesh != nullptr;
  return n;
}

std::string GlooMeshPool::DebugString() const {
  absl::MutexLock lock(&mu_);
  int64_t busy = 0;
  for (const auto& [key, slot] : slots_) busy += slot.busy;
  return absl::StrCat(slots_.size(), " pooled meshes (", busy, " busy), ", num_connects(),
                      " connects");
}

}  // namespace pw
