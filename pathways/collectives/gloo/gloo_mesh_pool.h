// GlooMeshPool: the connected Gloo meshes of one process, kept per (member key, size, rank) so
// that successive gangs with the same members reuse one TCP mesh instead of meeting anew.
#ifndef PATHWAYS_COLLECTIVES_GLOO_GLOO_MESH_POOL_H_
#define PATHWAYS_COLLECTIVES_GLOO_GLOO_MESH_POOL_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "pathways/collectives/gloo/gloo_mesh_sockets.h"

namespace gloo {
class Context;
}  // namespace gloo

namespace pw {

// One rank's connected full mesh. Only the thread running a collective on it touches it.
struct GlooMesh {
  explicit GlooMesh(std::shared_ptr<gloo::Context> c) : context(std::move(c)) {}
  // Destroying the last reference closes the rank's TCP pairs, which is how its peers learn
  // that the mesh is gone.
  std::shared_ptr<gloo::Context> context;
  // Tags keep counting across the gangs that share the mesh: a late message of an earlier gang
  // can never match a slot of a later one, and a rank out of step is caught by the tag (and the
  // gang id) in the arrival exchange.
  uint32_t next_tag = 0;
  // Its TCP connections, for an abort to shut them down (gloo_mesh_sockets.h).
  GlooMeshConnections connections;
};

// Which ranks a mesh connects: the same key, size and rank in every process of the gang.
struct GlooMeshKey {
  uint64_t members = 0;  // HostStep::group_key (a hash of the ordered physical devices)
  int64_t size = 0;
  int64_t rank = 0;

  friend bool operator==(const GlooMeshKey&, const GlooMeshKey&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const GlooMeshKey& k) {
    return H::combine(std::move(h), k.members, k.size, k.rank);
  }
  std::string DebugString() const;
};

// A slot per key holds at most one mesh, idle or busy with the communicator ("user") running a
// collective on it. Between two collectives of a gang the mesh sits idle in its slot, marked
// with the communicator that used it last, and only that communicator may take it back —
// unless it is a communicator's FIRST collective, which may take any idle mesh of its slot
// (that is the hand-over from one gang to the next). Callers guarantee that collectives of
// successive gangs on one slot never overlap (the device stream runs one step at a time), so a
// first collective finding the mesh idle means the previous gang is done with it.
//
// Thread-safe. Users are identified by NewUser() serials, never by address, so a communicator
// allocated where a dead one lived is not mistaken for it.
class GlooMeshPool {
 public:
  // Beyond `max_idle_meshes` slots, idle meshes whose last user is gone are closed, least
  // recently used first; a slot whose last user still exists is never evicted (that gang may
  // have collectives left).
  explicit GlooMeshPool(int64_t max_idle_meshes = 64) : max_idle_meshes_(max_idle_meshes) {}
  GlooMeshPool(const GlooMeshPool&) = delete;
  GlooMeshPool& operator=(const GlooMeshPool&) = delete;

  uint64_t NewUser() { return next_user_.fetch_add(1, std::memory_order_relaxed) + 1; }

  // Marks the slot's idle mesh busy with `user` and returns it; nullptr when the slot has no
  // idle mesh, or (first == false) when `user` did not return it last.
  std::shared_ptr<GlooMesh> Take(const GlooMeshKey& key, uint64_t user, bool first);

  // After a collective that left `mesh` in step: it becomes the slot's idle mesh, last used by
  // `user` (replacing, and so closing, any other idle mesh of the slot). False when the slot is
  // busy with another mesh: then the caller keeps `mesh` to itself.
  bool Return(const GlooMeshKey& key, uint64_t user, std::shared_ptr<GlooMesh> mesh);

  // Forgets `mesh` if it is the slot's (after an error it may be out of step).
  void Drop(const GlooMeshKey& key, const GlooMesh* mesh);

  // Removes and returns the slot's idle mesh if `user` returned it last and nobody took it
  // since (an aborted communicator tells its peers on it, then lets it close).
  std::shared_ptr<GlooMesh> Reclaim(const GlooMeshKey& key, uint64_t user);

  // `user` is destroyed: its slot's idle mesh may now be evicted.
  void UserGone(const GlooMeshKey& key, uint64_t user);

  // Closes every idle mesh (busy ones go when their users are done with them).
  void Clear();

  // Meshes connected through a rendezvous by communicators sharing this pool (per rank).
  void CountConnect() { connects_.fetch_add(1, std::memory_order_relaxed); }
  int64_t num_connects() const { return connects_.load(std::memory_order_relaxed); }
  // Slots holding a mesh (idle or busy).
  int64_t num_meshes() const;
  std::string DebugString() const;

 private:
  struct Slot {
    std::shared_ptr<GlooMesh> mesh;
    uint64_t user = 0;       // took or returned `mesh` last
    bool busy = false;       // `user` is running a collective on it
    bool user_live = false;  // `user` still exists: it may take the mesh back
    uint64_t last_return = 0;
  };
  // Removes the slots over the limit; the caller destroys them after the lock.
  std::vector<std::shared_ptr<GlooMesh>> EvictLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int64_t max_idle_meshes_;
  std::atomic<uint64_t> next_user_{0};
  std::atomic<int64_t> connects_{0};
  mutable absl::Mutex mu_;
  absl::flat_hash_map<GlooMeshKey, Slot> slots_ ABSL_GUARDED_BY(mu_);
  uint64_t clock_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace pw

#endif  // PATHWAYS_COLLECTIVES_GLOO_GLOO_MESH_POOL_H_
