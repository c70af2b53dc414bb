// GlooCollectiveGroups implementation.
#include "pathways/collectives/gloo/gloo_collective_groups.h"

#include <net/if.h>
#include <netdb.h>
#include <sys/socket.h>

#include <exception>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pathways/collectives/collective_checks.h"
#include "gloo/transport/tcp/attr.h"
#include "gloo/transport/tcp/device.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"
#include "pathways/collectives/gloo/gloo_communicator.h"
#include "pathways/collectives/gloo/gloo_loop_thread.h"

namespace pw {

struct GlooCollectiveGroups::Registry {
  struct Gang {
    int64_t size = 0;
    std::vector<GlooCommunicator*> members;  // indexed by rank; null when not joined here
    int64_t live = 0;
  };
  absl::Mutex mu;
  absl::flat_hash_map<GangId, Gang> gangs ABSL_GUARDED_BY(mu);
  bool stopping ABSL_GUARDED_BY(mu) = false;  // the watcher exits
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
  if (absl::Status s = ConfigureGlooLoopThread(device, "pw-gloo-loop", options.loop_thread_nice);
      !s.ok()) {
    // A bad option is the caller's error; a loop that could not be reached or reniced (a
    // sandbox refusing setpriority) only costs speed on busy cores.
    if (absl::IsInvalidArgument(s)) return Annotate(s, options.name);
    PW_LOG(WARNING) << options.name << ": Gloo's loop thread keeps its priority: " << s;
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
      registry_(std::make_shared<Registry>()),
      pool_(std::make_shared<GlooMeshPool>(options_.max_idle_meshes)),
      watcher_([this] { Watch(); }) {}

GlooCollectiveGroups::~GlooCollectiveGroups() {
  {
    absl::MutexLock lock(&registry_->mu);
    registry_->stopping = true;
  }
  watcher_.join();
  // Idle meshes close now (their peers see the connections go); ones in use close when their
  // communicators are done with them.
  pool_->Clear();
}

std::string GlooCollectiveGroups::GangPrefix(GangId gang) const {
  return absl::StrCat(options_.key_prefix, gang.DebugString(), "/");
}

absl::StatusOr<std::unique_ptr<Communicator>> GlooCollectiveGroups::Join(GangId gang,
                                                                         int64_t size,
                                                                         int64_t rank) {
  return Join(gang, size, rank, /*member_key=*/0);
}

absl::StatusOr<std::unique_ptr<Communicator>> GlooCollectiveGroups::Join(GangId gang,
                                                                         int64_t size,
                                                                         int64_t rank,
                                                                         uint64_t member_key) {
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
      .member_key = member_key,
      .pool = pool_,
      .before_data_moves = options_.before_data_moves,
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

void GlooCollectiveGroups::Watch() {
  Registry& r = *registry_;
  struct Check {
    GangId gang;
    bool may_reconnect = false;
    std::optional<std::string> abort_reason;
    bool connecting = false;
  };
  r.mu.Lock();
  while (true) {
    r.mu.AwaitWithTimeout(absl::Condition(&r.stopping), options_.watch);
    if (r.stopping) break;
    std::vector<Check> checks;
    const absl::Time now = absl::Now();
    for (const auto& [gang, g] : r.gangs) {
      bool waited = false, may_reconnect = false;
      for (GlooCommunicator* member : g.members) {
        if (member == nullptr) continue;
        std::optional<GlooCommunicator::Waiting> w = member->waiting();
        if (w.has_value() && now - w->since >= options_.watch) {
          waited = true;
          may_reconnect |= w->may_reconnect;
        }
      }
      if (waited) checks.push_back(Check{.gang = gang, .may_reconnect = may_reconnect});
    }
    if (checks.empty()) continue;
    // Store calls may be RPCs: never under the registry lock (Join and destruction take it).
    r.mu.Unlock();
    for (Check& c : checks) {
      const std::string prefix = GangPrefix(c.gang);
      if (absl::StatusOr<std::string> reason = store_->Get(prefix + "abort"); reason.ok()) {
        c.abort_reason = *std::move(reason);
      } else if (c.may_reconnect) {
        // A rank connecting anew agrees on the gang's size first: that key is its marker.
        c.connecting = store_->Get(prefix + "size").ok();
      }
    }
    r.mu.Lock();
    // Under the lock a communicator cannot be destroyed (its destructor unregisters).
    for (const Check& c : checks) {
      auto it = r.gangs.find(c.gang);
      if (it == r.gangs.end()) continue;
      for (GlooCommunicator* member : it->second.members) {
        if (member == nullptr) continue;
        if (c.abort_reason.has_value()) {
          member->AbortFromStore(*c.abort_reason);
        } else if (c.connecting) {
          member->Reconnect();
        }
      }
    }
  }
  r.mu.Unlock();
}

int64_t GlooCollectiveGroups::num_connects() const { return pool_->num_connects(); }

int64_t GlooCollectiveGroups::num_pooled_meshes() const { return pool_->num_meshes(); }

int64_t GlooCollectiveGroups::num_live_gangs() const {
  absl::MutexLock lock(&registry_->mu);
  return static_cast<int64_t>(registry_->gangs.size());
}

std::string GlooCollectiveGroups::DebugString() const {
  absl::MutexLock lock(&registry_->mu);
  return absl::StrCat(options_.name, " (Gloo TCP on ",
                      options_.interface.empty() ? options_.hostname : options_.interface, ", ",
                      registry_->gangs.size(), " gangs with live ranks, ",
                      pool_->DebugString(), ", store: ", store_->DebugString(), ")");
}

}  // namespace pw
