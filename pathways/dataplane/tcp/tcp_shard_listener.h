// TcpShardListener: the receiving side of the TCP data plane — accepts connections from peer
// hosts' TcpDataPlanes and reads each pushed shard straight from the socket into the buffer
// ShardReceiver::BeginReceiveShard hands out (the device buffer the executor pre-allocated).
#ifndef PATHWAYS_DATAPLANE_TCP_TCP_SHARD_LISTENER_H_
#define PATHWAYS_DATAPLANE_TCP_TCP_SHARD_LISTENER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "pathways/base/ids.h"
#include "pathways/service/data_plane.h"

namespace pw {

struct TcpShardListenerOptions {
  // Names the receiving host in errors (e.g. "host:3"); SetReceiver may replace it.
  std::string name = "TCP data plane listener";
  // "ip:port"; port 0 picks a free one (address() tells which).
  std::string listen_address = "127.0.0.1:0";
  // What a sender's handshake must present (the cluster's operator token); a connection without
  // it gets a PERMISSION_DENIED verdict and is closed. Empty: nothing is required.
  std::string operator_token;
};

// One I/O thread (epoll) serves every connection: it reads the handshake and frames (see
// tcp_frames.h), calls the receiver — BeginReceiveShard, then one recv per socket read straight
// into the destination, then Finish; FailShard for a producer's error — and writes the verdicts
// back in order. The receiver's calls run on that thread and must not block for long.
//
// A connection that closes or breaks in the middle of a shard fails that shard (UNAVAILABLE
// naming the sender), so its readers never wait forever. A peer whose handshake has the wrong
// magic or wire version gets a verdict saying so (push id 0) and is disconnected.
class TcpShardListener {
 public:
  // Binds and starts serving. INVALID_ARGUMENT naming the address when it cannot listen there.
  static absl::StatusOr<std::unique_ptr<TcpShardListener>> Start(TcpShardListenerOptions options);
  // Shutdown().
  ~TcpShardListener();
  TcpShardListener(const TcpShardListener&) = delete;
  TcpShardListener& operator=(const TcpShardListener&) = delete;

  // "ip:port" peers connect to.
  const std::string& address() const { return address_; }

  // Where shards go; not owned, and it must outlive Shutdown(). Connections accepted before
  // this is called are not read until then (the listener starts before the host has joined).
  // Once; a non-empty `name` replaces the options' name, `host` goes into the handshake.
  void SetReceiver(ShardReceiver* receiver, std::string name = "", HostId host = HostId());
  // Pushes waiting for a receiver, and later ones, are answered with `reason` (the host never
  // got its executor). No effect after SetReceiver.
  void Close(absl::Status reason);

  // Disconnects every peer at once (their pushes in flight fail), fails shards received in part
  // (UNAVAILABLE "... is shutting down") and joins the I/O thread. Idempotent, any thread but
  // the I/O thread; returns once the receiver is no longer called.
  void Shutdown();

  struct Stats {
    int64_t connections = 0;     // accepted
    int64_t pushes = 0;          // push and error frames
    int64_t received_bytes = 0;  // shard bytes read from sockets
    // Shard bytes this listener copied in user space: 0, the kernel writes them into the
    // destination (a receiver without in-place buffers copies once inside BeginReceiveShard's
    // default).
    int64_t copied_bytes = 0;
    int64_t refused = 0;         // connections refused at the handshake
  };
  Stats stats() const;
  std::string DebugString() const;

 private:
  struct Conn;
  explicit TcpShardListener(TcpShardListenerOptions options);
  void Loop();
  void Accept();
  // Reads what is there and acts on complete frames; false once the connection is closed.
  bool ReadConn(Conn& conn);
  // Acts on a complete frame header (prefix + meta).
  void StartFrame(Conn& conn);
  void EndPayload(Conn& conn);
  void Verdict(Conn& conn, uint64_t push_id, const absl::Status& status);
  bool Flush(Conn& conn);
  // Closes the connection; a shard received in part fails with `why`.
  void Drop(Conn& conn, const absl::Status& why);
  void Watch(Conn& conn, bool want_write);
  void StartReading(Conn& conn);
  std::string Who(const Conn& conn) const;

  TcpShardListenerOptions options_;
  std::string address_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;

  std::string name_;  // I/O thread (and Start / Close before the receiver is decided)
  // Set before `decided_` becomes true under mu_, read by the I/O thread after it saw it.
  std::string pending_name_;
  HostId host_;
  ShardReceiver* receiver_ = nullptr;
  absl::Status closed_;

  mutable absl::Mutex mu_;
  bool decided_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool joined_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_set<int> open_fds_ ABSL_GUARDED_BY(mu_);

  // I/O thread only.
  std::vector<std::unique_ptr<Conn>> conns_;
  bool reading_ = false;  // the receiver is decided and connections are read

  std::atomic<int64_t> connections_{0};
  std::atomic<int64_t> pushes_{0};
  std::atomic<int64_t> received_bytes_{0};
  std::atomic<int64_t> refused_{0};
};

}  // namespace pw

#endif  // PATHWAYS_DATAPLANE_TCP_TCP_SHARD_LISTENER_H_
