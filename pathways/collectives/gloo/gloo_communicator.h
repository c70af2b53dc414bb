// GlooCommunicator: one rank's Communicator over Gloo's TCP transport, for gangs whose shards
// live in different processes (what XLA's CPU backend and PyTorch use across hosts).
#ifndef PATHWAYS_COLLECTIVES_GLOO_GLOO_COMMUNICATOR_H_
#define PATHWAYS_COLLECTIVES_GLOO_GLOO_COMMUNICATOR_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "pathways/base/ids.h"
#include "pathways/collectives/collective_checks.h"
#include "pathways/collectives/gloo/gloo_mesh_pool.h"
#include "pathways/collectives/rendezvous_store.h"
#include "pathways/ir/dtype.h"
#include "pathways/ir/op.h"
#include "pathways/kernels/communicator.h"

namespace gloo {
class Context;
namespace transport {
class Device;
class UnboundBuffer;
}  // namespace transport
}  // namespace gloo

namespace pw {

struct GlooCommunicatorOptions {
  GangId gang;
  int64_t size = 1;
  int64_t rank = 0;
  // Names the communicator in errors, e.g. "gloo groups gang:12".
  std::string name = "gloo";
  // Bounds the connect and each collective: a peer that does not arrive in time fails the
  // group with DEADLINE_EXCEEDED naming it.
  absl::Duration timeout = absl::Seconds(30);
  // Where ranks publish their addresses; must outlive the communicator.
  RendezvousStore* store = nullptr;
  // Gloo TCP device (one per process is enough: it owns the socket event loop).
  std::shared_ptr<gloo::transport::Device> device;
  // The gang's keys in `store`; "<prefix>abort" marks the gang aborted.
  std::string key_prefix;
  // Called once from the destructor (the registry forgets the rank).
  std::function<void()> on_destroy;
  // Gangs with the same nonzero member key have the same ranks on the same devices (see
  // CollectiveGroups::Join): this rank then takes the mesh a previous such gang left in `pool`
  // instead of meeting its peers anew, and leaves its own there. 0: a mesh of its own.
  uint64_t member_key = 0;
  // Shared by the communicators of one process; counts connects even without a member key.
  // Null: no reuse, no counting.
  std::shared_ptr<GlooMeshPool> pool;
  // Tests only: called on the calling thread after the arrival exchange agreed on a call and
  // before its data moves (a test stalls a rank there as a stopped process would).
  std::function<void(int64_t rank)> before_data_moves;
};

// Connecting is lazy: Join runs on the host's dispatch thread and must not block, so the full
// TCP mesh is built by the first collective (on the device stream thread), through the store.
//
// Reuse (member key set): the first collective takes the idle mesh of (member key, size, rank)
// from the pool if there is one, and every collective that leaves the mesh in step returns it,
// so the next gang with the same members finds it; errors, timeouts and aborts drop it
// (closing its TCP pairs). A pooled mesh is only a guess that every peer kept it too: a peer
// may have dropped it (an error on its side, a restarted process, a gang it skipped because it
// was aborted there). So on the FIRST collective on a pooled mesh, a peer that is gone (closed
// pair), out of step (its arrival message names another gang or tag) or connecting anew (the
// gang's "<prefix>size" key exists in the store, seen by the registry's watcher) makes this
// rank drop the mesh and connect anew under the gang's keys, exactly like a rank without a
// pooled mesh; dropping closes its pairs, so the other pooled ranks fall back the same way and
// the whole gang meets in one rendezvous. No rank can finish an arrival exchange on the old
// mesh while another rank connects anew (every rank must hear from every peer), so the gang
// never splits between two meshes. Before connecting, the gang's abort key is read: an aborted
// gang fails ABORTED with the stored reason instead of meeting.
//
// Every collective starts with an arrival exchange: each rank sends every peer a small
// descriptor (operation, dtype, count, reduction, pairs) and receives theirs. That is where a
// missing peer is detected and named (DEADLINE_EXCEEDED), where arguments that differ across
// ranks become INVALID_ARGUMENT on every rank (instead of a mismatched Gloo transfer), and where
// an abort notice from a failed peer arrives (ABORTED with its reason). The data then moves
// with Gloo's algorithms (ring all-reduce, all-gather, all-to-all; reduce-scatter is an
// all-reduce plus a slice) or unbound-buffer send/recv (collective permute).
//
// Failure is sticky except for argument disagreement (which every rank sees alike before any
// data moves): after an abort, a timeout or a lost peer every later call returns the same error.
// Every arrival message names the gang, so ranks of different gangs sharing a mesh by mistake
// fail (ABORTED with the reason when the store says the gang was aborted) instead of mixing.
//
// Limits of abort: a rank waiting in the arrival exchange or the connect is woken at once by a
// local Abort(), and remote ranks are woken by the abort notice (or the store's abort key) of
// the rank that failed before its collective, by its closed connections (a mesh that broke is
// dropped at once, and the reason read from the store), or by the registry's watcher, which
// reads the gang's abort key for ranks waiting long in an arrival exchange (so a rank that
// aborted at Join, without ever touching the mesh, stops its peers within a few tens of
// milliseconds). A rank already inside a Gloo data transfer cannot be woken through Gloo's
// API; Abort(), and the watcher once the gang's abort key is in the store (the controller
// writes it when it declares a host lost), shut the mesh's sockets down (gloo_mesh_sockets.h),
// so the transfer fails at once with the abort's reason (ABORTED) instead of waiting for a peer
// that stopped without closing its sockets (SIGSTOP, a partition) until the timeout. The mesh
// is dropped, as after any error. A rank inside Gloo's connect is not interruptible either, which is why
// the gang first agrees on one connect verdict through the store.
//
// Cost (2-core machine, loopback, 2 ranks in one process): ~2.4 ms per one-float all-reduce,
// far above Gloo's ~90 µs between processes; the arrival exchange doubles the round trips and
// Gloo's unbound-buffer rendezvous wakes several threads per message. Not yet profiled.
class GlooCommunicator final : public Communicator {
 public:
  // Errors: INVALID_ARGUMENT for a size < 1, a rank outside [0, size), or a missing store or
  // device (size 1 needs neither).
  static absl::StatusOr<std::unique_ptr<GlooCommunicator>> Create(
      GlooCommunicatorOptions options);
  GlooCommunicator(const GlooCommunicator&) = delete;
  GlooCommunicator& operator=(const GlooCommunicator&) = delete;
  ~GlooCommunicator() override;

