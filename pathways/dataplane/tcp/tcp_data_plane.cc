// TcpDataPlane: pushes as frames on one persistent TCP connection per peer host.
#include "pathways/dataplane/tcp/tcp_data_plane.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pathways/base/logging.h"
#include "pathways/base/thread_name.h"
#include "pathways/dataplane/tcp/tcp_frames.h"
#include "pathways/wire/wire.pb.h"
#include "pathways/wire/wire_convert.h"

namespace pw {

using tcp_transport::FrameKind;

namespace {
constexpr int kMaxIov = 64;
std::string Errno(int err) { return std::strerror(err); }
}  // namespace

// One push (or producer error) on its way: its frame header, then (push) the caller's bytes.
struct TcpDataPlane::Out {
  uint64_t id = 0;
  HostId host;
  ArrayId array;
  int32_t shard = 0;
  std::string head;             // prefix + meta
  const char* data = nullptr;   // the payload, the caller's memory
  int64_t bytes = 0;
  int64_t written = 0;          // of head.size() + bytes
  EventRef event;
  int64_t total() const { return static_cast<int64_t>(head.size()) + bytes; }
};

struct TcpDataPlane::Peer {
  enum class State { kIdle, kResolving, kConnecting, kConnected };
  HostId host;
  std::string address;  // empty until resolved
  State state = State::kIdle;
  int fd = -1;
  uint64_t serial = 0;
  bool want_write = false;        // EPOLLOUT armed
  std::string hello;              // our handshake, written before any frame
  size_t hello_written = 0;
  bool got_hello = false;         // the receiver's handshake arrived
  std::string in;                 // bytes read, not parsed yet
  std::deque<OutPtr> queue;       // not completely written, in Push order
  std::deque<OutPtr> awaiting;    // written, waiting for their verdict, in order
};

TcpDataPlane::TcpDataPlane(TcpDataPlaneOptions options)
    : options_(std::move(options)),
      epoll_fd_(epoll_create1(EPOLL_CLOEXEC)),
      wake_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  // A plane that cannot work fails every push with the reason instead of crashing the host.
  if (options_.resolve == nullptr) {
    unusable_ = absl::FailedPreconditionError(
        absl::StrCat(options_.name, ": TcpDataPlaneOptions.resolve is required"));
  } else if (epoll_fd_ < 0 || wake_fd_ < 0) {
    unusable_ = absl::ResourceExhaustedError(
        absl::StrCat(options_.name, ": cannot create the data plane's epoll/eventfd: ",
                     Errno(errno)));
  }
  if (!unusable_.ok()) {
    PW_LOG(ERROR) << unusable_;
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    return;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;  // serial 0: the wake-up eventfd
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  thread_ = std::thread([this] { Loop(); });
}

TcpDataPlane::~TcpDataPlane() {
  Shutdown();
  if (epoll_fd_ >= 0) close(epoll_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

TcpDataPlane::OutPtr TcpDataPlane::MakeOut(FrameKind kind, HostId host, ArrayId array,
                                           int32_t shard, const std::string& meta,
                                           int64_t payload_bytes) {
  auto out = std::make_unique<Out>();
  out->id = next_push_id_.fetch_add(1, std::memory_order_relaxed);
  out->host = host;
  out->array = array;
  out->shard = shard;
  tcp_transport::AppendPrefix({kind, static_cast<uint32_t>(meta.size()), out->id,
                               static_cast<uint64_t>(payload_bytes)},
                              &out->head);
  out->head += meta;
  return out;
}

EventRef TcpDataPlane::Push(HostId dest_host, ArrayId array, int32_t shard, DeviceId dest_device,
                            const ir::TensorType& type, const void* data, int64_t bytes) {
  EventRef event = AsyncEvent::Create();
  if (bytes != type.byte_size() || bytes < 0) {
    pushes_.fetch_add(1, std::memory_order_relaxed);
    event->SetError(absl::InvalidArgumentError(absl::StrCat(
        options_.name, ": push of ", array.DebugString(), " shard ", shard, " to ",
        dest_host.DebugString(), ": ", bytes, " bytes for ", type.DebugString(), " of ",
        type.byte_size(), " bytes")));
    return event;
  }
  OutPtr out = MakeOut(
      FrameKind::kPush, dest_host, array, shard,
      wire::ChunkToProto(wire::ShardPushHeader{array, shard, dest_device, type}, 0, "", 0)
          .SerializeAsString(),
      bytes);
  out->data = static_cast<const char*>(data);
  out->bytes = bytes;
  out->event = event;
  Submit(std::move(out));
  return event;
}

void TcpDataPlane::PushError(HostId dest_host, ArrayId array, int32_t shard,
                             DeviceId dest_device, const ir::TensorType& type,
                             absl::Status error) {
  if (error.ok()) error = absl::UnknownError("the producer failed without a reason");
  OutPtr out = MakeOut(
      FrameKind::kError, dest_host, array, shard,
      wire::ErrorToProto(wire::ShardPushHeader{array, shard, dest_device, type}, error)
          .SerializeAsString(),
      0);
  out->event = AsyncEvent::Create();
  out->event->AndThen([name = options_.name, array, shard, dest_host](const absl::Status& s) {
    if (!s.ok()) {
      PW_LOG(WARNING) << name << ": could not tell " << dest_host << " that " << array
                      << " shard " << shard << " failed: " << s;
    }
  });
  Submit(std::move(out));
}

void TcpDataPlane::Submit(OutPtr out) {
  pushes_.fetch_add(1, std::memory_order_relaxed);
  std::vector<Completion> done;
  bool wake = false;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      done.push_back({std::move(out->event),
                      unusable_.ok()
                          ? absl::UnavailableError(absl::StrCat(
                                options_.name, ": the data plane is shut down; no push to ",
                                out->host.DebugString()))
                          : unusable_});
    } else {
      std::unique_ptr<Peer>& slot = peers_[out->host];
      if (slot == nullptr) {
        slot = std::make_unique<Peer>();
        slot->host = out->host;
      }
      Peer& peer = *slot;
      Out* raw = out.get();
      peer.queue.push_back(std::move(out));
      switch (peer.state) {
        case Peer::State::kIdle:
          peer.state = Peer::State::kResolving;
          connect_.push_back(peer.host);
          wake = true;
          break;
        case Peer::State::kResolving:
        case Peer::State::kConnecting:
          break;
        case Peer::State::kConnected:
          // Idle connection: write on this thread; what the socket does not take now is left
          // to the I/O thread (EPOLLOUT).
          if (peer.queue.size() == 1 && !peer.want_write) {
            if (WriteLocked(peer, &done) && raw->written == raw->total()) {
              inline_writes_.fetch_add(1, std::memory_order_relaxed);
            }
          }
          break;
      }
    }
  }
  Complete(done);
  if (wake) Wake();
}

void TcpDataPlane::Wake() {
  if (wake_fd_ < 0) return;
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

void TcpDataPlane::Complete(std::vector<Completion>& done) {
  for (Completion& c : done) c.event->SetStatus(std::move(c.status));
  done.clear();
}

std::string TcpDataPlane::Where(const Peer& peer) const {
  return absl::StrCat(peer.host.DebugString(), " at ",
                      peer.address.empty() ? std::string("?") : peer.address);
}

void TcpDataPlane::Loop() {
  SetCurrentThreadName("pw-tcp-send");
  epoll_event events[64];
  std::vector<Completion> done;
  for (;;) {
    const int n = epoll_wait(epoll_fd_, events, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      PW_LOG(ERROR) << options_.name << ": epoll_wait: " << Errno(errno);
      return;
    }
    bool woken = false;
    bool stop = false;
    {
      absl::MutexLock lock(&mu_);
      for (int i = 0; i < n; ++i) {
        if (events[i].data.u64 == 0) {
          uint64_t count;
          (void)!read(wake_fd_, &count, sizeof(count));
          woken = true;
          continue;
        }
        auto it = by_serial_.find(events[i].data.u64);
        if (it == by_serial_.end()) continue;  // closed earlier in this batch
        Peer& peer = *it->second;
        const uint32_t ev = events[i].events;
        if (peer.state == Peer::State::kConnecting) {
          if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) continue;
          if (const int err = tcp_transport::SocketError(peer.fd); err != 0) {
            FailPeerLocked(peer,
                           absl::UnavailableError(absl::StrCat("cannot connect: ", Errno(err))),
                           &done);
            continue;
          }
          peer.state = Peer::State::kConnected;
          connects_.fetch_add(1, std::memory_order_relaxed);
        }
        if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0 && !ReadLocked(peer, &done)) continue;
        if ((ev & EPOLLOUT) != 0) (void)WriteLocked(peer, &done);
      }
      stop = stopping_;
    }
    Complete(done);
    if (stop) return;
    if (woken) ConnectPending();
  }
}

