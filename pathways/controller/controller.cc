// Controller: clients, slices, functions, programs, arrays and status. Runs: controller_run.cc.
#include "pathways/controller/controller.h"
#include "pathways/controller/run_state.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pathways/base/logging.h"
#include "pathways/base/status.h"
#include "pathways/ir/serialization.h"

namespace pw {

Controller::WorkQueue::WorkQueue() : thread_([this] { Loop(); }) {}

Controller::WorkQueue::~WorkQueue() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    // Pending tasks would talk to workers that may already be gone (workers are destroyed
    // before the controller); dropping them only skips frees of memory that dies with them.
    tasks_.clear();
  }
  thread_.join();
}

void Controller::WorkQueue::Post(absl::AnyInvocable<void()> task) {
  absl::MutexLock lock(&mu_);
  if (stop_) return;
  tasks_.push_back(std::move(task));
}

void Controller::WorkQueue::Quiesce() {
  if (std::this_thread::get_id() == thread_.get_id()) return;  // would wait for itself
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](WorkQueue* q) ABSL_EXCLUSIVE_LOCKS_REQUIRED(q->mu_) {
        return q->stop_ || (q->tasks_.empty() && !q->busy_);
      },
      this));
}

void Controller::WorkQueue::Loop() {
  absl::MutexLock lock(&mu_);
  while (true) {
    mu_.Await(absl::Condition(
        +[](WorkQueue* q) ABSL_EXCLUSIVE_LOCKS_REQUIRED(q->mu_) {
          return q->stop_ || !q->tasks_.empty();
        },
        this));
    if (stop_) return;
    absl::AnyInvocable<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    busy_ = true;
    mu_.Unlock();
    task();
    task = nullptr;  // destroy captures outside the lock too
    mu_.Lock();
    busy_ = false;
  }
}

Controller::Controller(ControllerOptions options)
    : options_(options), resources_(options.resources) {
  PW_CHECK(resources_ != nullptr) << "ControllerOptions.resources is required";
  if (options_.trace != nullptr) options_.trace->NameProcess(kControllerTracePid, "controller");
}

Controller::~Controller() {
  // No deadline callback runs (and posts work) from here on; Cancel stays valid for the work
  // thread's last tasks.
  deadlines_.Stop();
}

void Controller::Quiesce() { work_.Quiesce(); }

absl::Status Controller::CheckClientLocked(ClientId client) const {
  if (!clients_.contains(client)) {
    return absl::NotFoundError(absl::StrCat("unknown ", client.DebugString()));
  }
  return absl::OkStatus();
}

GangScheduler* Controller::SchedulerLocked(IslandId island) {
  std::unique_ptr<GangScheduler>& s = schedulers_[island];
  if (s == nullptr) {
    GangSchedulerOptions options;
    options.max_runs_in_flight = options_.scheduler_window;
    absl::StatusOr<std::unique_ptr<SchedulingPolicy>> policy = MakeSchedulingPolicy(options_.scheduler);
    PW_CHECK(policy.ok()) << policy.status();  // ControllerOptions::scheduler is checked by callers
    options.policy = *std::move(policy);
    options.executor = [this](absl::AnyInvocable<void()> task) { work_.Post(std::move(task)); };
    s = std::make_unique<GangScheduler>(island, std::move(options));
  }
  return s.get();
}

absl::Status Controller::AddWorker(HostId host, WorkerService* worker) {
  if (worker == nullptr) return absl::InvalidArgumentError("AddWorker: null worker");
  PW_ASSIGN_OR_RETURN(HostInfo info, resources_->GetHost(host));
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = workers_.try_emplace(host);
  if (!inserted) {
    return absl::AlreadyExistsError(absl::StrCat("AddWorker: ", host.DebugString(),
                                                 " already has a worker"));
  }
  it->second.worker = worker;
  it->second.island = info.island;
  SchedulerLocked(info.island);
  return absl::OkStatus();
}

absl::StatusOr<ClientId> Controller::Connect(std::string client_name, ConnectOptions options) {
  PW_RETURN_IF_ERROR(ValidateConnectOptions(options));
  absl::MutexLock lock(&mu_);
  const ClientId id(next_client_++);
  ClientRecord& record = clients_[id];
  record.name = std::move(client_name);
  record.options = options;
  return id;
}

