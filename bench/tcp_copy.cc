// TcpCopy: a loopback socket pair; each transfer is an 8-byte length, the payload, a 1-byte ack.
#include "bench/tcp_copy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace pw::bench {
namespace {

absl::Status SocketError(const char* what) {
  return absl::UnavailableError(absl::StrCat("tcp copy: ", what, ": ", std::strerror(errno)));
}

bool WriteAll(int fd, const char* p, int64_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, p, static_cast<size_t>(n), MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= w;
  }
  return true;
}

bool ReadAll(int fd, char* p, int64_t n) {
  while (n > 0) {
    const ssize_t r = ::recv(fd, p, static_cast<size_t>(n), 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= r;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcpCopy>> TcpCopy::Create(int64_t max_bytes) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listener < 0) return SocketError("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int sender = -1, receiver = -1;
  absl::Status status;
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listener, 1) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    status = SocketError("listen on 127.0.0.1");
  } else if ((sender = ::socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
             ::connect(sender, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    status = SocketError("connect");
  } else if ((receiver = ::accept(listener, nullptr, nullptr)) < 0) {
    status = SocketError("accept");
  }
  ::close(listener);
  if (!status.ok()) {
    if (sender >= 0) ::close(sender);
    return status;
  }
  // The ack is one byte: send it at once rather than after Nagle's delay.
  const int one = 1;
  ::setsockopt(sender, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ::setsockopt(receiver, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return std::unique_ptr<TcpCopy>(new TcpCopy(sender, receiver, max_bytes));
}

TcpCopy::TcpCopy(int sender, int receiver, int64_t max_bytes)
    : sender_(sender), receiver_(receiver), buffer_(static_cast<size_t>(max_bytes)) {
  thread_ = std::thread([this] { Receive(); });
}

TcpCopy::~TcpCopy() {
  ::shutdown(sender_, SHUT_WR);
  thread_.join();
  ::close(sender_);
  ::close(receiver_);
}

void TcpCopy::Receive() {
  for (;;) {
    int64_t bytes = 0;
    if (!ReadAll(receiver_, reinterpret_cast<char*>(&bytes), sizeof(bytes))) return;
    if (bytes < 0 || bytes > static_cast<int64_t>(buffer_.size())) return;
    if (!ReadAll(receiver_, buffer_.data(), bytes)) return;
    const char ack = 1;
    if (!WriteAll(receiver_, &ack, 1)) return;
  }
}

absl::Status TcpCopy::Send(const void* data, int64_t bytes) {
  if (bytes < 0 || bytes > static_cast<int64_t>(buffer_.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("tcp copy: ", bytes, " bytes, buffer holds ", buffer_.size()));
  }
  char ack = 0;
  if (!WriteAll(sender_, reinterpret_cast<const char*>(&bytes), sizeof(bytes)) ||
      !WriteAll(sender_, static_cast<const char*>(data), bytes) || !ReadAll(sender_, &ack, 1)) {
    return SocketError("transfer");
  }
  return absl::OkStatus();
}

}  // namespace pw::bench
