// Controller: runs — lowering lookup, output arrays, submission to the island schedulers,
// parallel and sequential dispatch, host reports.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"
#include "pathways/base/trace.h"
#include "pathways/controller/controller.h"
#include "pathways/controller/run_state.h"

namespace pw {


absl::StatusOr<std::shared_ptr<const LoweredProgram>> Controller::Lower(
    ProgramId id, const ProgramRecord& program) {
  LoweringCache::Key key;
  key.program = id;
  key.slice_versions.reserve(program.slices.size());
  for (SliceId slice : program.slices) {
    key.slice_versions.emplace_back(slice, resources_->mapping_version(slice));
  }
  if (std::shared_ptr<const LoweredProgram> hit = lowering_cache_.Lookup(key)) return hit;
  PW_ASSIGN_OR_RETURN(LoweringContext context, MakeLoweringContext(program));
  PW_ASSIGN_OR_RETURN(std::shared_ptr<const LoweredProgram> lowered,
                      LowerProgram(program.def, context));
  lowering_cache_.Insert(key, lowered);
  return lowered;
}

void Controller::EnsureFunctions(const std::vector<HostTarget>& targets,
                                 const LoweredProgram& lowered) {
  struct Missing {
    HostTarget target;
    FunctionId id;
    std::shared_ptr<const ir::Function> function;
  };
  std::vector<Missing> missing;
  {
    absl::MutexLock lock(&mu_);
    for (const HostTarget& target : targets) {
      auto w = workers_.find(target.host);
      if (w == workers_.end()) continue;
      for (FunctionId f : lowered.hosts.at(target.host)->functions) {
        if (w->second.functions.contains(f)) continue;
        auto fn = functions_.find(f);
        if (fn != functions_.end()) missing.push_back({target, f, fn->second.function});
      }
    }
  }
  for (const Missing& m : missing) {
    // Registration is idempotent, so two runs racing to register the same function is fine.
    absl::Status s = m.target.worker->RegisterFunction(m.id, *m.function);
    if (!s.ok()) {
      // The host then fails the steps running it, with its own error naming the function.
      PW_LOG(WARNING) << "RegisterFunction(" << m.id << ") on " << m.target.host << ": " << s;
      continue;
    }
    absl::MutexLock lock(&mu_);
    auto w = workers_.find(m.target.host);
    if (w != workers_.end()) w->second.functions.insert(m.id);
  }
}

absl::StatusOr<RunResult> Controller::Run(ClientId client, ProgramId program_id,
                                          absl::Span<const ArrayId> inputs, RunOptions options) {
  return StartRun(client, program_id, inputs, options, nullptr, {});
}

absl::StatusOr<RunResult> Controller::StartRun(
    ClientId client, ProgramId program_id, absl::Span<const ArrayId> inputs, RunOptions options,
    const Holder* holder, const std::vector<std::shared_ptr<ArrayRecord>>& preassigned) {
  const int64_t start_ns = MonotonicNanos();
  TraceScope trace(options_.trace, "dispatch", "dispatch", kControllerTracePid, 0);
  PW_ASSIGN_OR_RETURN(std::shared_ptr<const ProgramRecord> program,
                      FindRunProgram(client, program_id));
  const std::string where = absl::StrCat("Run('", program->def.name, "')");
  if (inputs.size() != program->def.inputs.size()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", inputs.size(),
                                                   " inputs given, the program takes ",
                                                   program->def.inputs.size()));
  }
  auto run = std::make_shared<RunState>();
  run->client = client;
  run->program = program_id;
  run->mode = holder != nullptr ? DispatchMode::kParallel : options.mode;
  if (holder != nullptr) run->holder = holder->id;
  PW_RETURN_IF_ERROR(BindRunInputs(*run, *program, inputs, where));
  PW_RETURN_IF_ERROR(LowerRun(*run, program_id, *program, inputs, where));
  PW_RETURN_IF_ERROR(BindValueArrays(*run, inputs, preassigned, where));
  RunResult result;
  std::vector<std::shared_ptr<ArrayRecord>> handles =
      MakeRunOutputs(*run, *program, inputs.size(), preassigned, result);
  // The new arrays count against the client's quota before anything is dispatched (a data-
  // dependent step's runs write into arrays the step was charged for).
  ArrayFootprint footprint;
  if (preassigned.empty()) {
    for (const auto& out : run->outputs) footprint.Add(out->spec().shard_type, out->devices());
  }
  if (absl::Status s = arrays_.Charge(client, footprint, options_.quota); !s.ok()) {
    for (const auto& out : run->outputs) out->DropRef();
    return Annotate(s, where);
  }
  if (absl::Status s = AdmitRun(run, where); !s.ok()) {
    arrays_.Refund(client, footprint);
    return s;
  }
  if (holder != nullptr) {
    for (IslandId island : run->islands) {
      if (std::find(holder->islands.begin(), holder->islands.end(), island) ==
          holder->islands.end()) {
        // Cannot happen: a step holds every island its programs lower onto.
        absl::MutexLock lock(&mu_);
        runs_.erase(run->id);
        for (const auto& out : run->outputs) out->DropRef();
        arrays_.Refund(client, footprint);
        return absl::InternalError(absl::StrCat(where, " runs on ", island.DebugString(),
                                                ", which the data-dependent step does not hold"));
      }
    }
  }
  if (preassigned.empty()) {
    for (auto& handle : handles) arrays_.AddHandle(std::move(handle));
  }
  for (const auto& input : run->inputs) input->AddRef();
  trace.AddArg("run", run->id.DebugString());
  trace.AddArg("program", program->def.name);
  trace.AddArg("mode", DispatchModeName(options.mode));
  result.run = run->id;

  EnsureFunctions(run->targets, *run->lowered);
  ArmDeadline(run, options.deadline, program->def.name);
  SubmitRun(run);
  metrics_.dispatch_latency.Observe(MonotonicNanos() - start_ns);
  return result;
}

