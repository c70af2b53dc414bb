// GlooCommunicator: creation, abort, the arrival exchange before every collective, and the
// boundary where Gloo's C++ exceptions become absl::Status (data movement is in
// gloo_communicator_data.cc, connecting in gloo_communicator_connect.cc).
#include "pathways/collectives/gloo/gloo_communicator.h"

#include <algorithm>
#include <csignal>
#include <mutex>
#include <chrono>
#include <cstring>
#include <exception>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "pathways/collectives/collective_checks.h"
#include "absl/strings/str_join.h"
#include "gloo/common/error.h"
#include "gloo/context.h"
#include "gloo/transport/unbound_buffer.h"
#include "gloo/types.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"
#include "pathways/kernels/reduction.h"

namespace pw {
namespace {

// Slot prefixes of our own transfers; Gloo's algorithms use 0x01..0x08.
constexpr uint8_t kDescriptorSlotPrefix = 0x70;
constexpr uint32_t kDescriptorMagic = 0x50574732;  // "PWG2": bumps when the layout changes
// How long a data transfer runs before the registry's watcher reads the gang's abort key for it.
constexpr absl::Duration kTransferWatchAfter = absl::Milliseconds(250);

bool IsTimeout(const std::exception& e) {
  return std::string_view(e.what()).find("Timed out") != std::string_view::npos;
}

uint64_t HashPairs(absl::Span<const std::pair<int64_t, int64_t>> pairs) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the pair values
  for (const auto& [s, t] : pairs) {
    for (int64_t v : {s, t}) {
      h ^= static_cast<uint64_t>(v);
      h *= 1099511628211ull;
    }
  }
  return h;
}

}  // namespace

// What every rank sends every peer before a collective. Fixed size, so a transfer between
// ranks that disagree on everything else still matches.
struct GlooCommunicator::Descriptor {
  enum State : uint8_t { kReady = 0, kInvalid = 1, kAborted = 2 };
  uint32_t magic = 0;
  uint32_t tag = 0;
  uint8_t state = kReady;
  uint8_t kind = 0;
  uint8_t dtype = 0;
  uint8_t reduce = 0;
  uint32_t num_pairs = 0;
  int64_t count = 0;
  uint64_t pairs_hash = 0;
  uint64_t gang = 0;    // GangId: ranks of different gangs on one (pooled) mesh never match
  char text[224] = {};  // the local error or the abort reason, NUL-terminated

  void SetText(std::string_view s) {
    const size_t n = std::min(s.size(), sizeof(text) - 1);
    std::memcpy(text, s.data(), n);
    text[n] = '\0';
  }
  std::string Text() const { return std::string(text, strnlen(text, sizeof(text))); }
};

// Gloo's TCP transport writes without MSG_NOSIGNAL, so a peer that closed its end (a lost or
// aborted rank) would kill the whole process with SIGPIPE instead of surfacing as an error on
// the write. Like gRPC, ignore the signal process-wide once a Gloo communicator exists; the
// write then fails with EPIPE, which Gloo reports and we turn into UNAVAILABLE.
static void IgnoreSigpipeOnce() {
  static std::once_flag once;
  std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
}

absl::StatusOr<std::unique_ptr<GlooCommunicator>> GlooCommunicator::Create(
    GlooCommunicatorOptions options) {
  IgnoreSigpipeOnce();
  if (options.size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.name, ": gang size ", options.size, " is not positive"));
  }
  if (options.rank < 0 || options.rank >= options.size) {
    return absl::InvalidArgumentError(absl::StrCat(options.name, ": rank ", options.rank,
                                                   " is outside [0, ", options.size, ")"));
  }
  if (options.size > 1 && (options.store == nullptr || options.device == nullptr)) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.name, ": a gang of ", options.size,
                     " ranks needs a rendezvous store and a Gloo device"));
  }
  return std::unique_ptr<GlooCommunicator>(new GlooCommunicator(std::move(options)));
}

