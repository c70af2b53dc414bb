// HostExecutor dispatch: turning one HostRun message into allocations, stream work, transfers
// and completion callbacks. Runs on the dispatch thread; callbacks run on device threads.
#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "pathways/base/clock.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"
#include "pathways/worker/host_executor.h"
#include "pathways/worker/host_executor_internal.h"

namespace pw {

bool HostExecutor::ValidSlot(const Message& msg, int32_t slot) {
  return slot >= 0 && static_cast<size_t>(slot) < msg.lowered->values.size() &&
         static_cast<size_t>(slot) < msg.arrays->size();
}

// A program carries a temporary index when its sizes agree with its steps and temporaries (one
// built by hand may have none). The index is never read from a peer: lowering and the wire
// reader derive it (IndexTemporaryUses), so its entries are in range by construction and the
// check stays O(1) on the dispatch path.
bool HostExecutor::IndexesTemporaries(const LoweredHostProgram& program) {
  return program.temporary_uses.size() == program.temporaries.size() &&
         program.step_temporaries_begin.size() == program.steps.size() + 1 &&
         program.step_temporaries_begin.back() ==
             static_cast<int32_t>(program.step_temporaries.size());
}

int32_t HostExecutor::ShardBound(const Message& msg, int32_t slot) {
  return ValidSlot(msg, slot) ? msg.lowered->values[slot].num_shards : 0;
}

bool HostExecutor::ValidShard(const Message& msg, int32_t slot, int32_t shard) {
  return shard >= 0 && shard < ShardBound(msg, slot);
}

std::string HostExecutor::StepLabel(const Message& msg, const HostStep& step) const {
  const bool named = step.node >= 0 && static_cast<size_t>(step.node) < msg.lowered->nodes.size();
  return absl::StrCat("node '",
                      named ? msg.lowered->nodes[step.node].name : absl::StrCat("#", step.node),
                      "' shard ", step.shard, " on ", step.device.DebugString());
}

void HostExecutor::TraceTransfer(const char* what, const Message& msg, const HostStep& step,
                                 int64_t start_ns) const {
  TraceRecorder* trace = options_.trace;
  if (trace == nullptr || !trace->enabled()) return;
  TraceEvent event;
  event.name = absl::StrCat(what, " ", StepLabel(msg, step));
  event.category = "transfer";
  event.pid = options_.host.value();
  event.tid = kTransferLane;
  event.start_ns = start_ns;
  event.dur_ns = MonotonicNanos() - start_ns;
  event.args.emplace_back("run", msg.run.run.DebugString());
  trace->Record(std::move(event));
}

absl::StatusOr<std::shared_ptr<DeviceBuffer>> HostExecutor::Scratch(DeviceState& state,
                                                                    int64_t bytes) {
  if (bytes == 0) return std::shared_ptr<DeviceBuffer>();
  if (state.scratch != nullptr && state.scratch->size() >= bytes) return state.scratch;
  // Grow: steps already enqueued keep the old arena alive until they have run.
  PW_ASSIGN_OR_RETURN(DeviceBuffer fresh, state.device->Allocate(bytes, options_.allocation_wait));
  state.scratch = std::make_shared<DeviceBuffer>(std::move(fresh));
  state.scratch_bytes.store(bytes, std::memory_order_relaxed);
  return state.scratch;
}

void HostExecutor::Dispatch(HostRun run) {
  const int64_t start = MonotonicNanos();
  if (run.program == nullptr || run.lowered == nullptr || run.value_arrays == nullptr) {
    HostRunResult result;
    result.host = options_.host;
    result.run = run.run;
    result.stage = run.stage;
    result.status = absl::InvalidArgumentError(
        absl::StrCat(run.run.DebugString(), " for ", options_.host.DebugString(),
                     " came without its host program, lowering or value bindings"));
    Report(std::move(result));
    return;
  }
  auto* msg = new Message;
  msg->run = std::move(run);
  msg->program = msg->run.program.get();
  msg->lowered = msg->run.lowered.get();
  msg->arrays = msg->run.value_arrays.get();
  const std::vector<HostStep>& steps = msg->program->steps;
  const bool sequential = msg->run.mode == DispatchMode::kSequential;

  // Reserve every reported shard status up front: steps complete concurrently with dispatch.
  msg->first_output.resize(steps.size() + 1);
  for (size_t i = 0; i < steps.size(); ++i) {
    const HostStep& step = steps[i];
    msg->first_output[i] = static_cast<int32_t>(msg->outputs.size());
    auto report = [&](int32_t slot, bool compute_output) {
      if (!ValidSlot(*msg, slot)) return;
      if (msg->lowered->values[slot].is_program_output || (sequential && compute_output)) {
        msg->outputs.push_back({slot, step.dst_shard(), absl::OkStatus()});
      }
    };
    switch (step.kind) {
      case StepKind::kCompute:
        for (int32_t slot : step.outputs) report(slot, true);
        break;
      case StepKind::kCopy:
      case StepKind::kRecv:
      case StepKind::kAssemble:
        report(step.dst_value, false);
        break;
      case StepKind::kSend:
        break;
    }
  }
  msg->first_output[steps.size()] = static_cast<int32_t>(msg->outputs.size());
  if (!msg->program->temporaries.empty() && IndexesTemporaries(*msg->program)) {
    const size_t n = msg->program->temporaries.size();
    msg->temporaries_left = std::make_unique<std::atomic<int32_t>[]>(n);
    for (size_t t = 0; t < n; ++t) {
      msg->temporaries_left[t].store(msg->program->temporary_uses[t], std::memory_order_relaxed);
    }
  }
  msg->pending.store(static_cast<int64_t>(steps.size()) + 1, std::memory_order_relaxed);
  {
    absl::MutexLock lock(&live_mu_);
    live_.insert(msg);
    ++unfinished_;
  }
  for (FunctionId id : msg->program->functions) msg->functions.emplace_back(id, FindRegistration(id));

  for (size_t i = 0; i < steps.size(); ++i) {
    switch (steps[i].kind) {
      case StepKind::kCompute: DispatchCompute(msg, i); break;
      case StepKind::kRecv: DispatchRecv(msg, i); break;
      case StepKind::kSend: DispatchSend(msg, i); break;
      case StepKind::kCopy: DispatchCopy(msg, i); break;
      case StepKind::kAssemble: DispatchAssemble(msg, i); break;
    }
  }

  const int64_t end = MonotonicNanos();
  dispatch_nanos_.fetch_add(end - start, std::memory_order_relaxed);
  if (options_.trace != nullptr && options_.trace->enabled()) {
    TraceEvent event;
    event.name = absl::StrCat("dispatch ", msg->run.run.DebugString());
    event.category = "dispatch";
    event.pid = options_.host.value();
    event.tid = kDispatchLane;
    event.start_ns = start;
    event.dur_ns = end - start;
    event.args.emplace_back("steps", absl::StrCat(steps.size()));
    event.args.emplace_back("mode", DispatchModeName(msg->run.mode));
    if (sequential) event.args.emplace_back("stage", absl::StrCat(msg->run.stage));
    options_.trace->Record(std::move(event));
  }
  StepDone(msg, kDispatchHold, absl::OkStatus());  // the dispatch thread's hold; `msg` may be gone now
}

void HostExecutor::FailStepAtDispatch(Message* msg, size_t index, const absl::Status& error) {
  const HostStep& step = msg->program->steps[index];
  auto fail = [&](int32_t slot) {
    if (!ValidSlot(*msg, slot) || step.shard < 0) return;
    // Only slots and shards in range reach the store (a malformed step may name any).
    if (step.shard >= ShardBound(*msg, slot)) return;
    ShardEntryRef entry = store_.GetOrCreate((*msg->arrays)[slot], step.shard);
    if (entry->Claim()) entry->Complete(error);
  };
  if (step.kind == StepKind::kCompute) {
    for (int32_t slot : step.outputs) fail(slot);
    if (step.num_shards > 1 && step.shard >= 0 && step.shard < step.num_shards) {
      // Join before aborting so the registry sees this rank and can drop the gang later.
      const GangId gang(msg->run.gang_base + step.node);
      absl::StatusOr<std::unique_ptr<Communicator>> comm =
          options_.collectives->Join(gang, step.num_shards, step.shard, step.group_key);
      options_.collectives->Abort(gang, step.num_shards, error);
    }
  } else if (step.kind != StepKind::kSend) {
    fail(step.dst_value);
  }
  StepDone(msg, index, error);
}

void HostExecutor::DispatchCompute(Message* msg, size_t index) {
  const HostStep& step = msg->program->steps[index];
  DeviceState* device = FindDevice(step.device);
  bool valid = device != nullptr && step.shard >= 0 && step.num_shards >= 1 &&
               step.shard < step.num_shards;
  for (int32_t slot : step.inputs) valid = valid && ValidSlot(*msg, slot);
  for (int32_t slot : step.outputs) valid = valid && ValidSlot(*msg, slot);
  if (!valid) {
    FailStepAtDispatch(msg, index,
                       absl::InvalidArgumentError(absl::StrCat(
                           StepLabel(*msg, step), ": malformed compute step (device not on ",
                           options_.host.DebugString(), ", shard or value slot out of range)")));
    return;
  }

  auto work = std::make_unique<ComputeWork>();
  work->gang = GangId(msg->run.gang_base + step.node);
  work->num_shards = step.num_shards;
  work->registration = ComputeRegistration(*msg, step.function);
  const Registration* reg = work->registration.get();
  // Join first, whatever happens next: a shard that fails here must still break its gang, and
  // the registry forgets a gang only once every rank joined.
  const bool needs_comm = reg != nullptr ? reg->has_collectives : step.num_shards > 1;
  absl::Status error;
  if (needs_comm) error = JoinComputeGang(*msg, step, *work);
  // Claim the outputs: from here on this step completes them, run or not.
  error.Update(ClaimComputeOutputs(*msg, step, *work));
  if (error.ok() && reg == nullptr) {
    error = absl::NotFoundError(absl::StrCat(step.function.DebugString(),
                                             " is not registered on ",
                                             options_.host.DebugString()));
  }
  if (error.ok()) error = CheckComputeSignature(*reg, step);
  if (error.ok()) error = AllocateComputeBuffers(*msg, step, *device, *work);
  if (!error.ok()) {
    const absl::Status failed = Annotate(error, StepLabel(*msg, step));
    for (const ShardEntryRef& entry : work->outputs) entry->Complete(failed);
    if (needs_comm) options_.collectives->Abort(work->gang, step.num_shards, failed);
    StepDone(msg, index, failed);
    return;
  }
  EnqueueCompute(msg, index, step, *device, std::move(work));
}

std::shared_ptr<const HostExecutor::Registration> HostExecutor::ComputeRegistration(
    Message& msg, FunctionId id) const {
  auto it = std::find_if(msg.functions.begin(), msg.functions.end(),
                         [id](const auto& function) { return function.first == id; });
  if (it != msg.functions.end() && it->second != nullptr) return it->second;
  std::shared_ptr<const Registration> reg = FindRegistration(id);
  msg.functions.emplace_back(id, reg);
  return reg;
}

absl::Status HostExecutor::JoinComputeGang(Message& msg, const HostStep& step, ComputeWork& work) {
  absl::StatusOr<std::unique_ptr<Communicator>> comm =
      options_.collectives->Join(work.gang, step.num_shards, step.shard, step.group_key);
  if (!comm.ok()) return comm.status();
  work.communicator = *std::move(comm);
  msg.gangs.emplace_back(work.gang, step.num_shards);
  return absl::OkStatus();
}

absl::Status HostExecutor::ClaimComputeOutputs(const Message& msg, const HostStep& step,
                                               ComputeWork& work) {
  absl::Status error;
  for (int32_t slot : step.outputs) {
    ShardEntryRef entry = store_.GetOrCreate((*msg.arrays)[slot], step.shard);
    if (!entry->Claim()) {
      if (error.ok()) {
        error = absl::AlreadyExistsError(
            absl::StrCat("output ", (*msg.arrays)[slot].DebugString(), " shard ", step.shard,
                         " was already produced"));
      }
      continue;
    }
    work.outputs.push_back(std::move(entry));
  }
  return error;
}

absl::Status HostExecutor::CheckComputeSignature(const Registration& reg, const HostStep& step) {
  const CpuExecutable& exe = *reg.executable;
  if (reg.function.num_shards != step.num_shards ||
      step.inputs.size() != exe.parameter_types().size() ||
      step.outputs.size() != exe.output_types().size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "function '", reg.function.name, "' (", reg.function.num_shards, " shards, ",
        exe.parameter_types().size(), " parameters, ", exe.output_types().size(),
        " outputs) called with ", step.num_shards, " shards, ", step.inputs.size(),
        " inputs, ", step.outputs.size(), " outputs"));
  }
  return absl::OkStatus();
}