absl::StatusOr<std::shared_ptr<const Controller::ProgramRecord>> Controller::FindRunProgram(
    ClientId client, ProgramId program_id) const {
  absl::MutexLock lock(&mu_);
  PW_RETURN_IF_ERROR(CheckClientLocked(client));
  auto it = programs_.find(program_id);
  if (it == programs_.end() || it->second->owner != client) {
    return absl::NotFoundError(absl::StrCat("Run: unknown ", program_id.DebugString(), " for ",
                                            client.DebugString()));
  }
  return it->second;
}

absl::Status Controller::BindRunInputs(RunState& run, const ProgramRecord& program,
                                       absl::Span<const ArrayId> inputs,
                                       const std::string& where) {
  run.inputs.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    absl::StatusOr<std::shared_ptr<ArrayRecord>> record = arrays_.Get(run.client, inputs[i]);
    if (!record.ok()) return Annotate(record.status(), absl::StrCat(where, " input ", i));
    const ArraySpec& want = program.def.inputs[i];
    const ArraySpec& got = (*record)->spec();
    if (!(got == want)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, " input ", i, ": ", inputs[i].DebugString(), " is ",
          got.shard_type.DebugString(), " on ", got.slice.DebugString(), " (",
          got.sharding.DebugString(), "), the program expects ", want.shard_type.DebugString(),
          " on ", want.slice.DebugString(), " (", want.sharding.DebugString(), ")"));
    }
    run.inputs.push_back(*std::move(record));
  }
  return absl::OkStatus();
}

absl::Status Controller::LowerRun(RunState& run, ProgramId program_id,
                                  const ProgramRecord& program, absl::Span<const ArrayId> inputs,
                                  const std::string& where) {
  absl::StatusOr<std::shared_ptr<const LoweredProgram>> lowered = Lower(program_id, program);
  if (!lowered.ok()) return Annotate(lowered.status(), where);
  run.lowered = *std::move(lowered);
  const LoweredProgram& lp = *run.lowered;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (run.inputs[i]->devices() != lp.values[i].devices) {
      return absl::FailedPreconditionError(absl::StrCat(
          where, " input ", i, ": ", inputs[i].DebugString(), " lives on devices placed before ",
          program.def.inputs[i].slice.DebugString(), " was remapped; put it again"));
    }
  }
  return absl::OkStatus();
}