  int64_t size() const override { return options_.size; }
  int64_t rank() const override { return options_.rank; }

  absl::Status AllReduce(const void* input, void* output, int64_t count, ir::DType dtype,
                         ir::ReduceKind kind) override;
  absl::Status AllGather(const void* input, void* output, int64_t count,
                         ir::DType dtype) override;
  absl::Status ReduceScatter(const void* input, void* output, int64_t count, ir::DType dtype,
                             ir::ReduceKind kind) override;
  absl::Status AllToAll(const void* input, void* output, int64_t count,
                        ir::DType dtype) override;
  absl::Status CollectivePermute(const void* input, void* output, int64_t bytes,
                                 absl::Span<const std::pair<int64_t, int64_t>> pairs) override;

  // Breaks the group for this rank (thread-safe, any thread; the first reason sticks): a call
  // waiting in the arrival exchange returns ABORTED, later calls too. If this rank is idle and
  // connected, its peers get an abort notice so they stop waiting for it. A pooled mesh this
  // rank returned and no later gang took yet is taken out of the pool for that notice; one a
  // later gang already uses is left alone (this gang finished every collective on it).
  void Abort(const absl::Status& reason);

  // For the registry's watcher, which reads the store on behalf of ranks waiting long in an
  // arrival exchange or a data transfer. When this rank started waiting for its peers or moving
  // data (nullopt: neither), and whether it may still fall back to a new mesh (its first
  // collective, on a pooled mesh, still in the arrival exchange).
  struct Waiting {
    absl::Time since;
    bool may_reconnect = false;
  };
  std::optional<Waiting> waiting() const;
  // The gang's abort key holds `reason`: like Abort(), without a notice (everyone can read it).
  void AbortFromStore(const std::string& reason);
  // A peer is connecting anew: a wait that may fall back stops and falls back.
  void Reconnect();