GlooCommunicator::GlooCommunicator(GlooCommunicatorOptions options)
    : options_(std::move(options)),
      pool_user_(options_.pool != nullptr ? options_.pool->NewUser() : 0) {}

GlooCommunicator::~GlooCommunicator() {
  if (keyed()) options_.pool->UserGone(mesh_key(), pool_user_);
  if (options_.on_destroy) options_.on_destroy();
}


std::string GlooCommunicator::Describe() const {
  return absl::StrCat("Gloo communicator '", options_.name, "' rank ", options_.rank, " of ",
                      options_.size);
}

std::string GlooCommunicator::DebugString() const {
  absl::MutexLock lock(&mu_);
  return absl::StrCat(Describe(), broken_.ok() ? "" : absl::StrCat(" (broken: ",
                                                                    broken_.ToString(), ")"));
}

absl::Status GlooCommunicator::Break(absl::Status status) {
  absl::MutexLock lock(&mu_);
  if (broken_.ok()) broken_ = std::move(status);
  return broken_;
}

absl::Status GlooCommunicator::BrokenStatus() const {
  absl::MutexLock lock(&mu_);
  return broken_;
}

void GlooCommunicator::Abort(const absl::Status& reason) {
  {
    absl::MutexLock lock(&mu_);
    if (broken_.ok()) {
      broken_ = absl::AbortedError(
          absl::StrCat(Describe(), ": gang aborted: ", reason.ToString()));
      abort_reason_ = reason.ToString();
    }
    for (gloo::transport::UnboundBuffer* b : waiting_) b->abortWaitRecv();
    BreakTransferLocked();
  }
  // Only an idle rank can speak for itself on the wire; a busy one announces the abort when
  // its current call returns or at its next call.
  if (op_mu_.TryLock()) {
    SendAbortNoticeLocked();
    op_mu_.Unlock();
  }
}

std::optional<GlooCommunicator::Waiting> GlooCommunicator::waiting() const {
  absl::MutexLock lock(&mu_);
  if (!broken_.ok()) return std::nullopt;
  if (!waiting_.empty()) return Waiting{.since = waiting_since_, .may_reconnect = waiting_may_reconnect_};
  // A transfer is watched only once it has lasted a while: healthy short ones cost no store read.
  if (transfer_mesh_ != nullptr) {
    return Waiting{.since = transfer_since_ + kTransferWatchAfter, .may_reconnect = false};
  }
  return std::nullopt;
}

void GlooCommunicator::BreakTransferLocked() {
  if (transfer_mesh_ == nullptr) return;
  const int shut = ShutDownMeshSockets(transfer_mesh_->connections);
  PW_LOG(INFO) << Describe() << ": aborted inside a data transfer; shut down " << shut
               << " of its mesh's sockets";
}

void GlooCommunicator::AbortFromStore(const std::string& reason) {
  absl::MutexLock lock(&mu_);
  if (broken_.ok()) {
    broken_ = absl::AbortedError(absl::StrCat(Describe(), ": gang aborted: ", reason));
  }
  for (gloo::transport::UnboundBuffer* b : waiting_) b->abortWaitRecv();
  BreakTransferLocked();
}

void GlooCommunicator::Reconnect() {
  absl::MutexLock lock(&mu_);
  if (waiting_.empty() || !waiting_may_reconnect_) return;
  reconnect_requested_ = true;
  for (gloo::transport::UnboundBuffer* b : waiting_) b->abortWaitRecv();
}

