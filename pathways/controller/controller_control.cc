// Controller: data-dependent steps (RunControl) — a case whose branch, or a loop whose trip
// count, depends on a value computed on the devices.
//
// A step is a *holder* in its islands' gang schedulers: submitted in order like a run, and once
// admitted it holds the islands (GangScheduler::Hold), so nothing submitted after it reaches a
// device stream before what it selects. It then waits for its predicate (a fetch of a scalar
// array, on the work thread), starts the selected program as a run dispatched as its follow-up
// (in parallel over that program's hosts, as usual), and repeats for a loop. It ends with a
// landing run copying the result into the output arrays it returned at once, then releases the
// islands: the sequential fallback lasts from the predicate's dispatch to its arrival, and
// everything before and after is dispatched in parallel. Trace events on the controller's lane
// ("control" category) show each wait and what it selected.
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pathways/base/clock.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"
#include "pathways/controller/controller.h"

namespace pw {

struct Controller::ControlState {
  ClientId client;
  ControlRequest request;
  std::string where;
  Holder holder;
  ProgramId landing;
  // The step's outputs (one reference each, until the landing run took its own).
  std::vector<std::shared_ptr<ArrayRecord>> outputs;
  // The step's own handles (on its inputs and the arrays it made), each released once no run
  // it starts later reads the array.
  std::vector<ArrayId> internal;
  std::vector<ArrayId> inputs;
  int64_t iteration = 0;
  absl::Mutex mu;
  int64_t islands_to_hold ABSL_GUARDED_BY(mu) = 0;
  bool finished ABSL_GUARDED_BY(mu) = false;
};

namespace {

std::string SpecList(const std::vector<ArraySpec>& specs) {
  std::vector<std::string> parts;
  for (const ArraySpec& s : specs) {
    parts.push_back(absl::StrCat(s.shard_type.DebugString(), " on ", s.slice.DebugString(), " (",
                                 s.sharding.DebugString(), ")"));
  }
  return absl::StrCat("(", absl::StrJoin(parts, ", "), ")");
}

// A predicate: one element per shard, bool or i32.
bool IsPredicateSpec(const ArraySpec& spec) {
  return spec.shard_type.num_elements() == 1 &&
         (spec.shard_type.dtype == ir::DType::kBool || spec.shard_type.dtype == ir::DType::kI32);
}

// The common value of a fetched predicate's shards.
absl::StatusOr<int64_t> PredicateValue(const std::vector<ir::Literal>& shards) {
  if (shards.empty()) return absl::InvalidArgumentError("the predicate has no shards");
  int64_t first = 0;
  for (size_t i = 0; i < shards.size(); ++i) {
    if (shards[i].num_elements() != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("predicate shard ", i, " has ", shards[i].num_elements(), " elements"));
    }
    const auto v = static_cast<int64_t>(shards[i].GetAsDouble(0));
    if (i == 0) first = v;
    if (v != first) {
      return absl::InvalidArgumentError(
          absl::StrCat("the predicate differs across its shards (shard 0: ", first, ", shard ", i,
                       ": ", v, "); compute it from a replicated value"));
    }
  }
  return first;
}

}  // namespace