absl::Status HostExecutor::AllocateComputeBuffers(const Message& msg, const HostStep& step,
                                                  DeviceState& device, ComputeWork& work) {
  const CpuExecutable& exe = *work.registration->executable;
  // Static shapes: every output is allocated now, before any input exists.
  for (size_t o = 0; o < work.outputs.size(); ++o) {
    const ir::TensorType& type = exe.output_types()[o];
    const ir::TensorType& declared = msg.lowered->values[step.outputs[o]].shard_type;
    if (!(type == declared)) {
      return absl::InvalidArgumentError(absl::StrCat("output ", o, " is ", type.DebugString(),
                                                     " but its value slot declares ",
                                                     declared.DebugString()));
    }
    absl::StatusOr<DeviceBuffer> buffer = device.device->Allocate(type.byte_size(), options_.allocation_wait);
    if (!buffer.ok()) return buffer.status();
    work.output_buffers.push_back(work.outputs[o]->InstallBuffer(
        step.device, type, std::make_shared<DeviceBuffer>(*std::move(buffer))));
    if (work.output_buffers.back()->size() != type.byte_size()) {
      return absl::InternalError(absl::StrCat("output ", o, " has a foreign buffer"));
    }
  }
  absl::StatusOr<std::shared_ptr<DeviceBuffer>> scratch = Scratch(device, exe.scratch_bytes());
  if (!scratch.ok()) return scratch.status();
  work.scratch = *std::move(scratch);
  return absl::OkStatus();
}

