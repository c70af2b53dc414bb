// The TCP connections of one rank's Gloo mesh, found so that an abort can shut them down.
//
// Gloo's API cannot wake a rank waiting inside one of its algorithms (all-reduce, all-gather,
// all-to-all): only an error on one of the pair's sockets does. Debian's Gloo headers for its
// TCP pair are unusable (they include a header the package leaves out), so the sockets are found
// from outside: every pair of a mesh is one TCP connection, one end of which is the listening
// address of the pair on the side that accepted it (Gloo gives each pair a listening port of its
// own, and the rank with the lower address accepts). This rank's pair addresses come from
// Gloo's public Pair::address(); the peers' from the address lists they published in the
// rendezvous store while connecting (Gloo's rendezvous layout: rank i publishes the addresses
// of its pairs in rank order, itself left out). Shutting the sockets down makes Gloo's event
// loop read end-of-stream, which fails every buffer waiting on those pairs as a closed
// connection would.
#ifndef PATHWAYS_COLLECTIVES_GLOO_GLOO_MESH_SOCKETS_H_
#define PATHWAYS_COLLECTIVES_GLOO_GLOO_MESH_SOCKETS_H_

#include <sys/socket.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace gloo {
class Context;
}  // namespace gloo

namespace pw {

struct GlooMeshEndpoints {
  // For each peer: the listening address of this rank's pair with it and of the peer's pair
  // with this rank; the connection has one of them as an end.
  std::vector<sockaddr_storage> own;
  std::vector<sockaddr_storage> peers;
};

// `published` maps a rank (as Gloo names its key: "3") to the bytes it published. Peers whose
// list is missing or malformed are left out (their sockets are then not found).
GlooMeshEndpoints FindMeshEndpoints(gloo::Context& context, int rank, int size,
                                    const std::map<std::string, std::vector<char>>& published);

// Shuts down (both directions) every socket of this process that is a connection of the mesh:
// its local address is one of `own`, or its peer address one of `peers`. Returns how many.
// Thread-safe; a socket closed meanwhile is skipped.
int ShutDownMeshSockets(const GlooMeshEndpoints& endpoints);

}  // namespace pw

#endif  // PATHWAYS_COLLECTIVES_GLOO_GLOO_MESH_SOCKETS_H_