void Controller::Disconnect(ClientId client) {
  std::vector<std::shared_ptr<RunState>> unfinished;
  {
    absl::MutexLock lock(&mu_);
    auto it = clients_.find(client);
    if (it == clients_.end()) return;  // idempotent
    for (const auto& [id, run] : runs_) {
      if (run->client == client && !run->holder.valid()) unfinished.push_back(run);
    }
    for (ProgramId program : it->second.programs) {
      programs_.erase(program);
      lowering_cache_.Erase(program);
    }
    for (auto l = landing_programs_.begin(); l != landing_programs_.end();) {
      if (l->first.first == client) {
        landing_programs_.erase(l++);
      } else {
        ++l;
      }
    }
    clients_.erase(it);
  }
  // Its runs stop: nobody is left to read their outputs.
  for (const auto& run : unfinished) {
    CancelRunWith(run, absl::CancelledError(absl::StrCat(run->id.DebugString(), " was cancelled: ",
                                                         client.DebugString(), " disconnected")));
  }
  for (auto& [record, handles] : arrays_.ReleaseClient(client)) DropArrayRef(record, handles);
  resources_->ReleaseClient(client);
}

absl::StatusOr<VirtualSlice> Controller::OwnedSlice(ClientId client, SliceId slice) const {
  absl::StatusOr<VirtualSlice> s = resources_->GetSlice(slice);
  if (s.ok() && s->client != client) {
    return absl::NotFoundError(
        absl::StrCat("unknown ", slice.DebugString(), " for ", client.DebugString()));
  }
  return s;
}

absl::StatusOr<VirtualSlice> Controller::AllocateSlice(ClientId client, SliceRequest request) {
  {
    absl::MutexLock lock(&mu_);
    PW_RETURN_IF_ERROR(CheckClientLocked(client));
  }
  return resources_->AllocateSlice(client, std::move(request));
}

absl::StatusOr<VirtualSlice> Controller::RepairSlice(ClientId client, SliceId slice) {
  {
    absl::MutexLock lock(&mu_);
    PW_RETURN_IF_ERROR(CheckClientLocked(client));
  }
  return resources_->RepairSlice(client, slice);
}

absl::Status Controller::ReleaseSlice(ClientId client, SliceId slice) {
  {
    absl::MutexLock lock(&mu_);
    PW_RETURN_IF_ERROR(CheckClientLocked(client));
  }
  absl::StatusOr<VirtualSlice> owned = OwnedSlice(client, slice);
  // A failed slice can still be given back; only another client's slice is hidden.
  if (!owned.ok() && owned.status().code() == absl::StatusCode::kNotFound) return owned.status();
  return resources_->ReleaseSlice(slice);
}

absl::StatusOr<FunctionId> Controller::RegisterFunction(ClientId client, ir::Function function) {
  {
    absl::MutexLock lock(&mu_);
    PW_RETURN_IF_ERROR(CheckClientLocked(client));
  }
  if (absl::Status s = ir::Verify(function); !s.ok()) {
    return Annotate(s, absl::StrCat("RegisterFunction('", function.name, "')"));
  }
  const uint64_t fingerprint = ir::Fingerprint(function);
  absl::MutexLock lock(&mu_);
  std::vector<FunctionId>& same = functions_by_fingerprint_[fingerprint];
  for (FunctionId id : same) {
    // A fingerprint collision must not merge different functions.
    if (*functions_.at(id).function == function) return id;
  }
  const FunctionId id(next_function_++);
  FunctionRecord& record = functions_[id];
  record.signature.id = id;
  record.signature.name = function.name;
  record.signature.num_shards = function.num_shards;
  record.signature.parameter_types = function.parameter_types();
  record.signature.output_types = function.output_types();
  record.function = std::make_shared<const ir::Function>(std::move(function));
  same.push_back(id);
  return id;
}

absl::StatusOr<LoweringContext> Controller::MakeLoweringContext(
    const ProgramRecord& program) const {
  LoweringContext context;
  {
    absl::MutexLock lock(&mu_);
    for (const ProgramCall& call : program.def.calls) {
      auto it = functions_.find(call.function);
      if (it != functions_.end()) context.functions.emplace(call.function, it->second.signature);
    }
  }
  for (SliceId slice : program.slices) {
    absl::StatusOr<VirtualSlice> s = OwnedSlice(program.owner, slice);
    if (!s.ok()) return Annotate(s.status(), absl::StrCat("program '", program.def.name, "'"));
    context.slices.emplace(slice, s->devices);
    context.slice_meshes.emplace(slice, s->mesh_shape);
  }
  for (const DeviceInfo& device : resources_->Devices()) {
    context.devices.emplace(device.id, DeviceLocation{device.host, device.island});
  }
  return context;
}