void TcpDataPlane::ConnectPending() {
  std::vector<HostId> hosts;
  {
    absl::MutexLock lock(&mu_);
    hosts.swap(connect_);
  }
  std::vector<Completion> done;
  for (HostId host : hosts) {
    std::string address;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      address = peers_[host]->address;
    }
    absl::Status failed;
    if (address.empty()) {
      absl::StatusOr<std::string> resolved = options_.resolve(host);
      if (resolved.ok()) {
        address = *resolved;
      } else {
        failed = absl::UnavailableError(absl::StrCat("its address is unknown: ",
                                                     resolved.status().message()));
      }
    }
    absl::StatusOr<int> fd = failed.ok() ? tcp_transport::StartConnect(address)
                                         : absl::StatusOr<int>(failed);
    absl::MutexLock lock(&mu_);
    Peer& peer = *peers_[host];
    if (!address.empty()) peer.address = address;
    if (stopping_) {
      if (fd.ok()) close(*fd);
      return;  // Shutdown fails the queued pushes
    }
    if (!fd.ok()) {
      FailPeerLocked(peer, absl::UnavailableError(fd.status().message()), &done);
      continue;
    }
    peer.fd = *fd;
    peer.serial = next_serial_++;
    by_serial_[peer.serial] = &peer;
    peer.state = Peer::State::kConnecting;
    peer.hello = tcp_transport::EncodeHello({tcp_transport::kMagic, tcp_transport::kTcpWireVersion,
                                             options_.host.value(), options_.operator_token});
    peer.hello_written = 0;
    peer.got_hello = false;
    peer.in.clear();
    peer.want_write = true;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u64 = peer.serial;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, peer.fd, &ev);
  }
  Complete(done);
}