void GlooCommunicator::SendAbortNoticeLocked() {
  std::string reason;
  {
    absl::MutexLock lock(&mu_);
    if (broken_.code() != absl::StatusCode::kAborted || abort_reason_.empty()) return;
    reason = abort_reason_;
  }
  if (abort_notice_) return;
  if (mesh_ == nullptr && in_pool_) {
    // Idle between collectives: the mesh waits in the pool. Take it out for the notice (it may
    // be out of step after this abort, so it never goes back) — unless a later gang already
    // took it over, which means this gang finished every collective on it.
    mesh_ = options_.pool->Reclaim(mesh_key(), pool_user_);
    in_pool_ = false;
  }
  if (mesh_ == nullptr) return;
  abort_notice_ = std::make_unique<Descriptor>();
  abort_notice_->magic = kDescriptorMagic;
  abort_notice_->tag = mesh_->next_tag;
  abort_notice_->gang = static_cast<uint64_t>(options_.gang.value());
  abort_notice_->state = Descriptor::kAborted;
  abort_notice_->SetText(reason);
  const uint64_t slot = gloo::Slot::build(kDescriptorSlotPrefix, mesh_->next_tag);
  try {
    // Gloo moves the bytes once a peer posts its receive; the notice is not waited for (a peer
    // busy elsewhere must not stall the aborting thread). If this communicator is destroyed
    // first, peers see the connection close instead and find the reason in the store.
    abort_notice_buffer_ =
        mesh_->context->createUnboundBuffer(abort_notice_.get(), sizeof(Descriptor));
    for (int p = 0; p < options_.size; ++p) {
      if (p != options_.rank) abort_notice_buffer_->send(p, slot);
    }
  } catch (const std::exception& e) {
    PW_LOG(WARNING) << Describe() << ": could not send the abort notice to every peer: "
                    << e.what();
  }
}

std::string GlooCommunicator::ValidateLocal(const Call& c) const {
  return collectives::CheckCallArguments(c, options_.size);
}

void GlooCommunicator::FillDescriptor(const Call& call, const std::string& local_error,
                                      Descriptor& d) const {
  d.magic = kDescriptorMagic;
  d.state = local_error.empty() ? Descriptor::kReady : Descriptor::kInvalid;
  d.kind = static_cast<uint8_t>(call.kind);
  d.dtype = static_cast<uint8_t>(call.dtype);
  d.reduce = static_cast<uint8_t>(call.reduce);
  d.count = call.count;
  d.num_pairs = static_cast<uint32_t>(call.pairs.size());
  d.pairs_hash = HashPairs(call.pairs);
  d.gang = static_cast<uint64_t>(options_.gang.value());
  d.SetText(local_error);
}

std::string GlooCommunicator::DescribeDescriptor(const Descriptor& d) {
  const Kind kind = static_cast<Kind>(d.kind);
  if (kind == Kind::kCollectivePermute) {
    return absl::StrCat(KindName(kind), "(", d.count, " bytes, ", d.num_pairs, " pairs",
                        d.num_pairs > 0 ? absl::StrCat(" hashing to ", d.pairs_hash) : "", ")");
  }
  const auto dtype = static_cast<ir::DType>(d.dtype);
  std::string s = absl::StrCat(KindName(kind), "(", d.count, " x ", ir::DTypeName(dtype));
  if (kind == Kind::kAllReduce || kind == Kind::kReduceScatter) {
    absl::StrAppend(&s, ", ", ir::ReduceKindName(static_cast<ir::ReduceKind>(d.reduce)));
  }
  return absl::StrCat(s, ")");
}

std::string GlooCommunicator::DescribeOutOfStep(int peer, const Descriptor& d,
                                                uint32_t tag) const {
  if (d.magic != kDescriptorMagic) {
    return absl::StrCat("rank ", peer, " sent a malformed arrival message (magic ", d.magic, ")");
  }
  return absl::StrCat("rank ", peer, " is at ", GangId(static_cast<int64_t>(d.gang)).DebugString(),
                      " collective #", d.tag, d.state == Descriptor::kAborted ? " (abort notice)" : "",
                      ", this rank at ", options_.gang.DebugString(), " collective #", tag);
}

