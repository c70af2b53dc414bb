// GlooCollectiveGroups implementation.
#include "pathways/collectives/gloo_collective_groups.h"

#include <net/if.h>
#include <netdb.h>
#include <sys/socket.h>

#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pathways/collectives/collective_checks.h"
#include "gloo/transport/tcp/attr.h"
#include "gloo/transport/tcp/device.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"
#include "pathways/collectives/gloo_communicator.h"

namespace pw {

struct GlooCollectiveGroups::Registry {
  struct Gang {
    int64_t size = 0;
    std::vector<GlooCommunicator*> members;  // indexed by rank; null when not joined here
    int64_t live = 0;
  };
  absl::Mutex mu;
  absl::flat_hash_map<GangId, Gang> gangs ABSL_GUARDED_BY(mu);
};

absl::StatusOr<std::unique_ptr<GlooCollectiveGroups>> GlooCollectiveGroups::Create(
    RendezvousStore* store, GlooCollectiveGroupsOptions options) {
  if (store == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(options.name, ": no rendezvous store"));
  }
  gloo::transport::tcp::attr attr;
  // Gloo's device creation crashes on a name it cannot resolve (it reads getaddrinfo's result
  // even after a failure), so names are checked here first.
  if (!options.interface.empty()) {
    if (if_nametoindex(options.interface.c_str()) == 0) {
      return absl::UnavailableError(absl::StrCat(options.name, ": no network interface '",
                                                 options.interface, "'"));
    }
    attr.iface = options.interface;
  } else {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const int rc = getaddrinfo(options.hostname.c_str(), nullptr, &hints, &found);
    if (found != nullptr) freeaddrinfo(found);
    if (rc != 0) {
      return absl::UnavailableError(absl::StrCat(options.name, ": cannot resolve host '",
                                                 options.hostname, "': ", gai_strerror(rc)));
    }
    attr.hostname = options.hostname;
  }
  std::shared_ptr<gloo::transport::Device> device;
  try {
    device = gloo::transport::tcp::CreateDevice(attr);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat(
        options.name, ": cannot create a Gloo TCP device on ",
        options.interface.empty() ? absl::StrCat("host '", options.hostname, "'")
                                  : absl::StrCat("interface '", options.interface, "'"),
        ": ", e.what()));
  }
  return std::unique_ptr<GlooCollectiveGroups>(
      new GlooCollectiveGroups(store, std::move(options), std::move(device)));
}

GlooCollectiveGroups::GlooCollectiveGroups(RendezvousStore* store,
                                           GlooCollectiveGroupsOptions options,
                                           std::shared_ptr<gloo::transport::Device> device)
    : store_(store),
      options_(std::move(options)),
      device_(std::move(device)),
      registry_(std::make_shared<Registry>()) {}

GlooCollectiveGroups::~GlooCollectiveGroups() = default;

std::string GlooCollectiveGroups::GangPrefix(GangId gang) const {
  return absl::StrCat(options_.key_prefix, gang.DebugString(), "/");
}

absl::StatusOr<std::unique_ptr<Communicator>> GlooCollectiveGroups::Join(GangId gang,
                                                                         int64_t size,
                                                                         int64_t rank) {
  PW_RETURN_IF_ERROR(collectives::CheckJoin(options_.name, gang, size, rank));
  absl::MutexLock lock(&registry_->mu);
  Registry::Gang& g = registry_->gangs[gang];
  if (g.live == 0) {
    g.size = size;
    g.members.assign(static_cast<size_t>(size), nullptr);
  } else if (g.size != size) {
    return absl::InvalidArgumentError(absl::StrCat(options_.name, ": ", gang.DebugString(),
                                                   " has ", g.size,
                                                   " ranks but a rank joined with size ", size));
  }
  if (g.members[rank] != nullptr) {
    return absl::AlreadyExistsError(absl::StrCat(options_.name, ": rank ", rank, " of ",
                                                 gang.DebugString(), " already joined"));
  }
  std::weak_ptr<Registry> weak = registry_;
  GlooCommunicatorOptions comm_options{
      .gang = gang,
      .size = size,
      .rank = rank,
      .name = absl::StrCat(options_.name, " ", gang.DebugString()),
      .timeout = options_.timeout,
      .store = store_,
      .device = device_,
      .key_prefix = GangPrefix(gang),
      .on_destroy =
          [weak, gang, rank] {
            std::shared_ptr<Registry> registry = weak.lock();
            if (registry == nullptr) return;
            absl::MutexLock lock(&registry->mu);
            auto it = registry->gangs.find(gang);
            if (it == registry->gangs.end()) return;
            it->second.members[rank] = nullptr;
            if (--it->second.live == 0) registry->gangs.erase(it);
          },
  };
  absl::StatusOr<std::unique_ptr<GlooCommunicator>> comm =
      GlooCommunicator::Create(std::move(comm_options));
  if (!comm.ok()) {
    if (g.live == 0) registry_->gangs.erase(gang);
    return comm.status();
  }
  g.members[rank] = comm->get();
  ++g.live;
  return std::unique_ptr<Communicator>(*std::move(comm));
}

void GlooCollectiveGroups::Abort(GangId gang, int64_t size, absl::Status reason) {
  if (size < 1) return;
  // Ranks connecting now or joining later, in any process, learn it from the store.
  absl::StatusOr<std::string> stored =
      store_->SetIfAbsent(GangPrefix(gang) + "abort", reason.ToString());
  if (!stored.ok()) {
    PW_LOG(WARNING) << options_.name << ": could not record the abort of " << gang
                    << " in the rendezvous store: " << stored.status();
  }
  // Under the registry lock a communicator cannot be destroyed (its destructor unregisters).
  absl::MutexLock lock(&registry_->mu);
  auto it = registry_->gangs.find(gang);
  if (it == registry_->gangs.end()) return;
  for (GlooCommunicator* member : it->second.members) {
    if (member != nullptr) member->Abort(reason);
  }
}

int64_t GlooCollectiveGroups::num_live_gangs() const {
  absl::MutexLock lock(&registry_->mu);
  return static_cast<int64_t>(registry_->gangs.size());
}

std::string GlooCollectiveGroups::DebugString() const {
  absl::MutexLock lock(&registry_->mu);
  return absl::StrCat(options_.name, " (Gloo TCP on ",
                      options_.interface.empty() ? options_.hostname : options_.interface, ", ",
                      registry_->gangs.size(), " gangs with live ranks, store: ",
                      store_->DebugString(), ")");
}

}  // namespace pw
