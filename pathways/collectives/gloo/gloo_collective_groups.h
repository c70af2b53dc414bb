// GlooCollectiveGroups: the CollectiveGroups registry for gangs whose shards live in several
// processes; each rank gets a GlooCommunicator meeting its peers through a RendezvousStore.
#ifndef PATHWAYS_COLLECTIVES_GLOO_GLOO_COLLECTIVE_GROUPS_H_
#define PATHWAYS_COLLECTIVES_GLOO_GLOO_COLLECTIVE_GROUPS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pathways/base/ids.h"
#include "pathways/collectives/collective_groups.h"
#include "pathways/collectives/gloo/gloo_mesh_pool.h"
#include "pathways/collectives/rendezvous_store.h"

namespace gloo::transport {
class Device;
}  // namespace gloo::transport

namespace pw {

class GlooCommunicator;

struct GlooCollectiveGroupsOptions {
  // Names the registry in errors (e.g. "gloo host:3").
  std::string name = "gloo groups";
  // The address peers connect to: a hostname or IP of this process's host. Loopback by
  // default (one-machine clusters); set it, or `interface`, for real multi-host runs.
  std::string hostname = "127.0.0.1";
  // A network interface name (e.g. "eth0"); when set it wins over `hostname`.
  std::string interface;
  // Bounds each rank's connect and each collective (see GlooCommunicator).
  absl::Duration timeout = absl::Seconds(30);
  // Keys of gang G live under "<key_prefix><G>/" (e.g. "gloo/gang:12/").
  std::string key_prefix = "gloo/";
  // Pooled meshes kept for gangs with the same members: beyond this many, idle ones whose last
  // gang is gone are closed, least recently used first.
  int64_t max_idle_meshes = 64;
  // A rank waiting this long for its peers' arrival, or moving data this long, has the store
  // read for it every `watch`:
  // the gang's abort key (the gang was aborted somewhere: stop with its reason) and, on its
  // first collective on a pooled mesh, the gang's connect marker (a peer is connecting anew:
  // fall back). Nothing is read while no rank waits that long.
  absl::Duration watch = absl::Milliseconds(20);
  // The nice value, in [0, 19], of the Gloo device's event-loop thread, named "pw-gloo-loop".
  // With cores oversubscribed, a loop at the device threads' priority spins while the thread
  // holding the lock it needs waits for a core (gloo_loop_thread.h); at 19, 8 ranks of 4
  // processes on 2 cores run a scalar all-reduce ~3x faster than at 0 (docs/benchmarks.md).
  // The price: on a host whose cores are saturated by other work, receiving waits for it.
  // 0 keeps the creating thread's value. A value outside [0, 19] fails Create; a loop thread
  // the kernel will not renice is logged and left as it is.
  int loop_thread_nice = 19;
  // Tests only: GlooCommunicatorOptions::before_data_moves of every communicator.
  std::function<void(int64_t rank)> before_data_moves;
};

// Join never blocks (it runs on the host's dispatch thread): the TCP mesh of a gang is built
// by its first collective. One Gloo TCP device (one event-loop thread) serves every gang.
//
// Abort(gang) writes "<gang prefix>abort" to the store (so ranks still connecting, anywhere,
// and ranks joining later fail with ABORTED) and aborts this process's live communicators of
// the gang (a rank waiting for its peers is woken at once; an idle connected rank sends its
// peers an abort notice). See GlooCommunicator for what a rank inside a Gloo transfer sees.
//
// Mesh reuse: a gang joined with a member key (Join's four-argument form) takes the connected
// mesh of an earlier gang with the same members from this process's pool instead of meeting
// through the store, so a chain of gangs on one slice connects once (see GlooCommunicator for
// the fallback when some rank no longer has the mesh). A watcher thread reads the store for
// ranks waiting long in an arrival exchange, so an abort written there (by a rank that failed
// at dispatch, or by the controller for a lost host) stops ranks already on a connected mesh
// too, with the stored reason, rather than at the timeout.
//
// The watcher reads the abort key for ranks long inside a data transfer too: a rank moving data
// with a peer that stopped without closing its sockets (SIGSTOP, a partition) is released as
// soon as the controller declares the peer lost and aborts the gang (the mesh's sockets are
// shut down, see GlooCommunicator), not at the timeout.
//
// Known gap: an aborted gang whose ranks had connected (or that ran on pooled meshes) leaves
// its abort key in the store.
class GlooCollectiveGroups final : public CollectiveGroups {
 public:
  // `store` must outlive this object and every communicator it hands out. Errors: UNAVAILABLE
  // when the Gloo TCP device cannot be created on the hostname / interface.
  static absl::StatusOr<std::unique_ptr<GlooCollectiveGroups>> Create(
      RendezvousStore* store, GlooCollectiveGroupsOptions options = {});
  GlooCollectiveGroups(const GlooCollectiveGroups&) = delete;
  GlooCollectiveGroups& operator=(const GlooCollectiveGroups&) = delete;
  ~GlooCollectiveGroups() override;

  // Errors: INVALID_ARGUMENT for size < 1, a rank outside [0, size), or a size different from
  // the one another rank of the gang in this process joined with; ALREADY_EXISTS when the rank
  // already joined in this process and its communicator is still alive. A size mismatch with a
  // rank in another process surfaces at the first collective (INVALID_ARGUMENT there, ABORTED
  // on the other ranks).
  absl::StatusOr<std::unique_ptr<Communicator>> Join(GangId gang, int64_t size,
                                                     int64_t rank) override;
  // The same, reusing the mesh of an earlier gang with the same `member_key` (0: no reuse).
  absl::StatusOr<std::unique_ptr<Communicator>> Join(GangId gang, int64_t size, int64_t rank,
                                                     uint64_t member_key) override;

  // Thread-safe; the first reason sticks. Size < 1 is ignored.
  void Abort(GangId gang, int64_t size, absl::Status reason) override;

  // Gangs with a live communicator in this process.
  int64_t num_live_gangs() const;
  // Meshes this process's ranks built through the rendezvous (one per rank per connect).
  int64_t num_connects() const;
  // Connected meshes held for reuse (idle or in use).
  int64_t num_pooled_meshes() const;
  std::string DebugString() const;

 private:
  // Shared with the communicators, which unregister themselves when destroyed.
  struct Registry;

  GlooCollectiveGroups(RendezvousStore* store, GlooCollectiveGroupsOptions options,
                       std::shared_ptr<gloo::transport::Device> device);
  std::string GangPrefix(GangId gang) const;
  // The watcher thread's loop (see the class comment).
  void Watch();

  RendezvousStore* const store_;
  const GlooCollectiveGroupsOptions options_;
  const std::shared_ptr<gloo::transport::Device> device_;
  const std::shared_ptr<Registry> registry_;
  const std::shared_ptr<GlooMeshPool> pool_;
  std::thread watcher_;
};

}  // namespace pw

#endif  // PATHWAYS_COLLECTIVES_GLOO_GLOO_COLLECTIVE_GROUPS_H_