absl::Status Controller::BindValueArrays(
    RunState& run, absl::Span<const ArrayId> inputs,
    const std::vector<std::shared_ptr<ArrayRecord>>& preassigned, const std::string& where) {
  const LoweredProgram& lp = *run.lowered;
  // Value slots: the inputs' arrays, then fresh ids for everything the run creates.
  auto value_arrays = std::make_shared<std::vector<ArrayId>>(lp.values.size());
  const int64_t first_new = arrays_.NewIds(static_cast<int64_t>(lp.values.size() - inputs.size()));
  for (size_t v = 0; v < lp.values.size(); ++v) {
    (*value_arrays)[v] = v < inputs.size() ? inputs[v] : ArrayId(first_new + v - inputs.size());
  }
  if (!preassigned.empty()) {
    // Each output must be a value of its own that this run computes, where the array is.
    if (preassigned.size() != lp.output_values.size()) {
      return absl::InternalError(absl::StrCat(where, ": ", preassigned.size(),
                                              " preassigned outputs for ",
                                              lp.output_values.size()));
    }
    absl::flat_hash_set<int32_t> seen;
    for (size_t o = 0; o < preassigned.size(); ++o) {
      const int32_t slot = lp.output_values[o];
      if (slot < static_cast<int32_t>(inputs.size()) || !seen.insert(slot).second ||
          lp.values[slot].devices != preassigned[o]->devices()) {
        return absl::InternalError(absl::StrCat(where, ": output ", o,
                                                " cannot be written into ",
                                                preassigned[o]->id().DebugString()));
      }
      (*value_arrays)[slot] = preassigned[o]->id();
    }
  }
  run.value_arrays = std::move(value_arrays);
  return absl::OkStatus();
}

std::vector<std::shared_ptr<ArrayRecord>> Controller::MakeRunOutputs(
    RunState& run, const ProgramRecord& program, size_t num_inputs,
    const std::vector<std::shared_ptr<ArrayRecord>>& preassigned, RunResult& result) {
  const LoweredProgram& lp = *run.lowered;
  // Output arrays: futures, resolved by the hosts' reports.
  run.output_by_slot.assign(lp.values.size(), nullptr);
  std::vector<std::shared_ptr<ArrayRecord>> handles;
  for (size_t o = 0; o < lp.output_values.size(); ++o) {
    const int32_t slot = lp.output_values[o];
    std::shared_ptr<ArrayRecord> record;
    if (!preassigned.empty()) {  // distinct computed values (BindValueArrays checked)
      record = preassigned[o];
      record->AddRef();  // the run's, until it finished writing
      run.outputs.push_back(record);
      run.output_by_slot[slot] = record.get();
    } else if (slot < static_cast<int32_t>(num_inputs)) {
      record = run.inputs[slot];  // the program returns its input: another handle to it
    } else if (run.output_by_slot[slot] != nullptr) {
      for (const auto& out : run.outputs) {
        if (out.get() == run.output_by_slot[slot]) record = out;
      }
    } else {
      const ValueInfo& value = lp.values[slot];
      std::vector<HostId> hosts;
      for (DeviceId device : value.devices) {
        absl::StatusOr<DeviceInfo> info = resources_->GetDevice(device);
        hosts.push_back(info.ok() ? info->host : HostId());
      }
      record = std::make_shared<ArrayRecord>((*run.value_arrays)[slot], run.client,
                                             program.output_specs[o], value.devices,
                                             std::move(hosts), ArrayRecord::Initial::kPending,
                                             program.output_meshes[o]);
      record->AddRef();  // the run's, until it finished writing
      run.outputs.push_back(record);
      run.output_by_slot[slot] = record.get();
    }
    result.outputs.push_back(record->info());
    handles.push_back(std::move(record));
  }
  return handles;
}

IslandId Controller::IslandOfHostLocked(HostId host, const LoweredProgram& lowered) const {
  if (auto w = workers_.find(host); w != workers_.end()) return w->second.island;
  if (absl::StatusOr<HostInfo> info = resources_->GetHost(host); info.ok()) return info->island;
  return lowered.islands.empty() ? IslandId() : lowered.islands.front();  // a host just lost
}