void HostExecutor::EnqueueCompute(Message* msg, size_t index, const HostStep& step,
                                  DeviceState& device, std::unique_ptr<ComputeWork> work) {
  StreamWork stream_work;
  stream_work.name = absl::StrCat(msg->lowered->nodes.size() > static_cast<size_t>(step.node) &&
                                          step.node >= 0
                                      ? msg->lowered->nodes[step.node].name
                                      : std::string("compute"),
                                  " shard ", step.shard, " ", msg->run.run.DebugString());
  // A simulated device takes the compiled function's modelled time instead of running it.
  stream_work.cost = work->registration->executable->cost();
  stream_work.busy_nanos_sink = &msg->device_nanos;
  stream_work.wait_for.reserve(step.inputs.size());
  for (int32_t slot : step.inputs) {
    ShardEntryRef entry = store_.GetOrCreate((*msg->arrays)[slot], step.shard);
    stream_work.wait_for.push_back(entry->ready());
    work->inputs.push_back(std::move(entry));
  }
  // `msg` and `step` outlive the stream item: the message finalizes only after this step's
  // completion callback, which runs after the item.
  ComputeWork* w = work.get();
  stream_work.fn = [this, msg, &step, w]() -> absl::Status { return RunCompute(*msg, step, *w); };
  EventRef done = device.device->Enqueue(std::move(stream_work));
  done->AndThen([this, msg, work = std::move(work), index](const absl::Status& status) mutable {
    // A failed input means the item never ran: break the gang so peer shards stop waiting.
    // (A shard that failed on its own already aborted it; the first reason sticks.)
    if (!status.ok() && work->communicator != nullptr) {
      options_.collectives->Abort(work->gang, work->num_shards, status);
    }
    for (const ShardEntryRef& entry : work->outputs) entry->Complete(status);
    work.reset();  // drop buffers and the communicator before the message may be reported
    StepDone(msg, index, status);
  });
}