absl::Status Controller::CheckControl(
    const ControlRequest& request,
    const std::vector<std::shared_ptr<const ProgramRecord>>& programs,
    const std::vector<std::shared_ptr<ArrayRecord>>& inputs, const std::string& where) const {
  auto fail = [&](auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", parts...));
  };
  if (static_cast<int64_t>(programs.size()) > kMaxControlPrograms) {
    return fail(programs.size(), " programs (at most ", kMaxControlPrograms, ")");
  }
  std::vector<ArraySpec> given;
  for (const auto& in : inputs) given.push_back(in->spec());
  if (request.kind == ControlRequest::Kind::kCase) {
    if (programs.empty()) return fail("a case needs at least one branch");
    if (given.empty() || !IsPredicateSpec(given[0])) {
      return fail("input 0 (the branch index) must hold one bool or i32 element per shard, got ",
                  given.empty() ? std::string("nothing") : SpecList({given[0]}));
    }
    const std::vector<ArraySpec> operands(given.begin() + 1, given.end());
    for (size_t b = 0; b < programs.size(); ++b) {
      if (programs[b]->def.inputs != operands) {
        return fail("branch ", b, " '", programs[b]->def.name, "' takes ",
                    SpecList(programs[b]->def.inputs), " but is given ", SpecList(operands));
      }
      if (programs[b]->output_specs != programs[0]->output_specs) {
        return fail("branch ", b, " '", programs[b]->def.name, "' returns ",
                    SpecList(programs[b]->output_specs), " but branch 0 '", programs[0]->def.name,
                    "' returns ", SpecList(programs[0]->output_specs),
                    ": every branch must return the same specs");
      }
    }
    return absl::OkStatus();
  }
  if (request.kind != ControlRequest::Kind::kWhile) {
    return fail("unknown kind ", static_cast<int>(request.kind));
  }
  if (programs.size() != 2)
    return fail("a while loop takes 2 programs (cond, body), got ", programs.size());
  if (request.max_iterations < 1) {
    return fail("a while loop needs a bound: max_iterations must be at least 1, got ",
                request.max_iterations);
  }
  const ProgramRecord& cond = *programs[0];
  const ProgramRecord& body = *programs[1];
  if (given.empty()) return fail("a while loop needs carried values");
  if (cond.def.inputs != given || body.def.inputs != given) {
    const ProgramRecord& bad = cond.def.inputs != given ? cond : body;
    return fail("'", bad.def.name, "' takes ", SpecList(bad.def.inputs),
                " but the carried values are ", SpecList(given));
  }
  if (cond.output_specs.size() != 1 || !IsPredicateSpec(cond.output_specs[0])) {
    return fail("cond '", cond.def.name,
                "' must return one predicate (one bool or i32 element "
                "per shard), returns ",
                SpecList(cond.output_specs));
  }
  if (body.output_specs != given) {
    return fail("body '", body.def.name, "' returns ", SpecList(body.output_specs),
                " but the carried values are ", SpecList(given),
                ": a loop's carried values keep their specs");
  }
  return absl::OkStatus();
}

absl::StatusOr<ProgramId> Controller::LandingProgram(ClientId client,
                                                     const std::vector<ArraySpec>& specs) {
  const std::pair<ClientId, std::string> key{client, SpecList(specs)};
  {
    absl::MutexLock lock(&mu_);
    auto it = landing_programs_.find(key);
    if (it != landing_programs_.end()) return it->second;
  }
  ProgramDef def;
  def.name = "control_result";
  def.inputs = specs;
  for (size_t i = 0; i < specs.size(); ++i) {
    def.outputs.push_back(ValueRef{ValueRef::kProgramInput, static_cast<int64_t>(i)});
    def.output_placements.push_back(OutputPlacement{specs[i].slice, specs[i].sharding, true});
  }
  PW_ASSIGN_OR_RETURN(ProgramId id, RegisterProgram(client, std::move(def)));
  absl::MutexLock lock(&mu_);
  landing_programs_.emplace(key, id);
  return id;
}

absl::StatusOr<std::vector<IslandId>> Controller::IslandsOf(
    const std::vector<std::pair<ProgramId, std::shared_ptr<const ProgramRecord>>>& programs) {
  std::vector<IslandId> islands;
  for (const auto& [id, record] : programs) {
    PW_ASSIGN_OR_RETURN(std::shared_ptr<const LoweredProgram> lowered, Lower(id, *record));
    absl::MutexLock lock(&mu_);
    for (const auto& [host, part] : lowered->hosts) {
      const IslandId island = IslandOfHostLocked(host, *lowered);
      if (std::find(islands.begin(), islands.end(), island) == islands.end()) {
        islands.push_back(island);
      }
    }
  }
  std::sort(islands.begin(), islands.end());
  return islands;
}

