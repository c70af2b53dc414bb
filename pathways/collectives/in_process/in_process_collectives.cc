// InProcessCollectiveGroup implementation: a two-phase rendezvous over shared counters, with
// polling then futex sleeps, and direct reads of peers' buffers.
#include "pathways/collectives/in_process/in_process_collectives.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <ctime>
#include <thread>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "pathways/collectives/collective_checks.h"
#include "absl/strings/str_join.h"
#include "pathways/base/clock.h"
#include "pathways/base/logging.h"
#include "pathways/base/spin_wait.h"
#include "pathways/kernels/reduction.h"

namespace pw {
namespace {

constexpr int64_t kNoDeadline = kNoTimeout;
// Below this many bytes per rank an all-reduce is computed whole by every rank (better
// locality, no writes into peers' memory); above it each rank reduces one slice and copies it
// to every peer, which reads each input once instead of size() times.
constexpr int64_t kSlicedAllReduceBytes = 64 << 10;

// Has a modular counter reached `target`? Counters stay within size() of the target of the
// call in flight, so the signed difference is exact.
inline bool Reached(uint32_t counter, uint32_t target) {
  return static_cast<int32_t>(counter - target) >= 0;
}

}  // namespace

// One rank's view of the group.
class InProcessCommunicator final : public Communicator {
 public:
  InProcessCommunicator(std::shared_ptr<InProcessCollectiveGroup> group, int64_t rank)
      : group_(std::move(group)), rank_(rank) {}

  int64_t size() const override { return group_->size(); }
  int64_t rank() const override { return rank_; }

  absl::Status AllReduce(const void* input, void* output, int64_t count, ir::DType dtype,
                         ir::ReduceKind kind) override {
    return group_->Run(rank_, {.kind = Kind::kAllReduce, .input = input, .output = output,
                               .count = count, .dtype = dtype, .reduce = kind});
  }
  absl::Status AllGather(const void* input, void* output, int64_t count,
                         ir::DType dtype) override {
    return group_->Run(rank_, {.kind = Kind::kAllGather, .input = input, .output = output,
                               .count = count, .dtype = dtype});
  }
  absl::Status ReduceScatter(const void* input, void* output, int64_t count, ir::DType dtype,
                             ir::ReduceKind kind) override {
    return group_->Run(rank_, {.kind = Kind::kReduceScatter, .input = input, .output = output,
                               .count = count, .dtype = dtype, .reduce = kind});
  }
  absl::Status AllToAll(const void* input, void* output, int64_t count,
                        ir::DType dtype) override {
    return group_->Run(rank_, {.kind = Kind::kAllToAll, .input = input, .output = output,
                               .count = count, .dtype = dtype});
  }
  absl::Status CollectivePermute(const void* input, void* output, int64_t bytes,
                                 absl::Span<const std::pair<int64_t, int64_t>> pairs) override {
    return group_->Run(rank_, {.kind = Kind::kCollectivePermute, .input = input,
                               .output = output, .count = bytes, .pairs = pairs});
  }

  std::string DebugString() const override {
    return absl::StrCat("InProcessCommunicator(rank ", rank_, " of ", group_->DebugString(), ")");
  }

 private:
  using Kind = InProcessCollectiveGroup::CollectiveKind;
  std::shared_ptr<InProcessCollectiveGroup> group_;
  int64_t rank_;
};


absl::StatusOr<std::shared_ptr<InProcessCollectiveGroup>> InProcessCollectiveGroup::Create(
    int64_t size, InProcessCollectiveOptions options) {
  if (size < 1 || size > INT32_MAX / 4) {
    return absl::InvalidArgumentError(absl::StrCat("in-process collective group '",
                                                   options.name, "' needs 1 to ",
                                                   INT32_MAX / 4, " ranks, got ", size));
  }
  return std::shared_ptr<InProcessCollectiveGroup>(
      new InProcessCollectiveGroup(size, std::move(options)));
}

InProcessCollectiveGroup::InProcessCollectiveGroup(int64_t size,
                                                   InProcessCollectiveOptions options)
    : size_(size), options_(std::move(options)), slots_(new Slot[size]) {}

InProcessCollectiveGroup::~InProcessCollectiveGroup() = default;

absl::StatusOr<std::unique_ptr<Communicator>> InProcessCollectiveGroup::CommunicatorForRank(
    int64_t rank) {
  if (rank < 0 || rank >= size_) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", rank, " is out of range for ", Describe()));
  }
  return std::unique_ptr<Communicator>(new InProcessCommunicator(shared_from_this(), rank));
}