absl::Status GlooCommunicator::AllReduce(const void* input, void* output, int64_t count,
                                         ir::DType dtype, ir::ReduceKind kind) {
  return Run(Call{.kind = Kind::kAllReduce, .input = input, .output = output, .count = count,
                  .dtype = dtype, .reduce = kind});
}

absl::Status GlooCommunicator::AllGather(const void* input, void* output, int64_t count,
                                         ir::DType dtype) {
  return Run(Call{.kind = Kind::kAllGather, .input = input, .output = output, .count = count,
                  .dtype = dtype});
}

absl::Status GlooCommunicator::ReduceScatter(const void* input, void* output, int64_t count,
                                             ir::DType dtype, ir::ReduceKind kind) {
  return Run(Call{.kind = Kind::kReduceScatter, .input = input, .output = output,
                  .count = count, .dtype = dtype, .reduce = kind});
}

absl::Status GlooCommunicator::AllToAll(const void* input, void* output, int64_t count,
                                        ir::DType dtype) {
  return Run(Call{.kind = Kind::kAllToAll, .input = input, .output = output, .count = count,
                  .dtype = dtype});
}

absl::Status GlooCommunicator::CollectivePermute(
    const void* input, void* output, int64_t bytes,
    absl::Span<const std::pair<int64_t, int64_t>> pairs) {
  return Run(Call{.kind = Kind::kCollectivePermute, .input = input, .output = output,
                  .count = bytes, .pairs = pairs});
}

absl::Status GlooCommunicator::Run(const Call& call) {
  absl::MutexLock lock(&op_mu_);
  if (absl::Status broken = BrokenStatus(); !broken.ok()) {
    // An abort that arrived while this rank was busy could not be announced then.
    SendAbortNoticeLocked();
    return broken;
  }
  return RunLocked(call);
}

absl::Status GlooCommunicator::CollectiveLocked(const Call& call,
                                                const std::string& local_error) {
  const uint32_t tag = mesh_->next_tag++;
  PW_RETURN_IF_ERROR(ExchangeDescriptorsLocked(call, local_error, tag));
  if (call.count == 0) return absl::OkStatus();
  if (options_.before_data_moves) options_.before_data_moves(options_.rank);
  {
    absl::MutexLock lock(&mu_);
    if (!broken_.ok()) return broken_;  // aborted since the exchange: no data moves
    transfer_mesh_ = mesh_;
    transfer_since_ = absl::Now();
  }
  struct EndTransfer {
    GlooCommunicator* self;
    ~EndTransfer() {
      absl::MutexLock lock(&self->mu_);
      self->transfer_mesh_ = nullptr;
    }
  } end_transfer{this};
  try {
    MoveDataLocked(call, tag);
  } catch (const std::exception& e) {
    const std::string op = absl::StrCat(KindName(call.kind), " (collective #", tag, ") on ",
                                        Describe());
    if (IsTimeout(e)) return Break(absl::DeadlineExceededError(absl::StrCat(op, ": ", e.what())));
    if (dynamic_cast<const gloo::IoException*>(&e) != nullptr) return Break(PeerLost(op, e.what()));
    return Break(absl::InternalError(absl::StrCat(op, ": ", e.what())));
  }
  return absl::OkStatus();
}

absl::Status GlooCommunicator::ExchangeDescriptorsLocked(const Call& call,
                                                         const std::string& local_error,
                                                         uint32_t tag) {
  const int me = static_cast<int>(options_.rank);
  std::vector<Descriptor> all(options_.size);
  FillDescriptor(call, local_error, all[me]);
  all[me].tag = tag;
  const bool may_reconnect = may_reconnect_;
  const Arrival arrival = AwaitArrivalsLocked(all, tag, may_reconnect);
  const std::string op = absl::StrCat(KindName(call.kind), " (collective #", tag, ") on ",
                                      Describe());
  PW_RETURN_IF_ERROR(JudgeArrivalLocked(op, all, tag, arrival, may_reconnect));
  // Every peer is on this mesh, at this gang's collective: the mesh is in step from here on.
  may_reconnect_ = false;
  if (erase_keys_) {
    erase_keys_ = false;
    if (me == 0) {
      // Every peer sent a descriptor on the new mesh, so every peer finished connecting: the
      // gang's rendezvous keys are no longer read.
      absl::StatusOr<int64_t> erased = options_.store->DeletePrefix(options_.key_prefix);
      if (!erased.ok()) {
        PW_LOG(WARNING) << Describe() << ": could not clean up rendezvous keys: "
                        << erased.status();
      }
    }
  }
  return CheckAgreement(op, all);
}

