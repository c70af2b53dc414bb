// The TCP data plane's handshake and frame prefixes.
#include "pathways/dataplane/tcp/tcp_frames.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "pathways/base/secret.h"
#include "absl/strings/str_format.h"
#include "pathways/base/status.h"

namespace pw::tcp_transport {

namespace {
template <typename T>
void Put(T value, std::string* out) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));  // little-endian hosts only (checked below)
  out->append(bytes, sizeof(T));
}
template <typename T>
T Get(const char* bytes) {
  T value;
  std::memcpy(&value, bytes, sizeof(T));
  return value;
}
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the TCP data plane assumes little-endian");
}  // namespace

std::string EncodeHello(const Hello& hello) {
  std::string out;
  out.reserve(kHelloBytes);
  Put<uint32_t>(hello.magic, &out);
  Put<uint32_t>(hello.version, &out);
  Put<int64_t>(hello.host, &out);
  std::string credential = hello.credential.substr(0, kCredentialBytes);
  credential.resize(kCredentialBytes, '\0');
  out += credential;
  return out;
}

Hello DecodeHello(const char* bytes, bool fixed_only) {
  std::string credential;
  if (!fixed_only) {
    credential.assign(bytes + kHelloFixedBytes, kCredentialBytes);
    credential.resize(std::strlen(credential.c_str()));  // up to the first zero
  }
  return Hello{Get<uint32_t>(bytes), Get<uint32_t>(bytes + 4), Get<int64_t>(bytes + 8),
               std::move(credential)};
}

absl::Status CheckHello(const Hello& hello, std::string_view who, const std::string& required) {
  if (hello.magic != kMagic) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s is not a Pathways TCP data plane peer: handshake magic 0x%08x, expected 0x%08x", ToAbsl(who),
        hello.magic, kMagic));
  }
  if (hello.version != kTcpWireVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat(ToAbsl(who), " speaks TCP data plane wire version ", hello.version,
                     ", this build speaks ", kTcpWireVersion));
  }
  if (!required.empty() && !SameSecret(hello.credential, required.substr(0, kCredentialBytes))) {
    return absl::PermissionDeniedError(absl::StrCat(
        ToAbsl(who), " did not present the cluster's operator credential: only the cluster's own "
        "hosts may push"));
  }
  return absl::OkStatus();
}

void AppendPrefix(const Prefix& prefix, std::string* out) {
  Put<uint32_t>(static_cast<uint32_t>(prefix.kind), out);
  Put<uint32_t>(prefix.meta_bytes, out);
  Put<uint64_t>(prefix.push_id, out);
  Put<uint64_t>(prefix.payload_bytes, out);
}

absl::StatusOr<Prefix> DecodePrefix(const char* bytes, std::string_view who) {
  Prefix p;
  const uint32_t kind = Get<uint32_t>(bytes);
  if (kind < static_cast<uint32_t>(FrameKind::kPush) ||
      kind > static_cast<uint32_t>(FrameKind::kVerdict)) {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(who), ": malformed TCP data plane frame: unknown kind ", kind));
  }
  p.kind = static_cast<FrameKind>(kind);
  p.meta_bytes = Get<uint32_t>(bytes + 4);
  p.push_id = Get<uint64_t>(bytes + 8);
  p.payload_bytes = Get<uint64_t>(bytes + 16);
  if (p.meta_bytes > kMaxMetaBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        ToAbsl(who), ": malformed TCP data plane frame: meta of ", p.meta_bytes, " bytes (at most ",
        kMaxMetaBytes, ")"));
  }
  if (p.kind != FrameKind::kPush && p.payload_bytes != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        ToAbsl(who), ": malformed TCP data plane frame: a frame of kind ", kind, " with ",
        p.payload_bytes, " payload bytes"));
  }
  return p;
}

namespace {
// "host:port" (or "[v6]:port") split in two.
absl::Status SplitAddress(const std::string& address, std::string* host, std::string* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", address, "' is not an address of the form host:port"));
  }
  *host = address.substr(0, colon);
  *port = address.substr(colon + 1);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return absl::OkStatus();
}

struct AddrInfoDeleter {
  void operator()(addrinfo* a) const { freeaddrinfo(a); }
};
using AddrInfoPtr = std::unique_ptr<addrinfo, AddrInfoDeleter>;

absl::StatusOr<AddrInfoPtr> Resolve(const std::string& address, bool passive) {
  std::string host, port;
  if (absl::Status s = SplitAddress(address, &host, &port); !s.ok()) return s;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0 || found == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve '", address, "': ", gai_strerror(rc)));
  }
  return AddrInfoPtr(found);
}
}  // namespace

void ConfigureSocket(int fd) {
  const int flags = fcntl(fd, F_GETFL, 0);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int SocketError(int fd) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

absl::StatusOr<int> StartConnect(const std::string& address) {
  absl::StatusOr<AddrInfoPtr> found = Resolve(address, /*passive=*/false);
  if (!found.ok()) return absl::UnavailableError(found.status().message());
  int last_errno = 0;
  for (addrinfo* a = found->get(); a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last_errno = errno;
      continue;
    }
    ConfigureSocket(fd);
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 || errno == EINPROGRESS) return fd;
    last_errno = errno;
    close(fd);
  }
  return absl::UnavailableError(
      absl::StrCat("cannot connect to ", address, ": ", std::strerror(last_errno)));
}

absl::StatusOr<int> Listen(const std::string& address, std::string* bound) {
  absl::StatusOr<AddrInfoPtr> found = Resolve(address, /*passive=*/true);
  if (!found.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot listen on '", address, "': ", found.status().message()));
  }
  int last_errno = 0;
  for (addrinfo* a = found->get(); a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last_errno = errno;
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 128) != 0) {
      last_errno = errno;
      close(fd);
      continue;
    }
    ConfigureSocket(fd);
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    const int port = addr.ss_family == AF_INET6
                         ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                         : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    std::string host, unused;
    (void)SplitAddress(address, &host, &unused);
    if (address.front() == '[') host = absl::StrCat("[", host, "]");
    *bound = absl::StrCat(host, ":", port);
    return fd;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("cannot listen on '", address, "': ", std::strerror(last_errno)));
}

}  // namespace pw::tcp_transport
