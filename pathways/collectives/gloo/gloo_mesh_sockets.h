// The TCP connections of one rank's Gloo mesh, found so that an abort can shut them down.
//
// Gloo's API cannot wake a rank waiting inside one of its algorithms (all-reduce, all-gather,
// all-to-all): only an error on one of the pair's sockets does. Debian's Gloo headers for its
// TCP pair are unusable (they include a header the package leaves out), so the sockets are found
// from outside, once, right after the mesh connects. Every pair of a mesh is one TCP connection
// to a listening port the pair opened for itself on the side that accepts it, which is the side
// with the lower address (Gloo's rule: IP bytes, then the port as stored). This rank's pair
// addresses come from Gloo's public Pair::address(); the peers' from the address lists they
// published in the rendezvous store while connecting (Gloo's rendezvous layout: rank i
// publishes the addresses of its pairs in rank order, itself left out, each a sockaddr_storage
// and a sequence number). Each connection is then recorded by both of its ends, so a later
// shutdown touches exactly those sockets and never one that reused a port. Shutting them down
// makes Gloo's event loop read end-of-stream, which fails every buffer waiting on those pairs
// as a closed connection would.
#ifndef PATHWAYS_COLLECTIVES_GLOO_GLOO_MESH_SOCKETS_H_
#define PATHWAYS_COLLECTIVES_GLOO_GLOO_MESH_SOCKETS_H_

#include <sys/socket.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace gloo {
class Context;
}  // namespace gloo

namespace pw {

struct GlooMeshConnections {
  // (local address, peer address) of each of this rank's connections in the mesh.
  std::vector<std::pair<sockaddr_storage, sockaddr_storage>> ends;
};

// Called right after the mesh connected. `published` maps a rank (as Gloo names its key: "3")
// to the bytes it published. A peer whose list is missing or malformed, or whose connection is
// not found, is left out (its socket is then not shut down by an abort).
GlooMeshConnections FindMeshConnections(gloo::Context& context, int rank, int size,
                                        const std::map<std::string, std::vector<char>>& published);

// Shuts down (both directions) the sockets of this process whose two ends are those of one of
// `connections`. Returns how many. Thread-safe; each descriptor is duplicated before it is
// examined, so one closed or reused meanwhile is never shut down by mistake.
int ShutDownMeshSockets(const GlooMeshConnections& connections);

}  // namespace pw

#endif  // PATHWAYS_COLLECTIVES_GLOO_GLOO_MESH_SOCKETS_H_
