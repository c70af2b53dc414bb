// GlooCommunicator, part two: getting a mesh for a collective (the one this rank used last, a
// pooled one left by an earlier gang with the same members, or a new one built through the
// rendezvous store), falling back from a pooled mesh that turns out not to be the gang's, and
// naming why a peer was lost.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gloo/common/error.h"
#include "gloo/rendezvous/context.h"
#include "pathways/collectives/gloo/gloo_communicator.h"
#include "pathways/collectives/gloo/gloo_store_adapter.h"

namespace pw {
namespace {

// The gang's connect verdict when ranks did not join in time: "timeout:rank 2" etc.
constexpr char kTimeoutVerdict[] = "timeout:";

}  // namespace

std::optional<std::string> GlooCommunicator::StoredAbortReason() const {
  absl::StatusOr<std::string> reason = options_.store->Get(options_.key_prefix + "abort");
  if (!reason.ok()) return std::nullopt;
  return *std::move(reason);
}

absl::Status GlooCommunicator::PeerLost(const std::string& op, const std::string& detail) {
  // A rank that aborted the gang and then went away closes its connections: its reason is in
  // the store, and is a better error than the closed socket.
  if (std::optional<std::string> reason = StoredAbortReason()) {
    return absl::AbortedError(absl::StrCat(op, ": gang aborted: ", *reason, " (then lost peer ",
                                           detail, ")"));
  }
  return absl::UnavailableError(absl::StrCat(op, ": lost peer ", detail));
}

absl::Status GlooCommunicator::RunLocked(const Call& call) {
  const std::string local_error = ValidateLocal(call);
  if (options_.size == 1) {
    if (!local_error.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(Describe(), ": ", local_error));
    }
    ComputeAlone(call);
    return absl::OkStatus();
  }
  absl::Status status = AcquireMeshLocked();
  if (status.ok()) status = CollectiveLocked(call, local_error);
  if (reconnect_) {
    // The pooled mesh is not the gang's: drop it (closing this rank's pairs, so peers still on
    // it fall back too) and meet the gang through the rendezvous. A new mesh never falls back.
    reconnect_ = false;
    ReleaseMeshLocked(/*in_step=*/false);
    status = ConnectLocked();
    if (status.ok()) status = CollectiveLocked(call, local_error);
    reconnect_ = false;
  }
  ReleaseMeshLocked(/*in_step=*/BrokenStatus().ok());
  return status;
}

absl::Status GlooCommunicator::FallBackLocked(const std::string& op, const std::string& why) {
  reconnect_ = true;
  return absl::UnavailableError(absl::StrCat(op, ": pooled mesh unusable (", why,
                                             "); connecting anew"));
}

absl::Status GlooCommunicator::OutOfStepLocked(const std::string& op, const std::string& what,
                                               bool may_reconnect) {
  // A rank skips a gang only when the gang was aborted (e.g. at dispatch on its host): that
  // reason is the one to report, not the symptom.
  if (std::optional<std::string> reason = StoredAbortReason()) {
    return Break(absl::AbortedError(
        absl::StrCat(op, ": gang aborted: ", *reason, " (", what, ")")));
  }
  if (may_reconnect) return FallBackLocked(op, what);
  return Break(absl::InternalError(absl::StrCat(op, ": out of step: ", what)));
}

absl::Status GlooCommunicator::AcquireMeshLocked() {
  if (mesh_ != nullptr) return absl::OkStatus();
  if (in_pool_) {
    // Between two collectives of this gang the mesh waited in the pool.
    mesh_ = options_.pool->Take(mesh_key(), pool_user_, /*first=*/false);
    if (mesh_ != nullptr) return absl::OkStatus();
    in_pool_ = false;
    return Break(absl::InternalError(absl::StrCat(
        Describe(), ": the mesh of ", mesh_key().DebugString(),
        " was taken or dropped between two collectives of the gang (gangs with the same members "
        "overlapped on one rank)")));
  }
  if (keyed()) {
    // The first collective (a mesh this rank connected would be held or pooled): take the
    // mesh an earlier gang with the same members left.
    mesh_ = options_.pool->Take(mesh_key(), pool_user_, /*first=*/true);
    if (mesh_ != nullptr) {
      in_pool_ = true;
      may_reconnect_ = true;
      return absl::OkStatus();
    }
  }
  return ConnectLocked();
}

void GlooCommunicator::ReleaseMeshLocked(bool in_step) {
  if (mesh_ == nullptr) return;
  if (!in_step) {
    // Possibly out of step: never to be reused. The last reference closes the pairs (an abort
    // notice in flight holds the Gloo context until this communicator goes).
    if (in_pool_) options_.pool->Drop(mesh_key(), mesh_.get());
    in_pool_ = false;
    mesh_.reset();
    return;
  }
  if (!keyed()) return;  // a mesh of its own, for every collective of the gang
  if (options_.pool->Return(mesh_key(), pool_user_, mesh_)) {
    in_pool_ = true;
    mesh_.reset();
  }
  // Otherwise the slot is busy with another mesh: this one stays with this rank.
}

