// HostExecutor: construction, shutdown, the dispatch thread, and the WorkerService /
// ShardReceiver entry points. Per-step dispatch lives in host_executor_steps.cc.
#include "pathways/worker/host_executor.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pathways/base/clock.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"
#include "pathways/ir/serialization.h"
#include "pathways/worker/host_executor_internal.h"

namespace pw {

HostExecutor::HostExecutor(HostExecutorOptions options)
    : options_(std::move(options)), cache_(options_.compile) {
  PW_CHECK(options_.data_plane != nullptr) << "HostExecutor for " << options_.host
                                           << " needs a data plane";
  PW_CHECK(options_.collectives != nullptr) << "HostExecutor for " << options_.host
                                            << " needs collective groups";
  PW_CHECK(options_.observer != nullptr) << "HostExecutor for " << options_.host
                                         << " needs a run observer";
  for (Device* device : options_.devices) {
    PW_CHECK(device != nullptr);
    PW_CHECK(device->host() == options_.host)
        << device->DebugString() << " does not belong to " << options_.host;
    auto state = std::make_unique<DeviceState>();
    state->device = device;
    PW_CHECK(device_index_.emplace(device->id(), state.get()).second)
        << "device " << device->id() << " given twice to " << options_.host;
    devices_.push_back(std::move(state));
  }
  if (options_.trace != nullptr) {
    options_.trace->NameThread(options_.host.value(), kDispatchLane, "dispatch");
    options_.trace->NameThread(options_.host.value(), kTransferLane, "transfers");
  }
  if (options_.dispatch_loop == nullptr) {
    own_loop_ = std::make_unique<EventLoop>(
        EventLoopOptions{.threads = 1, .idle_spin_nanos = options_.idle_spin_nanos,
                         .name = absl::StrCat("pw-host-", options_.host.value())});
  }
  loop_ = options_.dispatch_loop != nullptr ? options_.dispatch_loop : own_loop_.get();
}

HostExecutor::~HostExecutor() {
  {
    absl::MutexLock lock(&inbox_mu_);
    stop_ = true;
    inbox_mu_.Await(absl::Condition(
        +[](bool* draining) { return !*draining; }, &draining_));
  }
  const absl::Status gone = absl::AbortedError(
      absl::StrCat("the host executor of ", options_.host.DebugString(), " was destroyed"));
  // Messages never dispatched: their steps never started, so report them failed at once.
  std::deque<InboxItem> undispatched;
  {
    absl::MutexLock lock(&inbox_mu_);
    undispatched.swap(inbox_);
  }
  for (InboxItem& item : undispatched) {
    if (item.kind == InboxKind::kFetch) item.fetched->SetError(gone);
    if (item.kind != InboxKind::kRun) continue;
    HostRunResult result;
    result.host = options_.host;
    result.run = item.run.run;
    result.stage = item.run.stage;
    result.status = gone;
    Report(std::move(result));
  }
  // Break everything in-flight steps may wait on: pending shards fail (their waiters run and
  // fail), and gangs with a shard here are aborted so no stream stays blocked in a collective.
  for (const ShardEntryRef& entry : store_.TakeAll()) entry->Complete(gone);
  {
    absl::MutexLock lock(&live_mu_);
    for (Message* msg : live_) {
      for (const auto& [gang, size] : msg->gangs) options_.collectives->Abort(gang, size, gone);
    }
  }
  absl::MutexLock lock(&live_mu_);
  while (!live_mu_.AwaitWithTimeout(
      absl::Condition(+[](int64_t* n) { return *n == 0; }, &unfinished_), absl::Seconds(5))) {
    PW_LOG(WARNING) << DebugString() << ": still waiting for " << unfinished_
                    << " messages to drain from the device streams";
  }
}

std::string HostExecutor::DebugString() const {
  return absl::StrCat("host executor ", options_.host.DebugString(), " (", devices_.size(),
                      " devices)");
}

// ---- Dispatch thread -------------------------------------------------------------------------

void HostExecutor::Run(HostRun run) {
  runs_received_.fetch_add(1, std::memory_order_relaxed);
  InboxItem item;
  item.kind = InboxKind::kRun;
  item.run = std::move(run);
  Enqueue(std::move(item));
}

void HostExecutor::Enqueue(InboxItem item) {
  absl::MutexLock lock(&inbox_mu_);
  inbox_.push_back(std::move(item));
  if (!draining_ && !stop_) {
    draining_ = true;
    loop_->Post([this] { Drain(); });
  }
}

void HostExecutor::Drain() {
  // Batches per task before the loop's thread goes to other hosts' tasks.
  constexpr int kBatchesPerTask = 8;
  std::vector<InboxItem> batch;
  for (int n = 0;; ++n) {
    {
      absl::MutexLock lock(&inbox_mu_);
      if (inbox_.empty() || stop_) {
        draining_ = false;  // the destructor may proceed once the lock is released
        return;
      }
      if (n == kBatchesPerTask) {
        loop_->Post([this] { Drain(); });
        return;
      }
      for (InboxItem& item : inbox_) batch.push_back(std::move(item));
      inbox_.clear();
    }
    for (InboxItem& item : batch) Handle(item);
    batch.clear();
  }
}

void HostExecutor::Handle(InboxItem& item) {
  switch (item.kind) {
    case InboxKind::kRun:
      DispatchRun(std::move(item.run));
      break;
    case InboxKind::kRelease:
      for (ArrayId array : item.arrays) store_.Release(array);
      break;
    case InboxKind::kFetch:
      if (ShardEntryRef entry = store_.Find(item.array, item.shard); entry != nullptr) {
        FetchWhenReady(std::move(entry), std::move(item.fetched));
      } else {
        item.fetched->SetError(ShardNotFound(item.array, item.shard));
      }
      break;
    case InboxKind::kPeerLost:
      HandlePeerLost(item.peer, item.reason);
      break;
    case InboxKind::kCancelRun:
      HandleCancelRun(item.cancelled, item.reason);
      break;
  }
}

void HostExecutor::DispatchRun(HostRun run) {
  if (std::optional<absl::Status> cancelled = Cancelled(run.run); cancelled.has_value()) {
    // Cancelled before it arrived: its receives fail once they exist (its compute is skipped).
    const RunId id = run.run;
    Dispatch(std::move(run));
    HandleCancelRun(id, *cancelled);
    return;
  }
  if (lost_peers_.empty()) {
    Dispatch(std::move(run));
    return;
  }
  // A run that crossed the loss on its way here (or was lowered before it): its receives from
  // the lost host would wait forever. They fail once dispatched, when their entries exist and
  // the steps reading them are already enqueued.
  const std::shared_ptr<const LoweredHostProgram> program = run.program;
  const std::shared_ptr<const LoweredProgram> lowered = run.lowered;
  const std::shared_ptr<const std::vector<ArrayId>> arrays = run.value_arrays;
  const RunId id = run.run;
  Dispatch(std::move(run));
  if (program == nullptr || lowered == nullptr || arrays == nullptr) return;
  std::vector<LostReceive> receives;
  CollectLostReceives(*program, *lowered, *arrays, id, receives);
  FailLostReceives(receives);
}

// ---- Completion ------------------------------------------------------------------------------

void HostExecutor::StepDone(Message* msg, size_t index, const absl::Status& status) {
  if (index != kDispatchHold) {
    const int32_t first = msg->first_output[index];
    const int32_t last = msg->first_output[index + 1];
    for (int32_t i = first; i < last; ++i) msg->outputs[i].status = status;
    const LoweredHostProgram& program = *msg->program;
    if (msg->temporaries_left != nullptr) {
      // The last step touching a temporary frees it: its readers are done (in-flight pushes and
      // stream items hold their own buffer references).
      for (int32_t k = program.step_temporaries_begin[index];
           k < program.step_temporaries_begin[index + 1]; ++k) {
        const int32_t t = program.step_temporaries[k];
        if (msg->temporaries_left[t].fetch_sub(1, std::memory_order_acq_rel) == 1) {
          ReleaseTemporary(*msg, t);
        }
      }
    }
  }
  if (!status.ok()) {
    absl::MutexLock lock(&msg->mu);
    if (msg->first_error.ok()) msg->first_error = status;
  }
  if (msg->pending.fetch_sub(1, std::memory_order_acq_rel) == 1) Finalize(msg);
}

void HostExecutor::ReleaseTemporary(const Message& msg, int32_t t) {
  const int32_t slot = msg.program->temporaries[t];
  if (slot >= 0 && static_cast<size_t>(slot) < msg.arrays->size()) {
    store_.Release((*msg.arrays)[slot]);
  }
}

void HostExecutor::Finalize(Message* msg) {
  // Every step has finished: temporaries not freed at their last use (no index) go now.
  for (size_t t = 0; t < msg->program->temporaries.size(); ++t) {
    if (msg->temporaries_left == nullptr ||
        msg->temporaries_left[t].load(std::memory_order_acquire) > 0) {
      ReleaseTemporary(*msg, static_cast<int32_t>(t));
    }
  }
  HostRunResult result;
  result.host = options_.host;
  result.run = msg->run.run;
  result.stage = msg->run.stage;
  result.outputs = std::move(msg->outputs);
  result.device_nanos = msg->device_nanos.load(std::memory_order_relaxed);
  {
    absl::MutexLock lock(&msg->mu);
    result.status = msg->first_error;
  }
  {
    absl::MutexLock lock(&live_mu_);
    live_.erase(msg);
  }
  delete msg;
  Report(std::move(result));
  // Last: the destructor may tear the executor down as soon as this reaches zero.
  absl::MutexLock lock(&live_mu_);
  --unfinished_;
}

void HostExecutor::Report(HostRunResult result) {
  options_.observer->OnHostRunDone(std::move(result));
}

// ---- WorkerService ---------------------------------------------------------------------------

absl::Status HostExecutor::RegisterFunction(FunctionId id, const ir::Function& function) {
  if (absl::Status s = ir::Verify(function); !s.ok()) {
    return Annotate(s, absl::StrCat("registering ", id.DebugString(), " on ",
                                    options_.host.DebugString()));
  }
  const uint64_t fingerprint = ir::Fingerprint(function);
  {
    absl::MutexLock lock(&registry_mu_);
    auto it = registrations_.find(id);
    if (it != registrations_.end()) {
      if (it->second->fingerprint == fingerprint && it->second->function == function) {
        return absl::OkStatus();
      }
      return absl::InvalidArgumentError(absl::StrCat(
          id.DebugString(), " is already bound to function '", it->second->function.name,
          "' on ", options_.host.DebugString(), "; cannot rebind it to '", function.name, "'"));
    }
  }
  // Compile outside the lock: a slow compile must not stall dispatch.
  absl::StatusOr<std::shared_ptr<const CpuExecutable>> exe =
      cache_.GetOrCompile(function, fingerprint);
  if (!exe.ok()) {
    return Annotate(exe.status(), absl::StrCat("compiling ", id.DebugString(), " ('",
                                               function.name, "') on ",
                                               options_.host.DebugString()));
  }
  auto reg = std::make_shared<Registration>();
  reg->function = function;
  reg->fingerprint = fingerprint;
  reg->executable = *std::move(exe);
  reg->has_collectives = function.HasCollectives();
  absl::MutexLock lock(&registry_mu_);
  auto [it, inserted] = registrations_.try_emplace(id, reg);
  if (!inserted && it->second->fingerprint != fingerprint) {
    return absl::InvalidArgumentError(absl::StrCat(id.DebugString(), " was bound concurrently to '",
                                                   it->second->function.name, "' on ",
                                                   options_.host.DebugString()));
  }
  return absl::OkStatus();
}

std::shared_ptr<const HostExecutor::Registration> HostExecutor::FindRegistration(
    FunctionId id) const {
  absl::ReaderMutexLock lock(&registry_mu_);
  auto it = registrations_.find(id);
  return it == registrations_.end() ? nullptr : it->second;
}

HostExecutor::DeviceState* HostExecutor::FindDevice(DeviceId id) {
  auto it = device_index_.find(id);
  return it == device_index_.end() ? nullptr : it->second;
}

absl::Status HostExecutor::PutShard(ArrayId array, int32_t shard, DeviceId device,
                                    const ir::Literal& data) {
  const auto where = [&] {
    return absl::StrCat(array.DebugString(), " shard ", shard, " on ", device.DebugString());
  };
  DeviceState* state = FindDevice(device);
  if (state == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("PutShard of ", where(), ": the device is not on ",
                                                   options_.host.DebugString()));
  }
  if (shard < 0 || shard >= ir::kMaxShards) {
    return absl::InvalidArgumentError(absl::StrCat("PutShard of ", where(), ": shard out of range [0, ",
                                                   ir::kMaxShards, ")"));
  }
  if (ShardEntryRef e = store_.Find(array, shard); e != nullptr && e->claimed()) {
    return absl::AlreadyExistsError(absl::StrCat("PutShard of ", where(), ": the shard exists"));
  }
  absl::StatusOr<DeviceBuffer> buffer = state->device->Allocate(data.byte_size(), options_.allocation_wait);
  if (!buffer.ok()) return Annotate(buffer.status(), absl::StrCat("PutShard of ", where()));
  ShardEntryRef entry = store_.GetOrCreate(array, shard);
  if (!entry->Claim()) {
    return absl::AlreadyExistsError(absl::StrCat("PutShard of ", where(), ": the shard exists"));
  }
  std::shared_ptr<DeviceBuffer> installed = entry->InstallBuffer(
      device, data.type(), std::make_shared<DeviceBuffer>(*std::move(buffer)));
  if (installed->size() != data.byte_size() || entry->device() != device) {
    absl::Status error = absl::InvalidArgumentError(absl::StrCat(
        "PutShard of ", where(), ": a buffer of ", installed->size(), " bytes on ",
        entry->device().DebugString(), " was already reserved for it"));
    entry->Complete(error);
    return error;
  }
  // An unbacked device buffer (a simulated device's timing mode) keeps no values: no copy.
  if (installed->host_backed()) {
    std::memcpy(installed->data(), data.untyped_data(), data.byte_size());
  }
  entry->Complete(absl::OkStatus());
  return absl::OkStatus();
}