  std::string DebugString() const override;

 private:
  using Kind = collectives::CollectiveKind;
  using Call = collectives::CollectiveCall;
  struct Descriptor;

  explicit GlooCommunicator(GlooCommunicatorOptions options);
  // A Gloo timeout: at least 1 ms (Gloo reads 0 as "no timeout").
  static std::chrono::milliseconds ToMillis(absl::Duration d);
  static const char* KindName(Kind kind) { return collectives::CollectiveKindName(kind); }

  absl::Status Run(const Call& call);
  // Runs the operation guarded against Gloo's exceptions, which never cross this class.
  absl::Status RunLocked(const Call& call) ABSL_EXCLUSIVE_LOCKS_REQUIRED(op_mu_);
  // Exchange and data movement on mesh_.
  absl::Status CollectiveLocked(const Call& call, const std::string& local_error)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(op_mu_);
  std::string ValidateLocal(const Call& call) const;
  // Sets mesh_: the mesh this rank used last, the pool's idle mesh (first collective), or a
  // new one through the rendezvous.
  absl::Status AcquireMeshLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(op_mu_);
  absl::Status ConnectLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(op_mu_);
  // After a collective: a mesh left in step goes back to the pool (or stays with this rank);
  // otherwise it is dropped.
  void ReleaseMeshLocked(bool in_step) ABSL_EXCLUSIVE_LOCKS_REQUIRED(op_mu_);
  bool keyed() const { return options_.member_key != 0 && options_.pool != nullptr; }
  GlooMeshKey mesh_key() const {
    return GlooMeshKey{options_.member_key, options_.size, options_.rank};
  }
  // The arrival exchange before every collective: each rank sends its descriptor to every
  // peer and waits for theirs; the verdict is the same on every rank.
  absl::Status ExchangeDescriptorsLocked(const Call& call, const std::string& local_error,
                                         uint32_t tag) ABSL_EXCLUSIVE_LOCKS_REQUIRED(op_mu_);
  // What the exchange's sends and waits found (all[p] holds what peer p sent, if it arrived).
  struct Arrival {
    absl::Status broken;        // the communicator was already broken: nothing was sent
    std::vector<bool> arrived;  // by rank
    std::vector<int> missing;   // ranks that did not arrive in time
    std::string lost;           // a peer whose connection failed, with Gloo's words
    bool aborted_here = false;  // this rank's wait was cut short (Abort, or a reconnect request)
    bool settled = false;       // an abort notice or a rank out of step decides the outcome
    bool reconnect_requested = false;
  };
  Arrival AwaitArrivalsLocked(std::vector<Descriptor>& all, uint32_t tag, bool may_reconnect)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(op_mu_);
  // The error the arrival means, or OK when every peer arrived in step.
  absl::Status JudgeArrivalLocked(const std::string& op, const std::vector<Descriptor>& all,
                                  uint32_t tag, const Arrival& arrival, bool may_reconnect)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(op_mu_);
  // INVALID_ARGUMENT when a rank's call was invalid or the ranks called different collectives.
  static absl::Status CheckAgreement(const std::string& op, const std::vector<Descriptor>& all);
  // The first collective on a pooled mesh found it unusable: fall back to a new mesh.
  absl::Status FallBackLocked(const std::string& op, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(op_mu_);
  // A peer sent an arrival message of another gang or tag (`what` says which).
  absl::Status OutOfStepLocked(const std::string& op, const std::string& what,
                               bool may_reconnect) ABSL_EXCLUSIVE_LOCKS_REQUIRED(op_mu_);
  void MoveDataLocked(const Call& call, uint32_t tag) ABSL_EXCLUSIVE_LOCKS_REQUIRED(op_mu_);
  void ComputeAlone(const Call& call) const;
  // Tells every peer this rank was aborted (once, if connected and aborted locally), so they
  // stop waiting for it at the collective it will never reach.
  void SendAbortNoticeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(op_mu_);
  void FillDescriptor(const Call& call, const std::string& local_error, Descriptor& d) const;
  static std::string DescribeDescriptor(const Descriptor& d);
  std::string DescribeOutOfStep(int peer, const Descriptor& d, uint32_t tag) const;

  // UNAVAILABLE for a lost peer, or ABORTED when the gang's abort reason is in the store.
  absl::Status PeerLost(const std::string& op, const std::string& detail);
  // The gang's abort reason from the store, if it was aborted.
  std::optional<std::string> StoredAbortReason() const;
  // Records a sticky failure (the first one wins) and returns it.
  absl::Status Break(absl::Status status);
  absl::Status BrokenStatus() const;
  std::string Describe() const;

  const GlooCommunicatorOptions options_;

  // Identifies this communicator to the pool (never reused, unlike its address).
  const uint64_t pool_user_;

  // Held for a whole collective: the calling thread owns the mesh while it runs.
  absl::Mutex op_mu_;
  // The mesh this rank talks on: held during a collective when it belongs to the pool (which
  // keeps it in between), for good otherwise (no member key, or the pool's slot was busy).
  std::shared_ptr<GlooMesh> mesh_ ABSL_GUARDED_BY(op_mu_);
  // mesh_ belongs to the pool (taken from it or returned to it); with mesh_ null: this rank
  // returned it last and takes it back at its next collective.
  bool in_pool_ ABSL_GUARDED_BY(op_mu_) = false;
  // mesh_ came from the pool at this rank's first collective and no arrival exchange succeeded
  // on it yet: a peer that is not on it any more means "fall back", not "fail".
  bool may_reconnect_ ABSL_GUARDED_BY(op_mu_) = false;
  bool reconnect_ ABSL_GUARDED_BY(op_mu_) = false;  // set by the exchange: fall back now
  // A mesh built through the rendezvous: rank 0 erases the gang's keys after its first exchange.
  bool erase_keys_ ABSL_GUARDED_BY(op_mu_) = false;
  // The abort notice in flight; kept until this communicator goes (declared after mesh_:
  // destroyed first; the buffer itself keeps the Gloo context alive while it exists).
  std::unique_ptr<Descriptor> abort_notice_ ABSL_GUARDED_BY(op_mu_);
  std::unique_ptr<gloo::transport::UnboundBuffer> abort_notice_buffer_ ABSL_GUARDED_BY(op_mu_);

  // Short critical sections only: failure state and the receives Abort() may cut short.
  mutable absl::Mutex mu_;
  absl::Status broken_ ABSL_GUARDED_BY(mu_);
  // The reason given to Abort() (empty when the group broke otherwise): what peers are told.
  std::string abort_reason_ ABSL_GUARDED_BY(mu_);
  std::vector<gloo::transport::UnboundBuffer*> waiting_ ABSL_GUARDED_BY(mu_);
  // While waiting_ is not empty: since when, whether the wait may fall back, and whether the
  // watcher asked it to.
  absl::Time waiting_since_ ABSL_GUARDED_BY(mu_);
  bool waiting_may_reconnect_ ABSL_GUARDED_BY(mu_) = false;
  bool reconnect_requested_ ABSL_GUARDED_BY(mu_) = false;
  // While a call's data moves: the mesh it moves on (whose sockets an abort shuts down) and
  // since when.
  std::shared_ptr<GlooMesh> transfer_mesh_ ABSL_GUARDED_BY(mu_);
  absl::Time transfer_since_ ABSL_GUARDED_BY(mu_);
  // Shuts the sockets of transfer_mesh_ down (nothing without a transfer).
  void BreakTransferLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
};

}  // namespace pw

#endif  // PATHWAYS_COLLECTIVES_GLOO_GLOO_COMMUNICATOR_H_
