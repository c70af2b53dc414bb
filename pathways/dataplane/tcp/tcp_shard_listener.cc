// TcpShardListener: pushed shards read from sockets straight into their destination buffers.
#include "pathways/dataplane/tcp/tcp_shard_listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
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
// Bytes one connection may read per wake-up before the others get their turn.
constexpr int64_t kReadBudget = int64_t{8} << 20;
std::string Errno(int err) { return std::strerror(err); }

std::string PeerName(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "?";
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (addr.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
    port = ntohs(a->sin6_port);
  }
  return absl::StrCat(host, ":", port);
}
}  // namespace

struct TcpShardListener::Conn {
  // kRefused: the peer was refused; its further bytes are drained unread until the verdict is
  // written and the connection closes.
  enum class Stage { kHello, kPrefix, kMeta, kPayload, kRefused };
  int fd = -1;
  std::string peer;    // "ip:port" of the sender's socket
  int64_t sender = -1; // the sender's host id, from its handshake
  Stage stage = Stage::kHello;
  char head[std::max(tcp_transport::kHelloBytes, tcp_transport::kPrefixBytes)];  // hello or prefix being read
  size_t head_got = 0;
  tcp_transport::Prefix prefix;
  std::string meta;
  size_t meta_got = 0;
  // The shard being received: its header, its destination (null: the payload is discarded and
  // `answer` is the verdict), and how much arrived.
  wire::ShardPushHeader header;
  std::unique_ptr<IncomingShard> incoming;
  char* dest = nullptr;
  absl::Status answer;
  uint64_t payload_got = 0;
  std::string out;  // verdicts not written yet
  size_t out_written = 0;
  bool want_write = false;
  bool refused = false;  // close once `out` is written
};

absl::StatusOr<std::unique_ptr<TcpShardListener>> TcpShardListener::Start(
    TcpShardListenerOptions options) {
  std::unique_ptr<TcpShardListener> listener(new TcpShardListener(std::move(options)));
  absl::StatusOr<int> fd =
      tcp_transport::Listen(listener->options_.listen_address, &listener->address_);
  if (!fd.ok()) return fd.status();
  listener->listen_fd_ = *fd;
  listener->epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  listener->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (listener->epoll_fd_ < 0 || listener->wake_fd_ < 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat(listener->name_, ": epoll/eventfd: ", Errno(errno)));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &listener->listen_fd_;
  epoll_ctl(listener->epoll_fd_, EPOLL_CTL_ADD, listener->listen_fd_, &ev);
  ev.data.ptr = &listener->wake_fd_;
  epoll_ctl(listener->epoll_fd_, EPOLL_CTL_ADD, listener->wake_fd_, &ev);
  TcpShardListener* raw = listener.get();
  listener->thread_ = std::thread([raw] { raw->Loop(); });
  return listener;
}

TcpShardListener::TcpShardListener(TcpShardListenerOptions options)
    : options_(std::move(options)), name_(options_.name) {}

TcpShardListener::~TcpShardListener() {
  Shutdown();
  for (int fd : {listen_fd_, epoll_fd_, wake_fd_}) {
    if (fd >= 0) close(fd);
  }
}

void TcpShardListener::SetReceiver(ShardReceiver* receiver, std::string name, HostId host) {
  {
    absl::MutexLock lock(&mu_);
    if (decided_) return;
    pending_name_ = std::move(name);
    host_ = host;
    receiver_ = receiver;
    decided_ = true;
  }
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

void TcpShardListener::Close(absl::Status reason) {
  {
    absl::MutexLock lock(&mu_);
    if (decided_) return;
    closed_ = reason.ok() ? absl::UnavailableError(absl::StrCat(name_, " is not receiving"))
                          : std::move(reason);
    decided_ = true;
  }
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

void TcpShardListener::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (joined_) return;
    joined_ = true;
    stopping_ = true;
    // Peers learn at once, even while the I/O thread is inside the receiver.
    for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);
  }
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
  }
  if (thread_.joinable()) thread_.join();
  // Connections still in the backlog are refused from now on.
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    listen_fd_ = -1;
  }
}