absl::StatusOr<ProgramId> Controller::RegisterProgram(ClientId client, ProgramDef def) {
  auto record = std::make_shared<ProgramRecord>();
  record->owner = client;
  {
    absl::MutexLock lock(&mu_);
    PW_RETURN_IF_ERROR(CheckClientLocked(client));
  }
  for (const ArraySpec& input : def.inputs) record->slices.push_back(input.slice);
  for (const ProgramCall& call : def.calls) record->slices.push_back(call.slice);
  for (const OutputPlacement& placement : def.output_placements) {
    if (placement.slice.valid()) record->slices.push_back(placement.slice);
  }
  std::sort(record->slices.begin(), record->slices.end());
  record->slices.erase(std::unique(record->slices.begin(), record->slices.end()),
                       record->slices.end());
  record->def = std::move(def);
  const std::string where = absl::StrCat("RegisterProgram('", record->def.name, "')");
  absl::StatusOr<LoweringContext> context = MakeLoweringContext(*record);
  if (!context.ok()) return Annotate(context.status(), where);
  absl::StatusOr<std::shared_ptr<const LoweredProgram>> lowered =
      LowerProgram(record->def, *context);
  if (!lowered.ok()) return Annotate(lowered.status(), where);
  for (size_t o = 0; o < record->def.outputs.size(); ++o) {
    const ValueRef& ref = record->def.outputs[o];
    const int32_t slot = (*lowered)->output_values[o];
    ArraySpec spec;
    spec.shard_type = (*lowered)->values[slot].shard_type;
    if (ref.node == ValueRef::kProgramInput) {
      spec.slice = record->def.inputs[ref.index].slice;
      spec.sharding = record->def.inputs[ref.index].sharding;
    } else {
      const ProgramCall& call = record->def.calls[ref.node];
      spec.slice = call.slice;
      if (static_cast<size_t>(ref.index) < call.out_shardings.size()) {
        spec.sharding = call.out_shardings[ref.index];
      }
    }
    if (!record->def.output_placements.empty()) {
      const OutputPlacement& placement = record->def.output_placements[o];
      if (placement.slice.valid()) spec.slice = placement.slice;
      spec.sharding = placement.sharding;
    }
    const auto mesh = context->slice_meshes.find(spec.slice);
    record->output_meshes.push_back(mesh == context->slice_meshes.end()
                                        ? std::vector<int64_t>{}
                                        : mesh->second);
    record->output_specs.push_back(std::move(spec));
  }
  LoweringCache::Key key;
  for (SliceId slice : record->slices) {
    key.slice_versions.emplace_back(slice, resources_->mapping_version(slice));
  }
  absl::MutexLock lock(&mu_);
  auto client_it = clients_.find(client);
  if (client_it == clients_.end()) {
    return absl::NotFoundError(absl::StrCat(where, ": ", client.DebugString(), " disconnected"));
  }
  const ProgramId id(next_program_++);
  key.program = id;
  lowering_cache_.Insert(key, *std::move(lowered));
  client_it->second.programs.insert(id);
  programs_.emplace(id, std::move(record));
  return id;
}

absl::StatusOr<ArrayInfo> Controller::PutArray(ClientId client, SliceId slice,
                                               std::vector<ir::Literal> shards,
                                               Sharding sharding) {
  {
    absl::MutexLock lock(&mu_);
    PW_RETURN_IF_ERROR(CheckClientLocked(client));
  }
  PW_ASSIGN_OR_RETURN(VirtualSlice s, OwnedSlice(client, slice));
  const std::string where = absl::StrCat("PutArray on ", slice.DebugString());
  if (shards.size() != s.devices.size()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", shards.size(),
                                                   " shards for a slice of ", s.devices.size(),
                                                   " devices"));
  }
  for (size_t i = 1; i < shards.size(); ++i) {
    if (shards[i].type() != shards[0].type()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": shard ", i, " is ", shards[i].type().DebugString(), " but shard 0 is ",
          shards[0].type().DebugString()));
    }
  }
  if (!shards.empty()) {
    PW_RETURN_IF_ERROR(Annotate(
        ValidateSharding(sharding, shards[0].type().shape.rank(),
                         MeshOrLine(s.mesh_shape, static_cast<int64_t>(s.devices.size()))),
        where));
  }
  PW_ASSIGN_OR_RETURN(std::vector<HostId> hosts, HostsOf(s.devices));
  PW_ASSIGN_OR_RETURN(std::vector<WorkerService*> workers, WorkersOf(hosts, where));
  ArrayFootprint footprint;
  footprint.Add(shards.empty() ? ir::TensorType{} : shards[0].type(), s.devices);
  PW_RETURN_IF_ERROR(Annotate(arrays_.Charge(client, footprint, options_.quota), where));
  const ArrayId id = arrays_.NewId();
  for (size_t i = 0; i < shards.size(); ++i) {
    absl::Status put = workers[i]->PutShard(id, static_cast<int32_t>(i), s.devices[i], shards[i]);
    if (!put.ok()) {
      arrays_.Refund(client, footprint);
      for (size_t j = 0; j < i; ++j) workers[j]->Release({id});
      return Annotate(put, absl::StrCat(where, " shard ", i, " on ", s.devices[i].DebugString()));
    }
  }
  ArraySpec spec{shards.empty() ? ir::TensorType{} : shards[0].type(), slice, std::move(sharding)};
  auto record = std::make_shared<ArrayRecord>(id, client, std::move(spec), s.devices,
                                              std::move(hosts), ArrayRecord::Initial::kReady,
                                              s.mesh_shape);
  arrays_.AddHandle(record);
  for (const ir::Literal& shard : shards) metrics_.put_bytes.Add(shard.byte_size());
  return record->info();
}