void InProcessCollectiveGroup::Abort(absl::Status reason) {
  Break(absl::AbortedError(absl::StrCat(Describe(), " was aborted: ",
                                        reason.ok() ? "no reason given" : reason.ToString())));
}

void InProcessCollectiveGroup::Break(absl::Status status) {
  {
    absl::MutexLock lock(&mu_);
    if (broken_status_.ok()) broken_status_ = std::move(status);
  }
  broken_.store(true, std::memory_order_seq_cst);
  WakeAll();
}

absl::Status InProcessCollectiveGroup::BrokenStatus() const {
  absl::MutexLock lock(&mu_);
  return broken_status_;
}

std::string InProcessCollectiveGroup::Describe() const {
  return absl::StrCat("in-process collective group '", options_.name, "' of ", size_, " ranks");
}

std::string InProcessCollectiveGroup::DebugString() const {
  uint64_t max_calls = 0;
  for (int64_t r = 0; r < size_; ++r) {
    max_calls = std::max(max_calls, slots_[r].arrived_call.load(std::memory_order_relaxed));
  }
  std::string s = absl::StrCat("InProcessCollectiveGroup(", options_.name, ", ", size_,
                               " ranks, ", max_calls, " collectives started");
  if (broken()) absl::StrAppend(&s, ", broken: ", BrokenStatus().ToString());
  return s + ")";
}

std::string InProcessCollectiveGroup::DescribeCall(int64_t rank) const {
  const Call& c = slots_[rank].call;
  std::string s = KindName(c.kind);
  if (c.kind == CollectiveKind::kCollectivePermute) {
    absl::StrAppend(&s, "(bytes=", c.count, ", pairs={",
                    absl::StrJoin(c.pairs, ",",
                                  [](std::string* out, const std::pair<int64_t, int64_t>& p) {
                                    absl::StrAppend(out, p.first, "->", p.second);
                                  }),
                    "})");
    return s;
  }
  absl::StrAppend(&s, "(count=", c.count, ", ", ir::DTypeName(c.dtype));
  if (c.kind == CollectiveKind::kAllReduce || c.kind == CollectiveKind::kReduceScatter) {
    absl::StrAppend(&s, ", ", ir::ReduceKindName(c.reduce));
  }
  return s + ")";
}

std::string InProcessCollectiveGroup::ValidateLocal(const Call& c) const {
  return collectives::CheckCallArguments(c, size_);
}

std::string InProcessCollectiveGroup::CheckAgreement() const {
  std::vector<std::string> problems;
  for (int64_t r = 0; r < size_; ++r) {
    if (!slots_[r].local_error.empty()) {
      problems.push_back(absl::StrCat("rank ", r, ": ", slots_[r].local_error));
    }
  }
  if (!problems.empty()) return absl::StrJoin(problems, "; ");
  const Call& first = slots_[0].call;
  for (int64_t r = 1; r < size_; ++r) {
    const Call& c = slots_[r].call;
    bool same = c.kind == first.kind && c.count == first.count && c.dtype == first.dtype;
    if (same && (c.kind == CollectiveKind::kAllReduce ||
                 c.kind == CollectiveKind::kReduceScatter)) {
      same = c.reduce == first.reduce;
    }
    if (same && c.kind == CollectiveKind::kCollectivePermute) {
      same = std::equal(c.pairs.begin(), c.pairs.end(), first.pairs.begin(), first.pairs.end());
    }
    if (!same) problems.push_back(absl::StrCat("rank ", r, " called ", DescribeCall(r)));
  }
  if (problems.empty()) return "";
  return absl::StrCat("ranks disagree: rank 0 called ", DescribeCall(0), " but ",
                      absl::StrJoin(problems, ", "));
}