absl::Status Controller::AdmitRun(const std::shared_ptr<RunState>& run, const std::string& where) {
  const LoweredProgram& lp = *run->lowered;
  absl::MutexLock lock(&mu_);
  auto client_it = clients_.find(run->client);
  if (client_it == clients_.end()) {
    for (const auto& out : run->outputs) out->DropRef();
    return absl::NotFoundError(
        absl::StrCat(where, ": ", run->client.DebugString(), " disconnected"));
  }
  ++client_it->second.runs;
  run->client_options = client_it->second.options;
  ++total_runs_;
  metrics_.runs_started.Add();
  run->admitted_ns = MonotonicNanos();
  run->id = RunId(next_run_++);
  run->gang_base = next_gang_;
  next_gang_ += static_cast<int64_t>(lp.nodes.size());
  run->targets.reserve(lp.hosts.size());
  for (const auto& [host, part] : lp.hosts) {
    HostTarget target{host, nullptr, IslandOfHostLocked(host, lp)};
    if (auto w = workers_.find(host); w != workers_.end()) target.worker = w->second.worker;
    run->targets.push_back(target);
    if (std::find(run->islands.begin(), run->islands.end(), target.island) ==
        run->islands.end()) {
      run->islands.push_back(target.island);
    }
  }
  std::sort(run->islands.begin(), run->islands.end());
  for (IslandId island : run->islands) run->schedulers.push_back(SchedulerLocked(island));
  runs_.emplace(run->id, run);
  return absl::OkStatus();
}

void Controller::SubmitRun(const std::shared_ptr<RunState>& run) {
  const LoweredProgram& lp = *run->lowered;
  int64_t wave = -1;
  {
    absl::MutexLock lock(&run->mu);
    if (run->mode == DispatchMode::kSequential) {
      // Skip stages without hosts (none are expected; a lowering could legally have them).
      wave = 0;
      while (wave < static_cast<int64_t>(lp.stages.size()) && lp.stages[wave].empty()) ++wave;
      if (wave == static_cast<int64_t>(lp.stages.size())) wave = -2;
    } else if (lp.hosts.empty()) {
      wave = -2;
    }
    if (wave != -2) {
      run->stage = wave;
      for (const auto& [host, part] : run->Wave(wave)) run->pending.insert(host);
    }
  }
  if (wave == -2 || run->islands.empty()) {  // nothing to send: a program of its inputs only
    run->schedulers.clear();  // never submitted
    FinishRun(run);
    return;
  }
  run->submitted_ns = MonotonicNanos();
  RunDescriptor descriptor;
  descriptor.run = run->id;
  descriptor.client = run->client;
  descriptor.program = run->program;
  descriptor.weight = run->client_options.weight;
  descriptor.priority = run->client_options.priority;
  absl::Status submitted;
  if (run->holder.valid()) {  // a data-dependent step's run: it keeps the step's place
    std::vector<GangScheduler::IslandPart> parts;
    for (size_t i = 0; i < run->islands.size(); ++i) {
      parts.push_back({run->schedulers[i], [this, run, island = run->islands[i], wave]() {
                         SendWave(run, island, wave);
                       }});
    }
    submitted = parts.size() == 1 ? parts[0].scheduler->FollowUp(run->holder, std::move(parts[0].dispatch))
                                  : GangScheduler::FollowUpAcrossIslands(run->holder, std::move(parts));
    if (!submitted.ok()) {
      {
        absl::MutexLock lock(&run->mu);
        if (run->first_error.ok()) run->first_error = Annotate(submitted, "run cancelled");
      }
      FinishRun(run);
    }
    return;
  }
  if (run->islands.size() == 1) {
    submitted = run->schedulers[0]->Submit(
        descriptor, [this, run, island = run->islands[0], wave]() { SendWave(run, island, wave); });
  } else {
    std::vector<GangScheduler::IslandPart> parts;
    for (size_t i = 0; i < run->islands.size(); ++i) {
      parts.push_back({run->schedulers[i], [this, run, island = run->islands[i], wave]() {
                         SendWave(run, island, wave);
                       }});
    }
    submitted = GangScheduler::SubmitAcrossIslands(descriptor, std::move(parts));
  }
  PW_CHECK(submitted.ok()) << submitted;  // run ids are fresh
}

