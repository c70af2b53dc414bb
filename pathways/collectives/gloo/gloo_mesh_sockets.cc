#include "pathways/collectives/gloo/gloo_mesh_sockets.h"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>

#include "gloo/context.h"
#include "gloo/transport/pair.h"
#include "gloo/transport/tcp/address.h"

namespace pw {
namespace {

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

bool AnyOf(const std::vector<sockaddr_storage>& set, const sockaddr_storage& a) {
  for (const sockaddr_storage& s : set) {
    if (SameEndpoint(s, a)) return true;
  }
  return false;
}

sockaddr_storage SockaddrOf(const std::vector<char>& bytes) {
  return gloo::transport::tcp::Address(bytes).getSockaddr();
}

}  // namespace

GlooMeshEndpoints FindMeshEndpoints(gloo::Context& context, int rank, int size,
                                    const std::map<std::string, std::vector<char>>& published) {
  GlooMeshEndpoints out;
  for (int peer = 0; peer < size; ++peer) {
    if (peer == rank) continue;
    std::unique_ptr<gloo::transport::Pair>& pair = context.getPair(peer);
    if (pair != nullptr) out.own.push_back(SockaddrOf(pair->address().bytes()));
    auto it = published.find(std::to_string(peer));
    if (it == published.end() || size < 2 || it->second.size() % (size - 1) != 0) continue;
    const size_t each = it->second.size() / (size - 1);
    const size_t index = static_cast<size_t>(rank > peer ? rank - 1 : rank);
    if (each < sizeof(sockaddr_storage)) continue;
    const auto first = it->second.begin() + static_cast<std::ptrdiff_t>(index * each);
    out.peers.push_back(SockaddrOf(std::vector<char>(first, first + static_cast<std::ptrdiff_t>(each))));
  }
  return out;
}

int ShutDownMeshSockets(const GlooMeshEndpoints& endpoints) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  int shut = 0;
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (*end != '\0' || fd < 0 || fd == dirfd(dir)) continue;
    struct stat st;
    if (fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    sockaddr_storage local{}, peer{};
    socklen_t local_len = sizeof(local), peer_len = sizeof(peer);
    if (getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&local), &local_len) != 0) continue;
    if (getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) continue;
    if (AnyOf(endpoints.own, local) || AnyOf(endpoints.peers, peer)) {
      if (shutdown(static_cast<int>(fd), SHUT_RDWR) == 0) ++shut;
    }
  }
  closedir(dir);
  return shut;
}

}  // namespace pw
