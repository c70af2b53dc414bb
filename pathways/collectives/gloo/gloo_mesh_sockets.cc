#include "pathways/collectives/gloo/gloo_mesh_sockets.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>

#include "gloo/context.h"
#include "gloo/transport/pair.h"
#include "gloo/transport/tcp/address.h"

namespace pw {
namespace {

// What Gloo's TCP address serializes: a sockaddr_storage and a sequence number.
constexpr size_t kGlooAddressBytes = sizeof(sockaddr_storage) + sizeof(ssize_t);

bool SameEndpoint(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) return false;
  if (a.ss_family == AF_INET) {
    const auto& x = reinterpret_cast<const sockaddr_in&>(a);
    const auto& y = reinterpret_cast<const sockaddr_in&>(b);
    return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
  }
  if (a.ss_family == AF_INET6) {
    const auto& x = reinterpret_cast<const sockaddr_in6&>(a);
    const auto& y = reinterpret_cast<const sockaddr_in6&>(b);
    return x.sin6_port == y.sin6_port &&
           std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof(x.sin6_addr)) == 0;
  }
  return false;
}

bool SameHost(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) return false;
  if (a.ss_family == AF_INET) {
    return reinterpret_cast<const sockaddr_in&>(a).sin_addr.s_addr ==
           reinterpret_cast<const sockaddr_in&>(b).sin_addr.s_addr;
  }
  return a.ss_family == AF_INET6 &&
         std::memcmp(&reinterpret_cast<const sockaddr_in6&>(a).sin6_addr,
                     &reinterpret_cast<const sockaddr_in6&>(b).sin6_addr, sizeof(in6_addr)) == 0;
}

// Gloo's rule: the pair whose address is lower accepts the connection.
bool Accepts(const sockaddr_storage& self, const sockaddr_storage& peer) {
  int rv = 0;
  if (self.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(self);
    const auto& b = reinterpret_cast<const sockaddr_in&>(peer);
    rv = std::memcmp(&a.sin_addr, &b.sin_addr, sizeof(in_addr));
    if (rv == 0) rv = a.sin_port - b.sin_port;
  } else {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(self);
    const auto& b = reinterpret_cast<const sockaddr_in6&>(peer);
    rv = std::memcmp(&a.sin6_addr, &b.sin6_addr, sizeof(in6_addr));
    if (rv == 0) rv = a.sin6_port - b.sin6_port;
  }
  return rv < 0;
}

// Calls fn(local, peer, fd) for every connected TCP socket of this process, on a duplicate of
// its descriptor (closed after fn returns).
void ForEachConnection(
    const std::function<void(const sockaddr_storage&, const sockaddr_storage&, int)>& fn) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long number = std::strtol(entry->d_name, &end, 10);
    if (*end != '\0' || number < 0 || number == dirfd(dir)) continue;
    const int fd = fcntl(static_cast<int>(number), F_DUPFD_CLOEXEC, 0);
    if (fd < 0) continue;  // closed meanwhile
    struct stat st;
    sockaddr_storage local{}, peer{};
    socklen_t local_len = sizeof(local), peer_len = sizeof(peer);
    if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) == 0 &&
        getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) == 0) {
      fn(local, peer, fd);
    }
    close(fd);
  }
  closedir(dir);
}

}  // namespace

GlooMeshConnections FindMeshConnections(gloo::Context& context, int rank, int size,
                                        const std::map<std::string, std::vector<char>>& published) {
  struct Pair {
    sockaddr_storage own, peer;
    bool accepts;
  };
  std::vector<Pair> pairs;
  for (int p = 0; p < size; ++p) {
    if (p == rank) continue;
    std::unique_ptr<gloo::transport::Pair>& pair = context.getPair(p);
    auto it = published.find(std::to_string(p));
    if (pair == nullptr || it == published.end() || size < 2 ||
        it->second.size() != kGlooAddressBytes * (size - 1)) {
      continue;
    }
    const std::vector<char> own_bytes = pair->address().bytes();
    if (own_bytes.size() != kGlooAddressBytes) continue;
    const size_t index = static_cast<size_t>(rank > p ? rank - 1 : rank);
    const auto first = it->second.begin() + static_cast<std::ptrdiff_t>(index * kGlooAddressBytes);
    Pair found;
    found.own = gloo::transport::tcp::Address(own_bytes).getSockaddr();
    found.peer = gloo::transport::tcp::Address(
                     std::vector<char>(first, first + static_cast<std::ptrdiff_t>(kGlooAddressBytes)))
                     .getSockaddr();
    if (found.own.ss_family != found.peer.ss_family ||
        (found.own.ss_family != AF_INET && found.own.ss_family != AF_INET6)) {
      continue;
    }
    found.accepts = Accepts(found.own, found.peer);
    pairs.push_back(found);
  }
  GlooMeshConnections out;
  ForEachConnection([&](const sockaddr_storage& local, const sockaddr_storage& peer, int) {
    for (const Pair& p : pairs) {
      // Accepted here: the local end is the pair's own listening port, the far end the peer's
      // host. Connected from here: the far end is the peer's pair port, the local end this host.
      const bool match = p.accepts ? SameEndpoint(local, p.own) && SameHost(peer, p.peer)
                                   : SameEndpoint(peer, p.peer) && SameHost(local, p.own);
      if (match) {
        out.ends.emplace_back(local, peer);
        return;
      }
    }
  });
  return out;
}

int ShutDownMeshSockets(const GlooMeshConnections& connections) {
  int shut = 0;
  ForEachConnection([&](const sockaddr_storage& local, const sockaddr_storage& peer, int fd) {
    for (const auto& [l, p] : connections.ends) {
      if (SameEndpoint(local, l) && SameEndpoint(peer, p)) {
        if (shutdown(fd, SHUT_RDWR) == 0) ++shut;
        return;
      }
    }
  });
  return shut;
}

}  // namespace pw