GlooCommunicator::Arrival GlooCommunicator::AwaitArrivalsLocked(std::vector<Descriptor>& all,
                                                                uint32_t tag,
                                                                bool may_reconnect) {
  const int size = static_cast<int>(options_.size);
  const int me = static_cast<int>(options_.rank);
  Arrival out;
  out.arrived.assign(size, false);
  auto in_step = [&](const Descriptor& d) {
    return d.magic == kDescriptorMagic && d.tag == tag && d.gang == all[me].gang;
  };
  gloo::Context& context = *mesh_->context;
  const uint64_t slot = gloo::Slot::build(kDescriptorSlotPrefix, tag);
  int peer = -1;  // the peer being talked to, to name it if Gloo throws
  try {
    std::unique_ptr<gloo::transport::UnboundBuffer> send =
        context.createUnboundBuffer(&all[me], sizeof(Descriptor));
    std::vector<std::unique_ptr<gloo::transport::UnboundBuffer>> recv(size);
    {
      absl::MutexLock lock(&mu_);
      if (!broken_.ok()) {
        out.broken = broken_;
        return out;
      }
      for (int p = 0; p < size; ++p) {
        if (p == me) continue;
        peer = p;
        recv[p] = context.createUnboundBuffer(&all[p], sizeof(Descriptor));
        recv[p]->recv(p, slot);
        waiting_.push_back(recv[p].get());
      }
      waiting_since_ = absl::Now();
      waiting_may_reconnect_ = may_reconnect;
      reconnect_requested_ = false;
    }
    for (int p = 0; p < size && out.lost.empty(); ++p) {
      if (p == me) continue;
      try {
        send->send(p, slot);
      } catch (const std::exception& e) {
        out.lost = absl::StrCat("rank ", p, ": ", e.what());
      }
    }
    const absl::Time deadline = absl::Now() + options_.timeout;
    for (int p = 0; p < size && !out.aborted_here && !out.settled && out.lost.empty(); ++p) {
      if (p == me) continue;
      try {
        out.aborted_here = !recv[p]->waitRecv(ToMillis(deadline - absl::Now()));
        if (!out.aborted_here) {
          out.arrived[p] = true;
          // Stop waiting for the others: the outcome is known.
          out.settled = !in_step(all[p]) || all[p].state == Descriptor::kAborted;
        }
      } catch (const std::exception& e) {
        if (!IsTimeout(e)) {
          out.lost = absl::StrCat("rank ", p, ": ", e.what());
          break;
        }
        out.missing.push_back(p);
      }
    }
    {
      absl::MutexLock lock(&mu_);
      waiting_.clear();
      out.reconnect_requested = reconnect_requested_;
      reconnect_requested_ = false;
    }
    if (out.missing.empty() && out.lost.empty() && !out.aborted_here && !out.settled) {
      for (int p = 0; p < size; ++p) {
        if (p != me) {
          peer = p;
          send->waitSend(ToMillis(options_.timeout));
        }
      }
    }
  } catch (const std::exception& e) {
    absl::MutexLock lock(&mu_);
    waiting_.clear();
    out.lost = peer >= 0 ? absl::StrCat("rank ", peer, ": ", e.what()) : e.what();
  }
  return out;
}