void TcpShardListener::Loop() {
  SetCurrentThreadName("pw-tcp-recv");
  epoll_event events[64];
  for (;;) {
    const int n = epoll_wait(epoll_fd_, events, 64, -1);
    if (n < 0 && errno != EINTR) {
      PW_LOG(ERROR) << name_ << ": epoll_wait: " << Errno(errno);
      break;
    }
    bool stop = false;
    for (int i = 0; i < n; ++i) {
      void* tag = events[i].data.ptr;
      if (tag == &wake_fd_) {
        uint64_t count;
        (void)!read(wake_fd_, &count, sizeof(count));
        absl::MutexLock lock(&mu_);
        stop = stopping_;
        if (decided_ && !reading_) {
          if (!pending_name_.empty()) name_ = std::move(pending_name_);
          reading_ = true;
          for (auto& conn : conns_) StartReading(*conn);
        }
      } else if (tag == &listen_fd_) {
        Accept();
      } else {
        Conn& conn = *static_cast<Conn*>(tag);
        if (conn.fd < 0) continue;  // dropped earlier in this batch
        const uint32_t ev = events[i].events;
        if ((ev & EPOLLOUT) != 0 && !Flush(conn)) continue;
        if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) (void)ReadConn(conn);
      }
    }
    std::erase_if(conns_, [](const std::unique_ptr<Conn>& c) { return c->fd < 0; });
    if (stop) break;
  }
  const absl::Status down = absl::UnavailableError(absl::StrCat(name_, " is shutting down"));
  for (auto& conn : conns_) Drop(*conn, down);
  conns_.clear();
}

void TcpShardListener::Accept() {
  for (;;) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        PW_LOG(WARNING) << name_ << ": accept: " << Errno(errno);
      }
      return;
    }
    tcp_transport::ConfigureSocket(fd);
    auto conn = std::make_unique<Conn>();
    conn->fd = fd;
    conn->peer = PeerName(fd);
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) {
        close(fd);
        return;
      }
      open_fds_.insert(fd);
    }
    connections_.fetch_add(1, std::memory_order_relaxed);
    if (reading_) StartReading(*conn);
    conns_.push_back(std::move(conn));
  }
}

void TcpShardListener::StartReading(Conn& conn) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &conn;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, conn.fd, &ev);
}

void TcpShardListener::Watch(Conn& conn, bool want_write) {
  if (conn.want_write == want_write) return;
  conn.want_write = want_write;
  epoll_event ev{};
  ev.events = EPOLLIN | (want_write ? static_cast<uint32_t>(EPOLLOUT) : 0u);
  ev.data.ptr = &conn;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, conn.fd, &ev);
}

std::string TcpShardListener::Who(const Conn& conn) const {
  const std::string what =
      conn.stage == Conn::Stage::kPayload
          ? absl::StrCat(conn.header.array.DebugString(), " shard ", conn.header.shard)
          : std::string("a push");
  return absl::StrCat(name_, " receiving ", what, " from ",
                      conn.sender >= 0 ? absl::StrCat("host:", conn.sender, " at ")
                                       : std::string(),
                      conn.peer);
}