void Controller::MakeLandingOutputs(ControlState& control, const ProgramRecord& landing,
                                    const LoweredProgram& lowered) {
  for (size_t o = 0; o < lowered.output_values.size(); ++o) {
    const ValueInfo& value = lowered.values[lowered.output_values[o]];
    std::vector<HostId> hosts;
    for (DeviceId device : value.devices) {
      absl::StatusOr<DeviceInfo> info = resources_->GetDevice(device);
      hosts.push_back(info.ok() ? info->host : HostId());
    }
    auto record = std::make_shared<ArrayRecord>(
        arrays_.NewId(), control.client, landing.output_specs[o], value.devices, std::move(hosts),
        ArrayRecord::Initial::kPending, landing.output_meshes[o]);
    record->AddRef();  // the step's, until the landing run took its own
    control.outputs.push_back(std::move(record));
  }
}

absl::StatusOr<RunResult> Controller::RunControl(ClientId client, ControlRequest request,
                                                 absl::Span<const ArrayId> inputs) {
  TraceScope trace(options_.trace, "control", "dispatch", kControllerTracePid, 0);
  std::vector<std::pair<ProgramId, std::shared_ptr<const ProgramRecord>>> programs;
  std::vector<std::shared_ptr<const ProgramRecord>> records;
  std::vector<std::string> names;
  for (ProgramId id : request.programs) {
    PW_ASSIGN_OR_RETURN(std::shared_ptr<const ProgramRecord> record, FindRunProgram(client, id));
    programs.emplace_back(id, record);
    records.push_back(record);
    names.push_back(record->def.name);
  }
  const std::string where =
      absl::StrCat("RunControl(", request.kind == ControlRequest::Kind::kCase ? "case" : "while",
                   " of '", absl::StrJoin(names, "', '"), "')");
  std::vector<std::shared_ptr<ArrayRecord>> input_records;
  for (size_t i = 0; i < inputs.size(); ++i) {
    absl::StatusOr<std::shared_ptr<ArrayRecord>> r = arrays_.Get(client, inputs[i]);
    if (!r.ok()) return Annotate(r.status(), absl::StrCat(where, " input ", i));
    input_records.push_back(*std::move(r));
  }
  PW_RETURN_IF_ERROR(CheckControl(request, records, input_records, where));
  const std::vector<ArraySpec> out_specs =
      request.kind == ControlRequest::Kind::kCase
          ? records[0]->output_specs
          : std::vector<ArraySpec>(records[1]->def.inputs.begin(), records[1]->def.inputs.end());

  auto control = std::make_shared<ControlState>();
  control->client = client;
  control->request = request;
  control->where = where;
  control->inputs.assign(inputs.begin(), inputs.end());
  if (!out_specs.empty()) {
    PW_ASSIGN_OR_RETURN(control->landing, LandingProgram(client, out_specs));
    std::shared_ptr<const ProgramRecord> landing;
    PW_ASSIGN_OR_RETURN(landing, FindRunProgram(client, control->landing));
    programs.emplace_back(control->landing, landing);
    PW_ASSIGN_OR_RETURN(std::shared_ptr<const LoweredProgram> lowered,
                        Lower(control->landing, *landing));
    MakeLandingOutputs(*control, *landing, *lowered);
  }
  ArrayFootprint footprint;
  for (const auto& out : control->outputs) footprint.Add(out->spec().shard_type, out->devices());
  if (absl::Status s = arrays_.Charge(client, footprint, options_.quota); !s.ok()) {
    for (const auto& out : control->outputs) out->DropRef();  // never handed out
    return Annotate(s, where);
  }
  absl::StatusOr<std::vector<IslandId>> islands = IslandsOf(programs);
  if (!islands.ok()) {
    for (const auto& out : control->outputs) out->DropRef();  // never handed out
    arrays_.Refund(client, footprint);
    return Annotate(islands.status(), where);
  }
  control->holder.islands = *std::move(islands);
  RunResult result;
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status s = CheckClientLocked(client); !s.ok()) {
      for (const auto& out : control->outputs) out->DropRef();  // never handed out
      arrays_.Refund(client, footprint);
      return s;
    }
    control->holder.id = RunId(next_run_++);
    for (IslandId island : control->holder.islands) {
      control->holder.schedulers.push_back(SchedulerLocked(island));
    }
  }
  for (const auto& out : control->outputs) {
    result.outputs.push_back(out->info());
    arrays_.AddHandle(out);
  }
  // The step's own handles on its inputs: the client may release its handles at once.
  for (const auto& in : input_records) {
    arrays_.AddHandle(in);
    control->internal.push_back(in->id());
  }
  result.run = control->holder.id;
  trace.AddArg("step", control->holder.id.DebugString());
  trace.AddArg("programs", absl::StrJoin(names, ","));
  if (control->holder.islands.empty()) {  // nothing runs anywhere: only possible without hosts
    control->holder.schedulers.clear();   // never submitted
    FinishControl(control, absl::FailedPreconditionError(
                               absl::StrCat(where, ": its programs run on no host")));
    return result;
  }
  {
    absl::MutexLock lock(&control->mu);
    control->islands_to_hold = static_cast<int64_t>(control->holder.islands.size());
  }
  // Once admitted on every island, the step holds them and starts (on the work thread).
  RunDescriptor descriptor;
  descriptor.run = control->holder.id;
  descriptor.client = client;
  std::vector<GangScheduler::IslandPart> parts;
  for (GangScheduler* scheduler : control->holder.schedulers) {
    parts.push_back({scheduler, [this, control, scheduler]() {
                       absl::Status held = scheduler->Hold(control->holder.id);
                       PW_CHECK(held.ok()) << held;
                       bool all;
                       {
                         absl::MutexLock lock(&control->mu);
                         all = --control->islands_to_hold == 0;
                       }
                       if (all) work_.Post([this, control]() { BeginControl(control); });
                     }});
  }
  absl::Status submitted =
      parts.size() == 1 ? parts[0].scheduler->Submit(descriptor, std::move(parts[0].dispatch))
                        : GangScheduler::SubmitAcrossIslands(descriptor, std::move(parts));
  PW_CHECK(submitted.ok()) << submitted;  // step ids are fresh
  return result;
}