void TcpDataPlane::WatchLocked(Peer& peer, bool want_write) {
  if (peer.want_write == want_write || peer.fd < 0) return;
  peer.want_write = want_write;
  epoll_event ev{};
  ev.events = EPOLLIN | (want_write ? static_cast<uint32_t>(EPOLLOUT) : 0u);
  ev.data.u64 = peer.serial;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, peer.fd, &ev);
}

bool TcpDataPlane::WriteLocked(Peer& peer, std::vector<Completion>* done) {
  for (;;) {
    iovec iov[kMaxIov];
    int count = 0;
    if (peer.hello_written < peer.hello.size()) {
      iov[count++] = {peer.hello.data() + peer.hello_written,
                      peer.hello.size() - peer.hello_written};
    }
    for (size_t i = 0; i < peer.queue.size() && count + 2 <= kMaxIov; ++i) {
      const Out& out = *peer.queue[i];
      const int64_t head = static_cast<int64_t>(out.head.size());
      if (out.written < head) {
        iov[count++] = {const_cast<char*>(out.head.data()) + out.written,
                        static_cast<size_t>(head - out.written)};
      }
      const int64_t from = std::max<int64_t>(0, out.written - head);
      if (from < out.bytes) {
        iov[count++] = {const_cast<char*>(out.data) + from, static_cast<size_t>(out.bytes - from)};
      }
    }
    if (count == 0) {
      WatchLocked(peer, false);
      return true;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    const ssize_t sent = sendmsg(peer.fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        WatchLocked(peer, true);
        return true;
      }
      FailPeerLocked(peer,
                     absl::UnavailableError(absl::StrCat("the connection broke: ", Errno(errno))),
                     done);
      return false;
    }
    size_t left = static_cast<size_t>(sent);
    if (peer.hello_written < peer.hello.size()) {
      const size_t n = std::min(left, peer.hello.size() - peer.hello_written);
      peer.hello_written += n;
      left -= n;
    }
    while (left > 0) {
      Out& out = *peer.queue.front();
      const int64_t head = static_cast<int64_t>(out.head.size());
      const int64_t n = std::min<int64_t>(static_cast<int64_t>(left), out.total() - out.written);
      const int64_t payload_before = std::max<int64_t>(0, out.written - head);
      out.written += n;
      payload_bytes_.fetch_add(std::max<int64_t>(0, out.written - head) - payload_before,
                               std::memory_order_relaxed);
      left -= static_cast<size_t>(n);
      if (out.written == out.total()) {
        peer.awaiting.push_back(std::move(peer.queue.front()));
        peer.queue.pop_front();
      }
    }
    // An empty-payload push at the front is complete once its head is.
    while (!peer.queue.empty() && peer.queue.front()->written == peer.queue.front()->total()) {
      peer.awaiting.push_back(std::move(peer.queue.front()));
      peer.queue.pop_front();
    }
  }
}

