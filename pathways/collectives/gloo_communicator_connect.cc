// GlooCommunicator, part two: building the gang's TCP mesh through the rendezvous store, and
// naming why a peer was lost.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gloo/rendezvous/context.h"
#include "pathways/collectives/gloo_communicator.h"
#include "pathways/collectives/gloo_store_adapter.h"

namespace pw {
namespace {

// The gang's connect verdict when ranks did not join in time: "timeout:rank 2" etc.
constexpr char kTimeoutVerdict[] = "timeout:";

std::chrono::milliseconds ToMillis(absl::Duration d) {
  return std::chrono::milliseconds(std::max<int64_t>(1, absl::ToInt64Milliseconds(d)));
}

}  // namespace

absl::Status GlooCommunicator::PeerLost(const std::string& op, const std::string& detail) {
  // A rank that aborted the gang and then went away closes its connections: its reason is in
  // the store, and is a better error than the closed socket.
  if (absl::StatusOr<std::string> reason = options_.store->Get(options_.key_prefix + "abort");
      reason.ok()) {
    return absl::AbortedError(absl::StrCat(op, ": gang aborted: ", *reason, " (then lost peer ",
                                           detail, ")"));
  }
  return absl::UnavailableError(absl::StrCat(op, ": lost peer ", detail));
}

absl::Status GlooCommunicator::EnsureConnectedLocked() {
  if (context_ != nullptr) return absl::OkStatus();
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
  context_ = std::move(context);
  // Aborted while connecting: now that this rank is connected, tell the peers.
  if (absl::Status broken = BrokenStatus(); !broken.ok()) {
    SendAbortNoticeLocked();
    return broken;
  }
  return absl::OkStatus();
}

}  // namespace pw