absl::StatusOr<std::vector<HostId>> Controller::HostsOf(absl::Span<const DeviceId> devices) const {
  std::vector<HostId> hosts;
  hosts.reserve(devices.size());
  for (DeviceId device : devices) {
    PW_ASSIGN_OR_RETURN(DeviceInfo info, resources_->GetDevice(device));
    hosts.push_back(info.host);
  }
  return hosts;
}

absl::StatusOr<std::vector<WorkerService*>> Controller::WorkersOf(absl::Span<const HostId> hosts,
                                                                  const std::string& where) const {
  std::vector<WorkerService*> workers;
  workers.reserve(hosts.size());
  absl::MutexLock lock(&mu_);
  for (HostId host : hosts) {
    auto it = workers_.find(host);
    if (it == workers_.end()) {
      return absl::UnavailableError(absl::StrCat(where, ": ", host.DebugString(), " has no worker"));
    }
    workers.push_back(it->second.worker);
  }
  return workers;
}

EventRef Controller::AwaitArray(ClientId client, ArrayId array) {
  absl::StatusOr<std::shared_ptr<ArrayRecord>> record = arrays_.Get(client, array);
  if (!record.ok()) return AsyncEvent::CreateError(record.status());
  return (*record)->ready();
}

AsyncValueRef<std::vector<ir::Literal>> Controller::FetchArray(ClientId client, ArrayId array) {
  auto result = MakeAsyncValue<std::vector<ir::Literal>>();
  absl::StatusOr<std::shared_ptr<ArrayRecord>> found = arrays_.Get(client, array);
  if (!found.ok()) {
    result->SetError(found.status());
    return result;
  }
  std::shared_ptr<ArrayRecord> record = *std::move(found);
  record->AddRef();  // the shards stay on the hosts until fetched
  auto fetch = [this, record, result]() {
    const absl::Status& ready = record->ready()->status();
    if (!ready.ok()) {
      result->SetError(ready);
      DropArrayRef(record);
      return;
    }
    absl::StatusOr<std::vector<WorkerService*>> found_workers =
        WorkersOf(record->shard_hosts(), absl::StrCat("FetchArray(", record->id().DebugString(), ")"));
    if (!found_workers.ok()) {
      result->SetError(found_workers.status());
      DropArrayRef(record);
      return;
    }
    std::vector<WorkerService*> workers = *std::move(found_workers);
    struct Gather {
      absl::Mutex mu;
      std::vector<ir::Literal> shards;
      absl::Status error;
      int64_t pending = 0;
    };
    auto gather = std::make_shared<Gather>();
    gather->shards.resize(workers.size());
    gather->pending = static_cast<int64_t>(workers.size());
    if (workers.empty()) {
      result->SetValue({});
      DropArrayRef(record);
      return;
    }
    for (size_t i = 0; i < workers.size(); ++i) {
      AsyncValueRef<ir::Literal> shard = workers[i]->FetchShard(record->id(), static_cast<int32_t>(i));
      shard->AndThen([this, shard, gather, i, record, result](const absl::Status& status) {
        bool last;
        {
          absl::MutexLock lock(&gather->mu);
          if (!status.ok()) {
            if (gather->error.ok()) gather->error = status;
          } else {
            gather->shards[i] = shard->value();
          }
          last = --gather->pending == 0;
        }
        if (!last) return;
        if (gather->error.ok()) {
          for (const ir::Literal& s : gather->shards) metrics_.fetch_bytes.Add(s.byte_size());
          result->SetValue(std::move(gather->shards));
        } else {
          result->SetError(gather->error);
        }
        DropArrayRef(record);
      });
    }
  };
  // Fetching calls workers, which must not happen on the worker thread that readies the array.
  if (record->ready()->IsAvailable()) {
    fetch();
  } else {
    record->ready()->AndThen(
        [this, fetch = std::move(fetch)](const absl::Status&) mutable { work_.Post(std::move(fetch)); });
  }
  return result;
}