bool TcpShardListener::ReadConn(Conn& conn) {
  int64_t budget = kReadBudget;
  while (budget > 0 && conn.fd >= 0) {
    char* into = nullptr;
    size_t want = 0;
    char discard[16384];
    switch (conn.stage) {
      case Conn::Stage::kRefused:
        into = discard;
        want = sizeof(discard);
        break;
      case Conn::Stage::kHello:
        into = conn.head + conn.head_got;
        want = tcp_transport::kHelloBytes - conn.head_got;
        break;
      case Conn::Stage::kPrefix:
        into = conn.head + conn.head_got;
        want = tcp_transport::kPrefixBytes - conn.head_got;
        break;
      case Conn::Stage::kMeta:
        into = conn.meta.data() + conn.meta_got;
        want = conn.meta.size() - conn.meta_got;
        break;
      case Conn::Stage::kPayload: {
        const uint64_t left = conn.prefix.payload_bytes - conn.payload_got;
        if (conn.dest != nullptr) {
          into = conn.dest + conn.payload_got;
          want = static_cast<size_t>(std::min<uint64_t>(left, static_cast<uint64_t>(budget)));
        } else {
          into = discard;
          want = static_cast<size_t>(std::min<uint64_t>(left, sizeof(discard)));
        }
        break;
      }
    }
    const ssize_t n = recv(conn.fd, into, want, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      Drop(conn, absl::UnavailableError(
                     absl::StrCat(Who(conn), ": the connection broke: ", Errno(errno))));
      return false;
    }
    if (n == 0) {
      Drop(conn, absl::UnavailableError(absl::StrCat(
                     Who(conn), ": the connection closed after ", conn.payload_got, " of ",
                     conn.prefix.payload_bytes, " bytes")));
      return false;
    }
    budget -= n;
    switch (conn.stage) {
      case Conn::Stage::kRefused:
        break;
      case Conn::Stage::kHello: {
        conn.head_got += static_cast<size_t>(n);
        const std::string who = absl::StrCat("the sender at ", conn.peer, " of ", name_);
        // A stranger is refused from its first 16 bytes, however short its greeting.
        absl::Status ok = conn.head_got >= tcp_transport::kHelloFixedBytes
                              ? tcp_transport::CheckHello(tcp_transport::DecodeHello(conn.head, true), who)
                              : absl::OkStatus();
        if (ok.ok() && conn.head_got < tcp_transport::kHelloBytes) break;
        conn.head_got = 0;
        conn.out += tcp_transport::EncodeHello(
            {tcp_transport::kMagic, tcp_transport::kTcpWireVersion, host_.value()});
        const tcp_transport::Hello hello = tcp_transport::DecodeHello(conn.head, !ok.ok());
        if (ok.ok()) ok = tcp_transport::CheckHello(hello, who, options_.operator_token);
        if (!ok.ok()) {
          PW_LOG(WARNING) << name_ << ": refused a connection: " << ok;
          refused_.fetch_add(1, std::memory_order_relaxed);
          conn.refused = true;
          conn.stage = Conn::Stage::kRefused;
          Verdict(conn, 0, ok);
          return false;
        }
        conn.sender = hello.host;
        conn.stage = Conn::Stage::kPrefix;
        if (!Flush(conn)) return false;
        break;
      }
      case Conn::Stage::kPrefix: {
        conn.head_got += static_cast<size_t>(n);
        if (conn.head_got < tcp_transport::kPrefixBytes) break;
        conn.head_got = 0;
        absl::StatusOr<tcp_transport::Prefix> prefix =
            tcp_transport::DecodePrefix(conn.head, Who(conn));
        if (prefix.ok() && prefix->kind == FrameKind::kVerdict) {
          prefix = absl::InvalidArgumentError(
              absl::StrCat(Who(conn), ": malformed TCP data plane frame: a verdict"));
        }
        if (!prefix.ok()) {
          PW_LOG(WARNING) << name_ << ": dropping a connection: " << prefix.status();
          conn.refused = true;
          conn.stage = Conn::Stage::kRefused;
          Verdict(conn, 0, prefix.status());
          return false;
        }
        conn.prefix = *prefix;
        conn.meta.assign(prefix->meta_bytes, '\0');
        conn.meta_got = 0;
        conn.stage = Conn::Stage::kMeta;
        if (prefix->meta_bytes == 0) StartFrame(conn);
        break;
      }
      case Conn::Stage::kMeta:
        conn.meta_got += static_cast<size_t>(n);
        if (conn.meta_got == conn.meta.size()) StartFrame(conn);
        break;
      case Conn::Stage::kPayload:
        conn.payload_got += static_cast<uint64_t>(n);
        if (conn.dest != nullptr) received_bytes_.fetch_add(n, std::memory_order_relaxed);
        if (conn.payload_got == conn.prefix.payload_bytes) EndPayload(conn);
        break;
    }
  }
  return conn.fd >= 0;
}