absl::Status HostExecutor::ShardNotFound(ArrayId array, int32_t shard) const {
  return absl::NotFoundError(absl::StrCat(array.DebugString(), " shard ", shard, " is not on ",
                                          options_.host.DebugString()));
}

AsyncValueRef<ir::Literal> HostExecutor::FetchShard(ArrayId array, int32_t shard) {
  auto result = MakeAsyncValue<ir::Literal>();
  if (ShardEntryRef entry = store_.Find(array, shard); entry != nullptr) {
    FetchWhenReady(std::move(entry), result);
    return result;
  }
  // Not here yet: a run queued before this call may produce it, so look again in FIFO order.
  InboxItem item;
  item.kind = InboxKind::kFetch;
  item.array = array;
  item.shard = shard;
  item.fetched = result;
  Enqueue(std::move(item));
  return result;
}

void HostExecutor::FetchWhenReady(ShardEntryRef entry, AsyncValueRef<ir::Literal> result) {
  // Runs on whichever thread completes the shard; one copy of the shard's bytes.
  const EventRef ready = entry->ready();
  ready->AndThen([entry = std::move(entry), result = std::move(result)](
                     const absl::Status& status) {
    if (!status.ok()) {
      result->SetError(status);
      return;
    }
    std::shared_ptr<DeviceBuffer> buffer = entry->buffer();
    ir::Literal literal(entry->type());
    if (buffer == nullptr || buffer->size() != literal.byte_size()) {
      result->SetError(absl::InternalError(
          absl::StrCat(entry->DebugString(), " is ready but has no buffer of its type")));
      return;
    }
    std::memcpy(literal.untyped_data(), buffer->data(), literal.byte_size());
    result->SetValue(std::move(literal));
  });
}

