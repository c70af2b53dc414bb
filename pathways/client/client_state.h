// ClientState: the connection shared by a Client and every handle it gave out.
#ifndef PATHWAYS_CLIENT_CLIENT_STATE_H_
#define PATHWAYS_CLIENT_CLIENT_STATE_H_

#include <atomic>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "pathways/base/ids.h"
#include "pathways/service/controller_service.h"

namespace pw::internal {

struct ClientState {
  ControllerService* controller = nullptr;  // outlives the client (the cluster owns it)
  // Set when the client owns its connection (a transport stub): kept alive by every handle.
  std::shared_ptr<ControllerService> owned_controller;
  ClientId id;
  std::string name;
  std::atomic<bool> disconnected{false};
  absl::Mutex mu;
  // Reshard programs by (input spec, destination); see Client::Reshard.
  absl::flat_hash_map<std::string, ProgramId> reshards ABSL_GUARDED_BY(mu);
};

}  // namespace pw::internal

#endif  // PATHWAYS_CLIENT_CLIENT_STATE_H_