void TcpShardListener::StartFrame(Conn& conn) {
  pushes_.fetch_add(1, std::memory_order_relaxed);
  conn.incoming.reset();
  conn.dest = nullptr;
  conn.answer = absl::OkStatus();
  conn.payload_got = 0;
  pathways::wire::ShardPushProto proto;
  absl::StatusOr<wire::ShardPush> push =
      proto.ParseFromString(conn.meta)
          ? wire::FromProto(proto)
          : absl::StatusOr<wire::ShardPush>(absl::InvalidArgumentError(
                absl::StrCat(Who(conn), ": malformed ShardPushProto")));
  if (push.ok()) conn.header = push->header;
  const bool is_push = conn.prefix.kind == FrameKind::kPush;
  if (!push.ok()) {
    conn.answer = push.status();
  } else if (is_push != push->error.ok()) {
    conn.answer = absl::InvalidArgumentError(absl::StrCat(
        Who(conn), ": a ", is_push ? "push" : "error", " frame whose meta carries ",
        is_push ? "an error" : "no error"));
  } else if (is_push && conn.prefix.payload_bytes !=
                            static_cast<uint64_t>(conn.header.type.byte_size())) {
    conn.answer = absl::InvalidArgumentError(absl::StrCat(
        Who(conn), ": ", conn.prefix.payload_bytes, " payload bytes for ",
        conn.header.type.DebugString(), " of ", conn.header.type.byte_size(), " bytes"));
  } else if (receiver_ == nullptr) {
    conn.answer = closed_;
  } else if (!is_push) {
    receiver_->FailShard(conn.header.array, conn.header.shard, conn.header.type,
                         std::move(push->error));
  } else {
    absl::StatusOr<std::unique_ptr<IncomingShard>> incoming = receiver_->BeginReceiveShard(
        conn.header.array, conn.header.shard, conn.header.device, conn.header.type);
    if (incoming.ok()) {
      conn.incoming = *std::move(incoming);
      conn.dest = conn.incoming->data();
    } else {
      conn.answer = incoming.status();
    }
  }
  conn.stage = Conn::Stage::kPayload;
  if (conn.prefix.payload_bytes == 0) EndPayload(conn);
}

void TcpShardListener::EndPayload(Conn& conn) {
  absl::Status verdict = conn.answer;
  if (conn.incoming != nullptr) {
    verdict = conn.incoming->Finish(absl::OkStatus());
    conn.incoming.reset();
  }
  conn.dest = nullptr;
  conn.stage = Conn::Stage::kPrefix;
  Verdict(conn, conn.prefix.push_id, verdict);
}

void TcpShardListener::Verdict(Conn& conn, uint64_t push_id, const absl::Status& status) {
  const std::string meta = wire::ToProto(status).SerializeAsString();
  tcp_transport::AppendPrefix(
      {FrameKind::kVerdict, static_cast<uint32_t>(meta.size()), push_id, 0}, &conn.out);
  conn.out += meta;
  (void)Flush(conn);
}

bool TcpShardListener::Flush(Conn& conn) {
  while (conn.out_written < conn.out.size()) {
    const ssize_t n = send(conn.fd, conn.out.data() + conn.out_written,
                           conn.out.size() - conn.out_written, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        Watch(conn, true);
        return true;
      }
      Drop(conn, absl::UnavailableError(
                     absl::StrCat(Who(conn), ": the connection broke: ", Errno(errno))));
      return false;
    }
    conn.out_written += static_cast<size_t>(n);
  }
  conn.out.clear();
  conn.out_written = 0;
  Watch(conn, false);
  if (conn.refused) {
    Drop(conn, absl::OkStatus());
    return false;
  }
  return true;
}

void TcpShardListener::Drop(Conn& conn, const absl::Status& why) {
  if (conn.fd < 0) return;
  if (conn.incoming != nullptr) {
    (void)conn.incoming->Finish(why.ok() ? absl::UnavailableError(Who(conn)) : why);
    conn.incoming.reset();
  }
  {
    absl::MutexLock lock(&mu_);
    open_fds_.erase(conn.fd);
  }
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, conn.fd, nullptr);
  close(conn.fd);
  conn.fd = -1;
}

TcpShardListener::Stats TcpShardListener::stats() const {
  Stats s;
  s.connections = connections_.load(std::memory_order_relaxed);
  s.pushes = pushes_.load(std::memory_order_relaxed);
  s.received_bytes = received_bytes_.load(std::memory_order_relaxed);
  s.copied_bytes = 0;
  s.refused = refused_.load(std::memory_order_relaxed);
  return s;
}

std::string TcpShardListener::DebugString() const {
  const Stats s = stats();
  return absl::StrCat("TCP shard listener ", options_.name, " at ", address_, " (",
                      s.connections, " connections, ", s.pushes, " pushes, ", s.received_bytes,
                      " bytes)");
}

}  // namespace pw