void HostExecutor::Release(absl::Span<const ArrayId> arrays) {
  InboxItem item;
  item.kind = InboxKind::kRelease;
  item.arrays.assign(arrays.begin(), arrays.end());
  Enqueue(std::move(item));
}

HostStatus HostExecutor::Status() const {
  HostStatus status;
  status.host = options_.host;
  for (const auto& state : devices_) {
    Device& d = *state->device;
    DeviceStatus ds;
    ds.id = d.id();
    ds.kind = std::string(d.kind());
    ds.memory_capacity_bytes = d.memory().capacity();
    ds.memory_in_use_bytes = d.memory().bytes_in_use();
    ds.peak_memory_in_use_bytes = d.memory().peak_bytes_in_use();
    ds.busy_nanos = d.busy_nanos();
    ds.completed_items = d.completed();
    ds.scratch_bytes = state->scratch_bytes.load(std::memory_order_relaxed);
    status.devices.push_back(std::move(ds));
  }
  BufferStore::Stats stats = store_.GetStats();
  status.live_buffers = stats.entries;
  status.live_buffer_bytes = stats.bytes;
  status.runs_received = runs_received_.load(std::memory_order_relaxed);
  status.dispatch_nanos = dispatch_nanos_.load(std::memory_order_relaxed);
  status.transfer_bytes_sent = transfer_bytes_sent_.load(std::memory_order_relaxed);
  return status;
}