void Controller::SendWave(const std::shared_ptr<RunState>& run, IslandId island, int64_t wave) {
  struct Send {
    HostId host;
    WorkerService* worker;
    std::shared_ptr<const LoweredHostProgram> part;
  };
  absl::InlinedVector<Send, 4> sends;
  absl::InlinedVector<HostId, 2> gone;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [host, part] : run->Wave(wave)) {
      if (run->IslandOf(host) != island) continue;
      auto w = workers_.find(host);
      if (w == workers_.end()) {
        gone.push_back(host);
      } else {
        sends.push_back(Send{host, w->second.worker, part});
      }
    }
  }
  if (!run->sent.exchange(true, std::memory_order_relaxed)) {
    metrics_.queue_time.Observe(MonotonicNanos() - run->submitted_ns);
  }
  for (Send& send : sends) {
    // One event per host message (in the controller's trace, inside "dispatch"): how long
    // handing each host its part takes, and in what order the hosts get theirs.
    std::optional<TraceScope> trace;  // named only when recording: no string on the hot path
    if (options_.trace != nullptr && options_.trace->enabled()) {
      trace.emplace(options_.trace, send.host.DebugString(), "send part", kControllerTracePid, 0);
    }
    HostRun message;
    message.run = run->id;
    message.client = run->client;
    message.program = std::move(send.part);
    message.lowered = run->lowered;
    message.value_arrays = run->value_arrays;
    message.gang_base = run->gang_base;
    message.mode = run->mode;
    message.stage = wave;
    send.worker->Run(std::move(message));
  }
  for (HostId host : gone) {
    HostRunResult failed;
    failed.host = host;
    failed.run = run->id;
    failed.stage = wave;
    failed.status = absl::UnavailableError(
        absl::StrCat(host.DebugString(), " has no worker; ", run->id.DebugString(), " lost its part"));
    HandleReport(run, std::move(failed));
  }
}

void Controller::OnHostRunDone(HostRunResult result) {
  std::shared_ptr<RunState> run;
  {
    absl::MutexLock lock(&mu_);
    auto it = runs_.find(result.run);
    if (it == runs_.end()) return;  // a late report from a removed host, or a stale one
    run = it->second;
  }
  HandleReport(run, std::move(result));
}

void Controller::HandleReport(const std::shared_ptr<RunState>& run, HostRunResult result) {
  const LoweredProgram& lp = *run->lowered;
  int64_t next_wave = -1;
  bool finished = false;
  {
    absl::MutexLock lock(&run->mu);
    if (run->finished || result.stage != run->stage || run->pending.erase(result.host) == 0) {
      return;  // stale or duplicate
    }
    if (!result.status.ok() && run->first_error.ok()) run->first_error = result.status;
    const IslandId island = run->IslandOf(result.host);
    for (size_t i = 0; i < run->islands.size(); ++i) {
      if (run->islands[i] != island) continue;
      if (run->device_nanos.size() < run->islands.size()) run->device_nanos.resize(run->islands.size());
      // Each report is bounded on the wire (a year); a run's sum over many hosts saturates
      // instead of overflowing.
      run->device_nanos[i] = result.device_nanos > INT64_MAX - run->device_nanos[i]
                                 ? INT64_MAX
                                 : run->device_nanos[i] + result.device_nanos;
    }
    ++run->resolving;
    if (run->pending.empty()) {
      int64_t wave = run->stage;
      if (run->mode == DispatchMode::kSequential) {
        ++wave;
        while (wave < static_cast<int64_t>(lp.stages.size()) && lp.stages[wave].empty()) ++wave;
      }
      if (run->mode == DispatchMode::kSequential && wave < static_cast<int64_t>(lp.stages.size())) {
        run->stage = next_wave = wave;
        for (const auto& [host, part] : lp.stages[wave]) run->pending.insert(host);
      } else {
        run->all_reported = true;
      }
    }
  }
  // Resolve outside the run's lock: readiness callbacks of client futures run here.
  for (const HostRunResult::ShardStatus& shard : result.outputs) {
    if (shard.value < 0 || shard.value >= static_cast<int32_t>(run->output_by_slot.size())) continue;
    if (ArrayRecord* out = run->output_by_slot[shard.value]) out->ResolveShard(shard.shard, shard.status);
  }
  if (next_wave >= 0) {
    // The next stage keeps the islands' single order; the scheduler sends it from the work
    // thread, never from this (worker) thread.
    std::vector<GangScheduler::IslandPart> parts;
    for (size_t i = 0; i < run->islands.size(); ++i) {
      bool involved = false;
      for (const auto& [host, part] : lp.stages[next_wave]) involved |= run->IslandOf(host) == run->islands[i];
      if (!involved) continue;
      parts.push_back({run->schedulers[i], [this, run, island = run->islands[i], next_wave]() {
                         SendWave(run, island, next_wave);
                       }});
    }
    absl::Status s = parts.size() == 1
                         ? parts[0].scheduler->FollowUp(run->id, std::move(parts[0].dispatch))
                         : GangScheduler::FollowUpAcrossIslands(run->id, std::move(parts));
    if (!s.ok()) {
      // Only a run still queued in its scheduler can get here: a removed host "reported" a
      // stage that was never sent. Nothing of it ran, so it ends now with that error and its
      // scheduler cancels it.
      absl::MutexLock lock(&run->mu);
      if (run->first_error.ok()) run->first_error = Annotate(s, "run cancelled");
      run->all_reported = true;
    }
  }
  {
    // The last report to finish resolving ends the run, so no output is judged unreported
    // while another host's report is still resolving it.
    absl::MutexLock lock(&run->mu);
    --run->resolving;
    if (run->all_reported && run->resolving == 0 && !run->finished) run->finished = finished = true;
  }
  if (finished) FinishRun(run);
}