absl::Status GlooCommunicator::ConnectLocked() {
  // A gang aborted before this rank connected never meets: report the stored reason.
  if (std::optional<std::string> reason = StoredAbortReason()) {
    return Break(absl::AbortedError(absl::StrCat(Describe(), ": gang aborted: ", *reason)));
  }
  RendezvousStore& store = *options_.store;
  const std::string& prefix = options_.key_prefix;
  const std::string abort_key = prefix + "abort";
  const std::string verdict_key = prefix + "verdict";
  auto store_error = [&](const absl::Status& s) {
    return Break(absl::UnavailableError(
        absl::StrCat(Describe(), ": connecting: rendezvous store: ", s.ToString())));
  };
  auto aborted = [&]() {
    absl::StatusOr<std::string> reason = store.Get(abort_key);
    return Break(absl::AbortedError(absl::StrCat(
        Describe(), ": gang aborted: ", reason.ok() ? *reason : "reason unknown")));
  };

  // Ranks of one gang may live in different processes: agree on the size through the store.
  const std::string size_text = absl::StrCat(options_.size);
  absl::StatusOr<std::string> agreed = store.SetIfAbsent(prefix + "size", size_text);
  if (!agreed.ok()) return store_error(agreed.status());
  if (*agreed != size_text) {
    absl::Status mismatch = absl::InvalidArgumentError(
        absl::StrCat(options_.name, " has ", *agreed, " ranks but rank ", options_.rank,
                     " joined with size ", options_.size));
    // The ranks that did agree would otherwise wait for a rank that never comes.
    (void)store.SetIfAbsent(abort_key, mismatch.ToString());
    return Break(std::move(mismatch));
  }

  // Barrier, then one verdict for the whole gang. A rank inside Gloo's connect cannot be
  // interrupted, so either every rank connects or none does: the first rank to see everyone
  // joined (or the abort / the timeout) writes the verdict and all ranks follow it.
  if (absl::Status s = store.Set(absl::StrCat(prefix, "joined/", options_.rank), "");
      !s.ok()) {
    return store_error(s);
  }
  std::vector<std::string> joined_keys;
  for (int64_t r = 0; r < options_.size; ++r) {
    joined_keys.push_back(absl::StrCat(prefix, "joined/", r));
  }
  const absl::Status waited = store.Wait(joined_keys, options_.timeout, abort_key);
  if (!waited.ok() && waited.code() != absl::StatusCode::kAborted &&
      waited.code() != absl::StatusCode::kDeadlineExceeded) {
    return store_error(waited);
  }
  std::string proposal = waited.ok() ? "connect" : "abort";
  if (waited.code() == absl::StatusCode::kDeadlineExceeded) {
    std::vector<int64_t> missing;
    for (int64_t r = 0; r < options_.size; ++r) {
      if (!store.Get(joined_keys[r]).ok()) missing.push_back(r);
    }
    proposal = absl::StrCat(kTimeoutVerdict, "rank", missing.size() == 1 ? " " : "s ",
                            absl::StrJoin(missing, ", "));
  }
  absl::StatusOr<std::string> verdict = store.SetIfAbsent(verdict_key, proposal);
  if (!verdict.ok()) return store_error(verdict.status());
  if (verdict->rfind(kTimeoutVerdict, 0) == 0) {
    const std::string who = verdict->substr(std::strlen(kTimeoutVerdict));
    // Ranks still waiting stop at once instead of timing out one by one.
    (void)store.SetIfAbsent(abort_key, absl::StrCat(who, " never joined"));
    return Break(absl::DeadlineExceededError(
        absl::StrCat(Describe(), ": connecting: ", who, " did not join within ",
                     absl::FormatDuration(options_.timeout))));
  }
  if (*verdict != "connect") return aborted();

  auto context = std::make_shared<gloo::rendezvous::Context>(static_cast<int>(options_.rank),
                                                              static_cast<int>(options_.size));
  context->setTimeout(ToMillis(options_.timeout));
  // No abort key here: past the verdict every rank connects (bounded by the timeout).
  GlooStoreAdapter adapter(store, GlooStoreAdapterOptions{.prefix = prefix + "mesh/",
                                                          .abort_key = "",
                                                          .timeout = options_.timeout});
  std::shared_ptr<gloo::transport::Device> device = options_.device;
  try {
    context->connectFullMesh(adapter, device);
  } catch (const RendezvousStoreError& e) {
    const absl::Status& s = e.status();
    if (s.code() == absl::StatusCode::kDeadlineExceeded) {
      // Gloo names each rank's address key after the rank.
      return Break(absl::DeadlineExceededError(absl::StrCat(
          Describe(), ": connecting: ranks ", absl::StrJoin(adapter.missing_keys(), ", "),
          " published no address within ", absl::FormatDuration(options_.timeout))));
    }
    return store_error(s);
  } catch (const std::exception& e) {
    return Break(absl::UnavailableError(
        absl::StrCat(Describe(), ": connecting the TCP mesh: ", e.what())));
  }
  mesh_ = std::make_shared<GlooMesh>(context);
  mesh_->connections = FindMeshConnections(*context, static_cast<int>(options_.rank),
                                           static_cast<int>(options_.size), adapter.values());
  in_pool_ = false;
  may_reconnect_ = false;
  erase_keys_ = true;
  if (options_.pool != nullptr) options_.pool->CountConnect();
  // Aborted while connecting: now that this rank is connected, tell the peers.
  if (absl::Status broken = BrokenStatus(); !broken.ok()) {
    SendAbortNoticeLocked();
    return broken;
  }
  return absl::OkStatus();
}

}  // namespace pw