// ---- ShardReceiver ---------------------------------------------------------------------------

absl::StatusOr<HostExecutor::Receiving> HostExecutor::StartReceive(ArrayId array, int32_t shard,
                                                                   DeviceId device,
                                                                   const ir::TensorType& type) {
  const auto where = [&] {
    return absl::StrCat("receiving ", array.DebugString(), " shard ", shard, " on ",
                        device.DebugString(), " of ", options_.host.DebugString());
  };
  DeviceState* state = FindDevice(device);
  if (state == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(where(), ": the device is not on this host"));
  }
  // Bounded here, where every data plane's pushes arrive: a hostile index must never create a
  // store entry no step will ever claim.
  if (shard < 0 || shard >= ir::kMaxShards) {
    return absl::InvalidArgumentError(
        absl::StrCat(where(), ": shard index out of range [0, ", ir::kMaxShards, ")"));
  }
  const int64_t bytes = type.byte_size();
  ShardEntryRef entry = store_.GetOrCreate(array, shard);
  if (!entry->Claim()) {
    return absl::AlreadyExistsError(absl::StrCat(where(), ": the shard was already produced"));
  }
  std::shared_ptr<DeviceBuffer> buffer = entry->buffer();
  if (buffer == nullptr) {
    // The push came before the receive step: allocate now.
    absl::StatusOr<DeviceBuffer> fresh = state->device->Allocate(bytes);
    if (!fresh.ok()) {
      absl::Status error = Annotate(fresh.status(), where());
      entry->Complete(error);
      return error;
    }
    buffer = entry->InstallBuffer(device, type, std::make_shared<DeviceBuffer>(*std::move(fresh)));
  }
  if (buffer->size() != bytes || entry->device() != device || !(entry->type() == type)) {
    absl::Status error = absl::InvalidArgumentError(absl::StrCat(
        where(), ": got ", type.DebugString(), " but the receive buffer holds ",
        entry->type().DebugString(), " on ", entry->device().DebugString()));
    entry->Complete(error);
    return error;
  }
  return Receiving{std::move(entry), std::move(buffer)};
}