absl::Status GlooCommunicator::JudgeArrivalLocked(const std::string& op,
                                                  const std::vector<Descriptor>& all,
                                                  uint32_t tag, const Arrival& arrival,
                                                  bool may_reconnect) {
  PW_RETURN_IF_ERROR(arrival.broken);
  const int size = static_cast<int>(options_.size);
  const int me = static_cast<int>(options_.rank);
  auto in_step = [&](const Descriptor& d) {
    return d.magic == kDescriptorMagic && d.tag == tag && d.gang == all[me].gang;
  };
  if (arrival.aborted_here) {
    if (absl::Status broken = BrokenStatus(); !broken.ok()) return broken;
    if (arrival.reconnect_requested) return FallBackLocked(op, "a peer is connecting anew");
    return Break(absl::InternalError(absl::StrCat(op, ": arrival wait cut short")));
  }
  for (int p = 0; p < size; ++p) {
    if (p != me && arrival.arrived[p] && !in_step(all[p])) {
      return OutOfStepLocked(op, DescribeOutOfStep(p, all[p], tag), may_reconnect);
    }
  }
  for (int p = 0; p < size; ++p) {
    // A peer's abort notice may also have arrived before another peer was lost or timed out.
    if (p != me && arrival.arrived[p] && all[p].state == Descriptor::kAborted) {
      return Break(absl::AbortedError(
          absl::StrCat(op, ": rank ", p, " aborted the gang: ", all[p].Text())));
    }
  }
  if (!arrival.lost.empty()) {
    // On a pooled mesh's first exchange a closed pair is most likely a peer that dropped the
    // mesh (and connects anew, or aborted the gang: the fallback reads the abort key first).
    if (may_reconnect) return FallBackLocked(op, absl::StrCat("lost peer ", arrival.lost));
    return Break(PeerLost(op, arrival.lost));
  }
  if (!arrival.missing.empty()) {
    return Break(absl::DeadlineExceededError(absl::StrCat(
        op, ": rank", arrival.missing.size() == 1 ? " " : "s ",
        absl::StrJoin(arrival.missing, ", "), " did not arrive within ",
        absl::FormatDuration(options_.timeout), " (rank ", me, " waited)")));
  }
  return absl::OkStatus();
}

absl::Status GlooCommunicator::CheckAgreement(const std::string& op,
                                              const std::vector<Descriptor>& all) {
  // Every rank holds the same descriptors, so every rank reaches the same verdict.
  std::vector<std::string> problems;
  for (size_t p = 0; p < all.size(); ++p) {
    if (all[p].state == Descriptor::kInvalid) {
      problems.push_back(absl::StrCat("rank ", p, ": ", all[p].Text()));
    }
  }
  if (!problems.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": ", absl::StrJoin(problems, "; ")));
  }
  const Descriptor& first = all[0];
  for (size_t p = 1; p < all.size(); ++p) {
    const Descriptor& d = all[p];
    bool same = d.kind == first.kind && d.count == first.count && d.dtype == first.dtype &&
                d.num_pairs == first.num_pairs && d.pairs_hash == first.pairs_hash;
    const Kind kind = static_cast<Kind>(d.kind);
    if (same && (kind == Kind::kAllReduce || kind == Kind::kReduceScatter)) {
      same = d.reduce == first.reduce;
    }
    if (!same) problems.push_back(absl::StrCat("rank ", p, " called ", DescribeDescriptor(d)));
  }
  if (!problems.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": ranks disagree: rank 0 called ", DescribeDescriptor(first), " but ",
                     absl::StrJoin(problems, ", ")));
  }
  return absl::OkStatus();
}

std::chrono::milliseconds GlooCommunicator::ToMillis(absl::Duration d) {
  return std::chrono::milliseconds(std::max<int64_t>(1, absl::ToInt64Milliseconds(d)));
}

}  // namespace pw