absl::StatusOr<std::vector<ArrayId>> Controller::ControlRun(ControlState& control,
                                                            ProgramId program,
                                                            const std::vector<ArrayId>& inputs) {
  PW_ASSIGN_OR_RETURN(RunResult run,
                      StartRun(control.client, program, inputs, RunOptions{}, &control.holder, {}));
  std::vector<ArrayId> outs;
  for (const ArrayInfo& info : run.outputs) {
    outs.push_back(info.id);
    control.internal.push_back(info.id);
  }
  return outs;
}

void Controller::ReleaseInternal(ControlState& control, const std::vector<ArrayId>& ids) {
  for (ArrayId id : ids) {
    auto it = std::find(control.internal.begin(), control.internal.end(), id);
    if (it == control.internal.end()) continue;  // released already
    control.internal.erase(it);
    absl::Status s = ReleaseArray(control.client, id);
    if (!s.ok()) PW_LOG(WARNING) << control.where << ": " << s;
  }
}

void Controller::AwaitPredicate(const std::shared_ptr<ControlState>& control, ArrayId array,
                                absl::AnyInvocable<void(int64_t)> next) {
  const int64_t start = MonotonicNanos();
  AsyncValueRef<std::vector<ir::Literal>> value = FetchArray(control->client, array);
  value->AndThen([this, control, array, value, start,
                  next = std::move(next)](const absl::Status& status) mutable {
    work_.Post([this, control, array, value, start, status, next = std::move(next)]() mutable {
      absl::StatusOr<int64_t> v =
          status.ok() ? PredicateValue(value->value()) : absl::StatusOr<int64_t>(status);
      if (options_.trace != nullptr && options_.trace->enabled()) {
        options_.trace->Record(TraceEvent{
            .name = "wait for predicate",
            .category = "control",
            .pid = kControllerTracePid,
            .tid = 0,
            .start_ns = start,
            .dur_ns = MonotonicNanos() - start,
            .args = {{"step", control->holder.id.DebugString()},
                     {"iteration", absl::StrCat(control->iteration)},
                     {"value", v.ok() ? absl::StrCat(*v) : std::string(v.status().message())}}});
      }
      ReleaseInternal(*control, {array});
      if (!v.ok()) {
        FinishControl(control, Annotate(v.status(), absl::StrCat(control->where, ": predicate")));
        return;
      }
      next(*v);
    });
  });
}