absl::Status HostExecutor::ReceiveShard(ArrayId array, int32_t shard, DeviceId device,
                                        const ir::TensorType& type, const void* data,
                                        int64_t bytes) {
  if (bytes != type.byte_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "receiving ", array.DebugString(), " shard ", shard, " on ", device.DebugString(), " of ",
        options_.host.DebugString(), ": ", bytes, " bytes for ", type.DebugString(), " (",
        type.byte_size(), " bytes)"));
  }
  PW_ASSIGN_OR_RETURN(Receiving receiving, StartReceive(array, shard, device, type));
  // An unbacked device buffer keeps no values: the push costs its modelled time only.
  if (receiving.buffer->host_backed()) std::memcpy(receiving.buffer->data(), data, bytes);
  receiving.entry->Complete(absl::OkStatus());
  return absl::OkStatus();
}

namespace {
// Chunks land in the shard's device buffer; the entry completes on Finish.
class IncomingDeviceShard final : public IncomingShard {
 public:
  IncomingDeviceShard(ShardEntryRef entry, std::shared_ptr<DeviceBuffer> buffer)
      : entry_(std::move(entry)), buffer_(std::move(buffer)) {}
  ~IncomingDeviceShard() override {
    if (entry_ != nullptr) {
      entry_->Complete(absl::CancelledError(absl::StrCat(
          "the push of ", entry_->array().DebugString(), " shard ", entry_->shard(),
          " ended before the shard was complete")));
    }
  }
  char* data() override { return static_cast<char*>(buffer_->data()); }
  absl::Status Finish(absl::Status status) override {
    // Readers may run inline on Complete; they own their references to the buffer.
    ShardEntryRef entry = std::move(entry_);
    buffer_.reset();
    if (entry != nullptr) entry->Complete(std::move(status));
    return absl::OkStatus();
  }

 private:
  ShardEntryRef entry_;
  std::shared_ptr<DeviceBuffer> buffer_;
};
}  // namespace

absl::StatusOr<std::unique_ptr<IncomingShard>> HostExecutor::BeginReceiveShard(
    ArrayId array, int32_t shard, DeviceId device, const ir::TensorType& type) {
  PW_ASSIGN_OR_RETURN(Receiving receiving, StartReceive(array, shard, device, type));
  return std::unique_ptr<IncomingShard>(
      new IncomingDeviceShard(std::move(receiving.entry), std::move(receiving.buffer)));
}

}  // namespace pw