absl::Status HostExecutor::RunCompute(const Message& msg, const HostStep& step,
                                      const ComputeWork& work) const {
  const CpuExecutable& exe = *work.registration->executable;
  absl::InlinedVector<const void*, 8> args;
  absl::InlinedVector<void*, 4> outs;
  absl::Status status;
  // A cancelled run's queued kernels are dropped: the step fails with the run's status (and
  // breaks its gang below, so peers in the collective stop waiting for it).
  if (std::optional<absl::Status> cancelled = Cancelled(msg.run.run); cancelled.has_value()) {
    status = *std::move(cancelled);
  }
  for (size_t i = 0; i < work.inputs.size() && status.ok(); ++i) {
    std::shared_ptr<DeviceBuffer> buffer = work.inputs[i]->buffer();
    const int64_t want = exe.parameter_types()[i].byte_size();
    if (buffer == nullptr || buffer->size() != want || work.inputs[i]->device() != step.device) {
      status = absl::FailedPreconditionError(absl::StrCat(
          "input ", i, " (", work.inputs[i]->DebugString(), ") is not a ", want,
          "-byte buffer on ", step.device.DebugString()));
      break;
    }
    args.push_back(buffer->data());  // the store or this step's entry keeps it alive
  }
  if (status.ok()) {
    for (const auto& b : work.output_buffers) outs.push_back(b->data());
    status = exe.Execute(args, outs, work.scratch == nullptr ? nullptr : work.scratch->data(),
                         ExecuteContext{.communicator = work.communicator.get(),
                                        .trace = options_.trace,
                                        .trace_pid = options_.host.value(),
                                        .trace_tid = step.device.value()});
  }
  if (!status.ok()) {
    status = Annotate(status, StepLabel(msg, step));
    if (work.communicator != nullptr) {
      options_.collectives->Abort(work.gang, work.num_shards, status);
    }
  }
  return status;
}

}  // namespace pw