absl::Status Controller::ReleaseArray(ClientId client, ArrayId array) {
  PW_ASSIGN_OR_RETURN(std::shared_ptr<ArrayRecord> record, arrays_.Release(client, array));
  DropArrayRef(record);
  return absl::OkStatus();
}

void Controller::DropArrayRef(const std::shared_ptr<ArrayRecord>& record, int64_t n) {
  if (n <= 0 || !record->DropRef(n)) return;
  work_.Post([this, record]() {
    std::vector<WorkerService*> workers;
    {
      absl::MutexLock lock(&mu_);
      std::vector<HostId> hosts = record->shard_hosts();
      std::sort(hosts.begin(), hosts.end());
      hosts.erase(std::unique(hosts.begin(), hosts.end()), hosts.end());
      for (HostId host : hosts) {
        auto it = workers_.find(host);
        if (it != workers_.end()) workers.push_back(it->second.worker);
      }
    }
    const ArrayId id = record->id();
    for (WorkerService* worker : workers) worker->Release(absl::MakeConstSpan(&id, 1));
  });
}

ClusterStatus Controller::Status() const {
  ClusterStatus status;
  status.islands = resources_->Islands();
  status.slices = resources_->Slices();
  std::vector<WorkerService*> workers;
  std::vector<GangScheduler*> schedulers;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [host, record] : workers_) workers.push_back(record.worker);
    for (const auto& [id, client] : clients_) {
      status.clients.push_back(ClientStatus{.id = id,
                                            .name = client.name,
                                            .runs = client.runs,
                                            .weight = client.options.weight,
                                            .priority = client.options.priority});
    }
    for (const auto& [island, scheduler] : schedulers_) schedulers.push_back(scheduler.get());
    status.programs = static_cast<int64_t>(programs_.size());
    status.runs = total_runs_;
  }
  // Outside mu_: a scheduler's lock is never taken under the controller's.
  for (GangScheduler* scheduler : schedulers) {
    const GangSchedulerStats s = scheduler->stats();
    status.schedulers.push_back(SchedulerStatus{.island = s.island,
                                                .policy = s.policy,
                                                .window = s.window,
                                                .queued = s.queued,
                                                .in_flight = s.in_flight,
                                                .device_nanos = s.device_nanos});
    for (const ClientSchedulerStats& c : s.clients) {
      for (ClientStatus& client : status.clients) {
        if (client.id == c.client) client.device_nanos += c.device_nanos;
      }
    }
  }
  for (ClientStatus& client : status.clients) {
    client.live_arrays = arrays_.CountOf(client.id);
    client.memory_bytes = arrays_.BytesOf(client.id);
  }
  for (WorkerService* worker : workers) status.hosts.push_back(worker->Status());
  status.lowering_cache_hits = lowering_cache_.hits();
  status.lowering_cache_misses = lowering_cache_.misses();
  return status;
}

std::string Controller::SchedulerDebugString() const {
  std::vector<const GangScheduler*> schedulers;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [island, s] : schedulers_) schedulers.push_back(s.get());
  }
  std::string out;
  for (const GangScheduler* s : schedulers) absl::StrAppend(&out, s->DebugString(), "\n");
  return out;
}

std::string Controller::DebugString() const {
  std::string out;
  {
    absl::MutexLock lock(&mu_);
    out = absl::StrCat("Controller{workers=", workers_.size(), " clients=", clients_.size(),
                       " functions=", functions_.size(), " programs=", programs_.size(),
                       " runs_in_flight=", runs_.size(), " runs=", total_runs_);
  }
  absl::StrAppend(&out, " arrays=", arrays_.size(), " lowering_cache_hits=",
                  lowering_cache_.hits(), " misses=", lowering_cache_.misses(), "}\n",
                  SchedulerDebugString());
  return out;
}

}  // namespace pw