void InProcessCollectiveGroup::Compute(int64_t rank) {
  const Call& mine = slots_[rank].call;
  const int64_t n = mine.count;
  const int64_t esize = mine.kind == CollectiveKind::kCollectivePermute
                            ? 1
                            : ir::DTypeSize(mine.dtype);
  const int64_t block_bytes = n * esize;
  auto input_of = [&](int64_t p) { return static_cast<const char*>(slots_[p].call.input); };
  char* out = static_cast<char*>(mine.output);

  switch (mine.kind) {
    case CollectiveKind::kAllReduce: {
      if (n == 0) return;
      absl::InlinedVector<const void*, 16> inputs(size_);  // no heap use for small groups
      for (int64_t p = 0; p < size_; ++p) inputs[p] = slots_[p].call.input;
      if (block_bytes < kSlicedAllReduceBytes || size_ == 1) {
        collectives::ReduceInto(out, inputs.data(), size_, 0, n, mine.dtype, mine.reduce);
        return;
      }
      // Slice boundaries on 64-byte multiples so ranks never write the same cache line.
      const int64_t align = std::max<int64_t>(1, 64 / esize);
      const int64_t per = (n + size_ - 1) / size_;
      const int64_t slice = (per + align - 1) / align * align;
      const int64_t lo = std::min(n, rank * slice);
      const int64_t hi = std::min(n, lo + slice);
      if (lo == hi) return;
      collectives::ReduceInto(out + lo * esize, inputs.data(), size_, lo, hi - lo, mine.dtype,
                              mine.reduce);
      for (int64_t p = 0; p < size_; ++p) {
        if (p == rank) continue;
        std::memcpy(static_cast<char*>(slots_[p].call.output) + lo * esize, out + lo * esize,
                    (hi - lo) * esize);
      }
      return;
    }
    case CollectiveKind::kReduceScatter: {
      if (n == 0) return;
      absl::InlinedVector<const void*, 16> inputs(size_);
      for (int64_t p = 0; p < size_; ++p) inputs[p] = slots_[p].call.input;
      collectives::ReduceInto(out, inputs.data(), size_, rank * n, n, mine.dtype, mine.reduce);
      return;
    }
    case CollectiveKind::kAllGather:
      if (block_bytes == 0) return;
      for (int64_t p = 0; p < size_; ++p) {
        std::memcpy(out + p * block_bytes, input_of(p), block_bytes);
      }
      return;
    case CollectiveKind::kAllToAll:
      if (block_bytes == 0) return;
      for (int64_t p = 0; p < size_; ++p) {
        std::memcpy(out + p * block_bytes, input_of(p) + rank * block_bytes, block_bytes);
      }
      return;
    case CollectiveKind::kCollectivePermute: {
      if (block_bytes == 0) return;
      for (const auto& [source, target] : mine.pairs) {
        if (target == rank) {
          std::memcpy(out, input_of(source), block_bytes);
          return;
        }
      }
      std::memset(out, 0, block_bytes);
      return;
    }
  }
}