void Controller::BeginControl(const std::shared_ptr<ControlState>& control) {
  if (control->request.kind == ControlRequest::Kind::kWhile) {
    LoopStep(control, control->inputs);
    return;
  }
  AwaitPredicate(control, control->inputs[0], [this, control](int64_t index) {
    const auto n = static_cast<int64_t>(control->request.programs.size());
    const int64_t branch = index < 0 || index >= n ? n - 1 : index;
    const std::vector<ArrayId> operands(control->inputs.begin() + 1, control->inputs.end());
    absl::StatusOr<std::vector<ArrayId>> outs =
        ControlRun(*control, control->request.programs[branch], operands);
    if (!outs.ok()) {
      FinishControl(control, outs.status());
      return;
    }
    Land(control, *outs);
  });
}

void Controller::LoopStep(const std::shared_ptr<ControlState>& control,
                          std::vector<ArrayId> carried) {
  absl::StatusOr<std::vector<ArrayId>> pred =
      ControlRun(*control, control->request.programs[0], carried);
  if (!pred.ok()) {
    FinishControl(control, pred.status());
    return;
  }
  AwaitPredicate(control, (*pred)[0], [this, control, carried](int64_t go) {
    if (go == 0 || control->iteration >= control->request.max_iterations) {
      Land(control, carried);
      return;
    }
    ++control->iteration;
    absl::StatusOr<std::vector<ArrayId>> next =
        ControlRun(*control, control->request.programs[1], carried);
    if (!next.ok()) {
      FinishControl(control, next.status());
      return;
    }
    ReleaseInternal(*control, carried);  // the body run holds them now
    LoopStep(control, *std::move(next));
  });
}

void Controller::Land(const std::shared_ptr<ControlState>& control,
                      const std::vector<ArrayId>& values) {
  if (!control->outputs.empty()) {
    absl::StatusOr<RunResult> run = StartRun(control->client, control->landing, values,
                                             RunOptions{}, &control->holder, control->outputs);
    if (!run.ok()) {
      FinishControl(control, run.status());
      return;
    }
  }
  FinishControl(control, absl::OkStatus());
}

void Controller::FinishControl(const std::shared_ptr<ControlState>& control, absl::Status status) {
  {
    absl::MutexLock lock(&control->mu);
    if (control->finished) return;
    control->finished = true;
  }
  for (const auto& out : control->outputs) {
    if (!status.ok()) {
      // No run will produce the outputs: the hosts holding them learn it, so the runs already
      // reading them fail with the step's error instead of waiting.
      // Each live host is told, whatever became of the others.
      out->Fail(status);
      absl::flat_hash_map<WorkerService*, std::vector<int32_t>> shards;
      {
        absl::MutexLock lock(&mu_);
        const std::vector<HostId>& hosts = out->shard_hosts();
        for (size_t i = 0; i < hosts.size(); ++i) {
          if (auto w = workers_.find(hosts[i]); w != workers_.end()) {
            shards[w->second.worker].push_back(static_cast<int32_t>(i));
          }
        }
      }
      for (auto& [worker, list] : shards) worker->FailShards(out->id(), list, status);
    }
    DropArrayRef(out);
  }
  for (ArrayId id : control->internal) {
    absl::Status s = ReleaseArray(control->client, id);
    if (!s.ok()) PW_LOG(WARNING) << control->where << ": " << s;
  }
  // Ends the hold too: what waited behind the step goes out now, after its last run.
  for (GangScheduler* scheduler : control->holder.schedulers) {
    absl::Status s = scheduler->OnRunFinished(control->holder.id);
    if (!s.ok()) PW_LOG(WARNING) << control->where << ": " << s;
  }
}

}  // namespace pw
