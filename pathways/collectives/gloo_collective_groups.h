// GlooCollectiveGroups: the CollectiveGroups registry for gangs whose shards live in several
// processes; each rank gets a GlooCommunicator meeting its peers through a RendezvousStore.
#ifndef PATHWAYS_COLLECTIVES_GLOO_COLLECTIVE_GROUPS_H_
#define PATHWAYS_COLLECTIVES_GLOO_COLLECTIVE_GROUPS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pathways/base/ids.h"
#include "pathways/collectives/collective_groups.h"
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
};

// Join never blocks (it runs on the host's dispatch thread): the TCP mesh of a gang is built
// by its first collective. One Gloo TCP device (one event-loop thread) serves every gang.
//
// Abort(gang) writes "<gang prefix>abort" to the store (so ranks still connecting, anywhere,
// and ranks joining later fail with ABORTED) and aborts this process's live communicators of
// the gang (a rank waiting for its peers is woken at once; an idle connected rank sends its
// peers an abort notice). See GlooCommunicator for what a rank inside a Gloo transfer sees.
//
// Known gaps: every gang connects its own TCP mesh (no reuse of connections across gangs with
// the same members: Join does not say which hosts the ranks live on); an aborted gang whose
// ranks had all connected leaves its abort key in the store.
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

  // Thread-safe; the first reason sticks. Size < 1 is ignored.
  void Abort(GangId gang, int64_t size, absl::Status reason) override;

  // Gangs with a live communicator in this process.
  int64_t num_live_gangs() const;
  std::string DebugString() const;

 private:
  // Shared with the communicators, which unregister themselves when destroyed.
  struct Registry;

  GlooCollectiveGroups(RendezvousStore* store, GlooCollectiveGroupsOptions options,
                       std::shared_ptr<gloo::transport::Device> device);
  std::string GangPrefix(GangId gang) const;

  RendezvousStore* const store_;
  const GlooCollectiveGroupsOptions options_;
  const std::shared_ptr<gloo::transport::Device> device_;
  const std::shared_ptr<Registry> registry_;
};

}  // namespace pw

#endif  // PATHWAYS_COLLECTIVES_GLOO_COLLECTIVE_GROUPS_H_