template <typename Done>
bool InProcessCollectiveGroup::WaitUntil(Done done, int64_t deadline_nanos) {
  // Poll (yielding: 8 ranks may share 2 cores, let the late ones run), then sleep.
  const int64_t spin_nanos = std::min(absl::ToInt64Nanoseconds(options_.spin),
                                      deadline_nanos == kNoDeadline ? INT64_MAX / 2 : deadline_nanos - MonotonicNanos());
  if (SpinUntil(std::max<int64_t>(spin_nanos, 0), done)) return true;
  while (true) {
    // Announce the sleep before the last check; a waker that completes a phase reads
    // sleepers_ after its update (both seq_cst), so one of the two sees the other.
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    const uint32_t epoch = epoch_.load(std::memory_order_seq_cst);
    if (done()) {
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
      return true;
    }
    const int64_t now = MonotonicNanos();
    if (now >= deadline_nanos) {
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    FutexWait(&epoch_, epoch, deadline_nanos == kNoDeadline ? kNoDeadline : deadline_nanos - now);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
  }
}

void InProcessCollectiveGroup::WakeAll() {
  if (sleepers_.load(std::memory_order_seq_cst) == 0) return;
  epoch_.fetch_add(1, std::memory_order_seq_cst);
  FutexWakeAll(&epoch_);
}

bool InProcessCollectiveGroup::TryWithdraw(uint32_t target) {
  uint32_t current = arrivals_.load(std::memory_order_acquire);
  while (!Reached(current, target)) {
    if (arrivals_.compare_exchange_weak(current, current - 1, std::memory_order_acq_rel)) {
      return true;
    }
  }
  return false;
}

absl::Status InProcessCollectiveGroup::Run(int64_t rank, const Call& call) {
  if (broken_.load(std::memory_order_acquire)) return BrokenStatus();
  Slot& me = slots_[rank];
  const uint64_t call_number = ++me.calls;
  me.call = call;
  me.local_error = ValidateLocal(call);
  me.arrived_call.store(call_number, std::memory_order_relaxed);
  const int64_t deadline = MonotonicNanos() + absl::ToInt64Nanoseconds(options_.timeout);
  const uint32_t target = static_cast<uint32_t>(call_number * static_cast<uint64_t>(size_));

  // Phase 1: arrive (publishing `me`), wait for everyone.
  if (Reached(arrivals_.fetch_add(1, std::memory_order_seq_cst) + 1, target)) WakeAll();
  auto all_arrived = [&] { return Reached(arrivals_.load(std::memory_order_seq_cst), target); };
  const bool in_time = WaitUntil(
      [&] { return all_arrived() || broken_.load(std::memory_order_seq_cst); }, deadline);
  if (!all_arrived() && TryWithdraw(target)) {
    // Nobody reads a withdrawn rank's buffers: the phase can no longer complete.
    if (!in_time && !broken()) {
      std::vector<int64_t> missing;
      for (int64_t r = 0; r < size_; ++r) {
        if (slots_[r].arrived_call.load(std::memory_order_relaxed) < call_number) {
          missing.push_back(r);
        }
      }
      Break(absl::DeadlineExceededError(absl::StrCat(
          KindName(call.kind), " (collective #", call_number,
          ") on ", Describe(), ": rank", missing.size() == 1 ? " " : "s ",
          absl::StrJoin(missing, ", "), " did not arrive within ",
          absl::FormatDuration(options_.timeout), " (rank ", rank, " waited)")));
    }
    return BrokenStatus();
  }

  // Everyone arrived: peers' slots and inputs are stable until the departure phase completes.
  absl::Status result;
  std::string disagreement = CheckAgreement();
  if (disagreement.empty()) {
    Compute(rank);
  } else {
    result = absl::InvalidArgumentError(absl::StrCat(
        KindName(call.kind), " (collective #", call_number, ") on ",
        Describe(), ": ", disagreement));
  }

  // Phase 2: depart together. Every rank here is past phase 1 and finishes its compute in
  // bounded time, so this wait has no deadline and ignores breakage (returning early would let
  // a caller overwrite an input a peer still reads).
  if (Reached(departures_.fetch_add(1, std::memory_order_seq_cst) + 1, target)) WakeAll();
  WaitUntil([&] { return Reached(departures_.load(std::memory_order_seq_cst), target); },
            kNoDeadline);
  return result;
}

}  // namespace pw