void Controller::FinishRun(const std::shared_ptr<RunState>& run) {
  if (run->deadline_timer != 0) deadlines_.Cancel(run->deadline_timer);
  absl::Status error;
  std::vector<int64_t> device_nanos;
  {
    absl::MutexLock lock(&run->mu);
    run->finished = true;
    error = run->first_error;
    device_nanos = run->device_nanos;
  }
  for (const auto& out : run->outputs) {
    if (out->ready()->IsAvailable()) continue;
    out->Fail(!error.ok() ? error
                          : absl::InternalError(absl::StrCat(
                                run->id.DebugString(), " finished without a report for every "
                                "shard of output ", out->id().DebugString())));
  }
  // Counted before it leaves runs_: a run no longer in RunningRuns() is in the metrics.
  CountFinishedRun(*run, error);
  {
    absl::MutexLock lock(&mu_);
    runs_.erase(run->id);
  }
  if (!run->holder.valid()) {  // a step's follow-up run was never submitted itself
    for (size_t i = 0; i < run->schedulers.size(); ++i) {
      absl::Status s = run->schedulers[i]->OnRunFinished(run->id, i < device_nanos.size() ? device_nanos[i] : 0);
      PW_CHECK(s.ok()) << s;
    }
  }
  for (const auto& input : run->inputs) DropArrayRef(input);
  for (const auto& out : run->outputs) DropArrayRef(out);
}

void Controller::CountFinishedRun(const RunState& run, const absl::Status& error) {
  int64_t computations = 0;
  if (run.lowered != nullptr) {
    for (const GraphNode& node : run.lowered->nodes) computations += node.kind == NodeKind::kCompute;
  }
  metrics_.computations.Add(computations);
  metrics_.runs_finished.Add();
  if (run.admitted_ns != 0) metrics_.run_duration.Observe(MonotonicNanos() - run.admitted_ns);
  if (error.ok()) return;
  metrics_.runs_failed.Add();
  std::string program;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = programs_.find(run.program); it != programs_.end()) program = it->second->def.name;
  }
  metrics_.RecordFailure(RunFailure{.run = run.id,
                                    .client = run.client,
                                    .program = program.empty() ? run.program.DebugString() : program,
                                    .error = error,
                                    .finished = absl::Now()});
}

std::vector<RunningRun> Controller::RunningRuns() const {
  std::vector<std::pair<std::shared_ptr<RunState>, std::string>> live;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, run] : runs_) {
      auto p = programs_.find(run->program);
      live.emplace_back(run, p != programs_.end() ? p->second->def.name : run->program.DebugString());
    }
  }
  const absl::Time now = absl::Now();
  const int64_t now_ns = MonotonicNanos();
  std::vector<RunningRun> out;
  out.reserve(live.size());
  for (auto& [run, name] : live) {
    int64_t stage;
    {
      absl::MutexLock lock(&run->mu);
      stage = run->stage;
    }
    out.push_back(RunningRun{.run = run->id,
                             .client = run->client,
                             .program = std::move(name),
                             .started = now - absl::Nanoseconds(now_ns - run->admitted_ns),
                             .stage = stage});
  }
  std::sort(out.begin(), out.end(), [](const RunningRun& a, const RunningRun& b) { return a.run < b.run; });
  return out;
}

}  // namespace pw