bool TcpDataPlane::ReadLocked(Peer& peer, std::vector<Completion>* done) {
  const std::string who = Where(peer);
  for (;;) {
    char buffer[16384];
    const ssize_t n = recv(peer.fd, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      FailPeerLocked(peer,
                     absl::UnavailableError(absl::StrCat("the connection broke: ", Errno(errno))),
                     done);
      return false;
    }
    if (n == 0) {
      FailPeerLocked(peer, absl::UnavailableError("the receiver closed the connection"), done);
      return false;
    }
    peer.in.append(buffer, static_cast<size_t>(n));
  }
  size_t pos = 0;
  absl::Status broken;
  if (!peer.got_hello && peer.in.size() >= tcp_transport::kHelloFixedBytes) {
    // A stranger answering is told apart by its first 16 bytes.
    broken = tcp_transport::CheckHello(tcp_transport::DecodeHello(peer.in.data(), true), who);
    if (broken.ok() && peer.in.size() >= tcp_transport::kHelloBytes) {
      pos = tcp_transport::kHelloBytes;
      peer.got_hello = true;
    }
  }
  while (broken.ok() && peer.got_hello && peer.in.size() - pos >= tcp_transport::kPrefixBytes) {
    absl::StatusOr<tcp_transport::Prefix> prefix =
        tcp_transport::DecodePrefix(peer.in.data() + pos, who);
    if (!prefix.ok()) {
      broken = absl::UnavailableError(prefix.status().message());
      break;
    }
    if (prefix->kind != FrameKind::kVerdict) {
      broken = absl::UnavailableError(
          absl::StrCat(who, ": malformed TCP data plane frame: expected a verdict"));
      break;
    }
    if (peer.in.size() - pos - tcp_transport::kPrefixBytes < prefix->meta_bytes) break;
    pathways::wire::StatusProto proto;
    absl::Status verdict;
    if (!proto.ParseFromArray(peer.in.data() + pos + tcp_transport::kPrefixBytes,
                              static_cast<int>(prefix->meta_bytes))) {
      broken = absl::UnavailableError(absl::StrCat(who, ": malformed verdict"));
      break;
    }
    absl::StatusOr<wire::PeerStatus> status = wire::FromProto(proto);
    verdict = status.ok() ? status->status : status.status();
    pos += tcp_transport::kPrefixBytes + prefix->meta_bytes;
    if (prefix->push_id == 0) {  // the receiver refused the connection
      broken = verdict.ok() ? absl::UnavailableError("the receiver refused the connection")
                            : verdict;
      break;
    }
    if (peer.awaiting.empty() || peer.awaiting.front()->id != prefix->push_id) {
      broken = absl::UnavailableError(absl::StrCat(
          who, ": a verdict for push ", prefix->push_id, " which is not the next one waiting"));
      break;
    }
    done->push_back({std::move(peer.awaiting.front()->event), std::move(verdict)});
    peer.awaiting.pop_front();
  }
  peer.in.erase(0, pos);
  if (!broken.ok()) {
    FailPeerLocked(peer, broken, done);
    return false;
  }
  return true;
}

void TcpDataPlane::FailPeerLocked(Peer& peer, const absl::Status& why,
                                  std::vector<Completion>* done) {
  if (peer.fd >= 0) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, peer.fd, nullptr);
    close(peer.fd);
    by_serial_.erase(peer.serial);
    peer.fd = -1;
  }
  peer.state = Peer::State::kIdle;
  peer.want_write = false;
  peer.in.clear();
  const auto fail = [&](OutPtr& out) {
    done->push_back({std::move(out->event),
                     absl::Status(why.code(), absl::StrCat(options_.name, ": push of ",
                                                           out->array.DebugString(), " shard ",
                                                           out->shard, " to ", Where(peer), ": ",
                                                           why.message()))});
  };
  for (OutPtr& out : peer.awaiting) fail(out);
  for (OutPtr& out : peer.queue) fail(out);
  peer.awaiting.clear();
  peer.queue.clear();
  // The host is resolved again on the next connection: it may have moved.
  peer.address.clear();
}

void TcpDataPlane::Shutdown() {
  std::vector<Completion> done;
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      stopping_ = true;
      const absl::Status down = absl::UnavailableError("the data plane shut down");
      for (auto& [host, peer] : peers_) FailPeerLocked(*peer, down, &done);
      connect_.clear();
    }
  }
  Complete(done);
  Wake();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

TcpDataPlane::Stats TcpDataPlane::stats() const {
  Stats s;
  s.pushes = pushes_.load(std::memory_order_relaxed);
  s.payload_bytes = payload_bytes_.load(std::memory_order_relaxed);
  s.copied_bytes = 0;
  s.connects = connects_.load(std::memory_order_relaxed);
  s.inline_writes = inline_writes_.load(std::memory_order_relaxed);
  return s;
}

std::string TcpDataPlane::DebugString() const {
  const Stats s = stats();
  absl::MutexLock lock(&mu_);
  int64_t waiting = 0;
  for (const auto& [host, peer] : peers_) {
    waiting += static_cast<int64_t>(peer->queue.size() + peer->awaiting.size());
  }
  return absl::StrCat("TCP data plane of ", options_.name, " (", peers_.size(), " peers, ",
                      s.pushes, " pushes, ", s.payload_bytes, " bytes, ", s.connects,
                      " connects, ", waiting, " unanswered)");
}

}  // namespace pw
