// TcpDataPlane: the sending side of host-to-host transfers over plain TCP sockets — one
// persistent connection per peer host, each push a small frame header followed by the shard's
// bytes written straight from its device buffer; the receiver (TcpShardListener) answers every
// push with its verdict. The lean alternative to GrpcDataPlane for bulk shard transfers (see
// docs/architecture.md for why and docs/benchmarks.md for the numbers); gRPC stays for control.
#ifndef PATHWAYS_DATAPLANE_TCP_TCP_DATA_PLANE_H_
#define PATHWAYS_DATAPLANE_TCP_TCP_DATA_PLANE_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "pathways/base/async_value.h"
#include "pathways/base/ids.h"
#include "pathways/service/host_resolver.h"
#include "pathways/dataplane/tcp/tcp_frames.h"
#include "pathways/service/data_plane.h"

namespace pw {

struct TcpDataPlaneOptions {
  // Names the sending host in errors and logs (e.g. "host:3"); its id goes into the handshake.
  std::string name = "data plane";
  HostId host;  // the sending host (invalid: not known)
  // HostId -> "ip:port" of that host's TcpShardListener. May block; called on the plane's
  // thread whenever a connection to a host is (re)opened and its address is not known yet.
  HostResolver resolve;
  // Presented in every handshake (the cluster's operator token; listeners require it).
  std::string operator_token;
};

// Threads: Push and PushError never block (they may run on a device's stream callback). A push
// to a host whose connection is up and idle is written on the calling thread with non-blocking
// sendmsg; whatever does not fit in the socket, and pushes to hosts still connecting, are
// written by the plane's I/O thread (epoll). That thread also resolves hosts, connects, reads
// the verdicts and sets the push events (their callbacks run there; they must not block).
//
// Order: pushes to one host are written, received and answered in the order Push was called.
// Copies: none in user space on this side (the kernel copies from the caller's buffer).
//
// Failures: when a host cannot be resolved or reached or its connection breaks, every push to it
// not answered yet fails UNAVAILABLE naming the host and its address; the next push opens a new
// connection.
class TcpDataPlane final : public DataPlane {
 public:
  explicit TcpDataPlane(TcpDataPlaneOptions options);
  // Shutdown().
  ~TcpDataPlane() override;
  TcpDataPlane(const TcpDataPlane&) = delete;
  TcpDataPlane& operator=(const TcpDataPlane&) = delete;

  // The event: OK once the receiver stored the shard; its error otherwise (INVALID_ARGUMENT for
  // a type mismatch, RESOURCE_EXHAUSTED when it has no memory, ...); UNAVAILABLE naming the host
  // (and its address) when it cannot be reached or the connection breaks; FAILED_PRECONDITION
  // when the peer is not a TCP data plane of this wire version. `data` must stay valid until the
  // event is set; `bytes` must be type.byte_size() (INVALID_ARGUMENT otherwise).
  EventRef Push(HostId dest_host, ArrayId array, int32_t shard, DeviceId dest_device,
                const ir::TensorType& type, const void* data, int64_t bytes) override;
  // Fire and forget; a failure is logged.
  void PushError(HostId dest_host, ArrayId array, int32_t shard, DeviceId dest_device,
                 const ir::TensorType& type, absl::Status error) override;

  // Fails every push not answered yet (UNAVAILABLE), closes the connections and joins the I/O
  // thread; later pushes fail UNAVAILABLE at once. Idempotent. Must not be called from a push
  // event's callback. Bounded: waits at most for a resolution in progress.
  void Shutdown();

  struct Stats {
    int64_t pushes = 0;         // Push and PushError calls
    int64_t payload_bytes = 0;  // shard bytes written to sockets
    int64_t copied_bytes = 0;   // shard bytes copied in user space on this side (always 0)
    int64_t connects = 0;       // connections opened
    int64_t inline_writes = 0;  // pushes written completely on the calling thread
  };
  Stats stats() const;
  std::string DebugString() const;

 private:
  struct Out;
  struct Peer;
  using OutPtr = std::unique_ptr<Out>;
  // A push or error whose event is set outside the lock.
  struct Completion {
    EventRef event;
    absl::Status status;
  };

  // A frame to `host`: its prefix (with a fresh push id) and `meta`; the caller sets the payload.
  OutPtr MakeOut(tcp_transport::FrameKind kind, HostId host, ArrayId array, int32_t shard,
                 const std::string& meta, int64_t payload_bytes);
  void Submit(OutPtr out);
  void Loop();
  void Wake();
  // I/O thread: resolves and starts connecting to the hosts in `connect_`.
  void ConnectPending();
  void HandleEvent(uint64_t serial, uint32_t events);
  // Writes what the socket takes; arms or disarms EPOLLOUT. False after a failure.
  bool WriteLocked(Peer& peer, std::vector<Completion>* done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool ReadLocked(Peer& peer, std::vector<Completion>* done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Closes the connection and fails every push to the peer with `why`.
  void FailPeerLocked(Peer& peer, const absl::Status& why, std::vector<Completion>* done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WatchLocked(Peer& peer, bool want_write) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string Where(const Peer& peer) const;
  static void Complete(std::vector<Completion>& done);

  const TcpDataPlaneOptions options_;
  const int epoll_fd_;
  const int wake_fd_;
  // Set by the constructor when the plane cannot work (no resolver, no epoll): every push then
  // fails with it.
  absl::Status unusable_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<HostId, std::unique_ptr<Peer>> peers_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, Peer*> by_serial_ ABSL_GUARDED_BY(mu_);  // open connections
  std::vector<HostId> connect_ ABSL_GUARDED_BY(mu_);  // hosts the I/O thread must connect to
  uint64_t next_serial_ ABSL_GUARDED_BY(mu_) = 1;
  std::atomic<uint64_t> next_push_id_{1};

  std::atomic<int64_t> pushes_{0};
  std::atomic<int64_t> payload_bytes_{0};
  std::atomic<int64_t> connects_{0};
  std::atomic<int64_t> inline_writes_{0};

  std::thread thread_;
};

}  // namespace pw

#endif  // PATHWAYS_DATAPLANE_TCP_TCP_DATA_PLANE_H_
