// Client, VirtualDeviceSet, PmapFunction, ProgramTracer and Program.
#include "pathways/client/client.h"

#include <algorithm>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "pathways/base/status.h"
#include "pathways/client/global_array.h"
#include "pathways/rpc/grpc_controller_client.h"

namespace pw {

using internal::AdoptArray;
using internal::ClientState;

// ---------------------------------------------------------------------------------------------
// Client

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(ControllerService& controller, std::string name,
                                                        ConnectOptions options) {
  PW_ASSIGN_OR_RETURN(ClientId id, controller.Connect(name, options));
  auto state = std::make_shared<ClientState>();
  state->controller = &controller;
  state->id = id;
  state->name = std::move(name);
  return std::unique_ptr<Client>(new Client(std::move(state)));
}

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(std::shared_ptr<ControllerService> controller,
                                                        std::string name, ConnectOptions options) {
  PW_CHECK(controller != nullptr);
  PW_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, Connect(*controller, std::move(name), options));
  client->state_->owned_controller = std::move(controller);
  return client;
}

absl::StatusOr<std::unique_ptr<Client>> Client::ConnectTo(const std::string& address, std::string name,
                                                          absl::Duration timeout, ConnectOptions options) {
  PW_ASSIGN_OR_RETURN(std::unique_ptr<GrpcControllerClient> stub,
                      GrpcControllerClient::Connect(address, timeout));
  return Connect(std::shared_ptr<ControllerService>(std::move(stub)), std::move(name), options);
}

Client::~Client() {
  state_->disconnected.store(true, std::memory_order_release);
  state_->controller->Disconnect(state_->id);
}

absl::StatusOr<VirtualSlice> Client::GetDevices(int64_t n) { return MakeVirtualDeviceSet().AddSlice(n); }

absl::Status Client::Cancel(const Array& output) {
  if (!output.valid() || !output.producer().valid()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Cancel: ", output.valid() ? output.id().DebugString() : std::string("an empty Array"),
        " is not computed by a run (it was put or restored)"));
  }
  return state_->controller->CancelRun(state_->id, output.producer());
}

absl::StatusOr<VirtualSlice> Client::RepairSlice(const VirtualSlice& slice, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Duration backoff = absl::Milliseconds(5);
  while (true) {
    absl::StatusOr<VirtualSlice> repaired = state_->controller->RepairSlice(state_->id, slice.id);
    // A mapping no newer than the caller's means the loss it saw is not declared yet.
    if (repaired.ok() && repaired->mapping_version > slice.mapping_version) return repaired;
    if (!repaired.ok() && repaired.status().code() != absl::StatusCode::kResourceExhausted) {
      return repaired;
    }
    if (absl::Now() + backoff > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "RepairSlice: ", slice.id.DebugString(), " not repaired within ",
          absl::FormatDuration(timeout), ": ",
          repaired.ok() ? absl::StrCat("its mapping (version ", repaired->mapping_version,
                                       ") is the caller's; none of its hosts was declared lost")
                        : repaired.status().message()));
    }
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Milliseconds(100));
  }
}

absl::StatusOr<Array> Client::Put(const VirtualSlice& slice, std::vector<ir::Literal> shards,
                                  Sharding sharding) {
  PW_ASSIGN_OR_RETURN(ArrayInfo info, state_->controller->PutArray(state_->id, slice.id,
                                                                   std::move(shards),
                                                                   std::move(sharding)));
  return AdoptArray(state_, std::move(info));
}

absl::StatusOr<Array> Client::Reshard(const Array& array, const VirtualSlice& slice,
                                      Sharding sharding) {
  if (!array.valid()) return absl::InvalidArgumentError("Reshard: an empty Array");
  // A program of no calls whose one output is its input placed on `slice`: registered once per
  // (input spec, destination), then run like any program.
  const std::string key = absl::StrCat(array.spec().shard_type.DebugString(), "@",
                                       array.spec().slice.value(), "/",
                                       array.sharding().DebugString(), "->", slice.id.value(),
                                       "/", sharding.DebugString());
  ProgramId program;
  bool found = false;
  {
    absl::MutexLock lock(&state_->mu);
    auto it = state_->reshards.find(key);
    if (it != state_->reshards.end()) {
      program = it->second;
      found = true;
    }
  }
  if (!found) {
    ProgramDef def;
    def.name = absl::StrCat("reshard to ", slice.id.DebugString());
    def.inputs.push_back(array.spec());
    def.outputs.push_back(ValueRef{ValueRef::kProgramInput, 0});
    def.output_placements.push_back(OutputPlacement{slice.id, std::move(sharding)});
    PW_ASSIGN_OR_RETURN(program, state_->controller->RegisterProgram(state_->id, std::move(def)));
    absl::MutexLock lock(&state_->mu);
    state_->reshards.emplace(key, program);
  }
  const ArrayId input = array.id();
  PW_ASSIGN_OR_RETURN(RunResult result,
                      state_->controller->Run(state_->id, program, absl::MakeConstSpan(&input, 1),
                                              RunOptions{}));
  if (result.outputs.size() != 1) {
    return absl::InternalError(absl::StrCat("Reshard: the run returned ", result.outputs.size(),
                                            " arrays"));
  }
  return AdoptArray(state_, std::move(result.outputs[0]), result.run);
}

absl::Status Client::SaveCheckpoint(const std::string& directory,
                                    absl::Span<const NamedArray> arrays, std::string metadata) {
  SaveCheckpointRequest request;
  request.directory = directory;
  request.metadata = std::move(metadata);
  for (const NamedArray& a : arrays) {
    if (!a.array.valid()) {
      return absl::InvalidArgumentError(
          absl::StrCat("SaveCheckpoint(", directory, "): array \"", a.name, "\" is not an array"));
    }
    request.arrays.push_back({a.name, a.array.id()});
  }
  return state_->controller->SaveCheckpoint(state_->id, std::move(request))->Await();
}

absl::StatusOr<Client::Restored> Client::RestoreCheckpoint(const std::string& directory,
                                                           absl::Span<const RestoreEntry> arrays) {
  RestoreCheckpointRequest request;
  request.directory = directory;
  for (const RestoreEntry& e : arrays) request.arrays.push_back({e.name, e.slice, e.shard_type});
  PW_ASSIGN_OR_RETURN(RestoredCheckpoint restored,
                      state_->controller->RestoreCheckpoint(state_->id, std::move(request)));
  Restored out;
  out.metadata = std::move(restored.metadata);
  for (ArrayInfo& info : restored.arrays) out.arrays.push_back(AdoptArray(state_, std::move(info)));
  return out;
}

absl::StatusOr<Array> Client::PutGlobal(const VirtualSlice& slice, const ir::Literal& global,
                                        Sharding sharding) {
  const std::vector<int64_t> mesh =
      MeshOrLine(slice.mesh_shape, static_cast<int64_t>(slice.devices.size()));
  absl::StatusOr<std::vector<ir::Literal>> shards = SplitGlobal(global, sharding, mesh);
  if (!shards.ok()) {
    return Annotate(shards.status(), absl::StrCat("PutGlobal of ", global.type().DebugString(),
                                                  " on ", slice.id.DebugString()));
  }
  return Put(slice, *std::move(shards), std::move(sharding));
}

// ---------------------------------------------------------------------------------------------
// VirtualDeviceSet

absl::StatusOr<VirtualSlice> VirtualDeviceSet::AddSlice(int64_t num_devices) {
  SliceRequest request;
  request.num_devices = num_devices;
  return AddSlice(std::move(request));
}

absl::StatusOr<VirtualSlice> VirtualDeviceSet::AddSlice(SliceRequest request) {
  PW_ASSIGN_OR_RETURN(VirtualSlice slice,
                      client_.controller().AllocateSlice(client_.id(), std::move(request)));
  slices_.push_back(slice);
  return slice;
}

// ---------------------------------------------------------------------------------------------
// PmapFunction

struct PmapFunction::State {
  std::shared_ptr<ClientState> client;
  std::string name;
  VirtualSlice slice;
  std::vector<int64_t> mesh;  // the slice's
  PmapBody body;
  PmapOptions options;
  absl::Mutex mu;
  // Traced functions by argument shard types; op-by-op programs by argument specs.
  absl::flat_hash_map<std::string, TracedFunction> functions ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<std::string, ProgramId> programs ABSL_GUARDED_BY(mu);
};

namespace {
std::string SignatureKey(absl::Span<const ir::TensorType> types) {
  std::string key;
  for (const ir::TensorType& t : types) absl::StrAppend(&key, t.DebugString(), ";");
  return key;
}
}  // namespace

PmapFunction Client::Pmap(std::string name, VirtualSlice slice, PmapBody body,
                          PmapOptions options) {
  auto state = std::make_shared<PmapFunction::State>();
  state->client = state_;
  state->name = std::move(name);
  state->mesh = MeshOrLine(slice.mesh_shape, static_cast<int64_t>(slice.devices.size()));
  state->slice = std::move(slice);
  state->body = std::move(body);
  state->options = std::move(options);
  return PmapFunction(std::move(state));
}

absl::StatusOr<std::vector<ir::TensorType>> PmapFunction::ParameterTypes(
    absl::Span<const ArraySpec* const> specs,
    absl::Span<const std::vector<int64_t>* const> meshes) const {
  const PmapOptions& options = state_->options;
  if (!options.in_shardings.empty() && options.in_shardings.size() != specs.size()) {
    return absl::InvalidArgumentError(absl::StrCat("pmap '", state_->name, "': ", specs.size(),
                                                   " arguments but ",
                                                   options.in_shardings.size(),
                                                   " input shardings"));
  }
  std::vector<ir::TensorType> types;
  for (size_t i = 0; i < specs.size(); ++i) {
    const ArraySpec& spec = *specs[i];
    const Sharding sharding =
        options.in_shardings.empty() ? Sharding::Stacked() : options.in_shardings[i];
    if (spec.sharding.stacked() && sharding.stacked()) {  // shard by shard (lowering checks counts)
      types.push_back(spec.shard_type);
      continue;
    }
    const std::string where = absl::StrCat("pmap '", state_->name, "' argument ", i);
    if (meshes[i]->empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": the mesh of its slice is unknown"));
    }
    const ir::Shape global = GlobalShape(spec.shard_type.shape, spec.sharding, *meshes[i]);
    if (absl::Status s = ValidateSharding(sharding, global.rank() - (sharding.stacked() ? 1 : 0),
                                          state_->mesh);
        !s.ok()) {
      return Annotate(s, where);
    }
    absl::StatusOr<ir::Shape> shard = ShardShape(global, sharding, state_->mesh);
    if (!shard.ok()) {
      return Annotate(shard.status(),
                      absl::StrCat(where, " of global shape ", global.DebugString()));
    }
    types.push_back(ir::TensorType{spec.shard_type.dtype, *std::move(shard)});
  }
  return types;
}

const Sharding& PmapFunction::OutSharding(size_t k) const {
  static const Sharding* stacked = new Sharding(Sharding::Stacked());
  const std::vector<Sharding>& out = state_->options.out_shardings;
  if (out.size() == 1) return out[0];
  return k < out.size() ? out[k] : *stacked;
}

std::vector<Sharding> PmapFunction::OutShardings(size_t num_outputs) const {
  if (state_->options.out_shardings.empty()) return {};
  std::vector<Sharding> out;
  for (size_t k = 0; k < num_outputs; ++k) out.push_back(OutSharding(k));
  return out;
}

const std::string& PmapFunction::name() const { return state_->name; }
const VirtualSlice& PmapFunction::slice() const { return state_->slice; }

absl::StatusOr<PmapFunction::TracedFunction> PmapFunction::Trace(
    absl::Span<const ir::TensorType> shard_types) const {
  const std::string key = SignatureKey(shard_types);
  {
    absl::MutexLock lock(&state_->mu);
    auto it = state_->functions.find(key);
    if (it != state_->functions.end()) return it->second;
  }
  ir::FunctionBuilder b(state_->name,
                        {.num_shards = static_cast<int64_t>(state_->slice.devices.size())});
  std::vector<ir::Value> params;
  for (size_t i = 0; i < shard_types.size(); ++i) {
    params.push_back(b.Parameter(shard_types[i], absl::StrCat("arg", i)));
  }
  std::vector<ir::Value> results = state_->body(b, params);
  absl::StatusOr<ir::Function> function = b.Build(results);
  if (!function.ok()) return Annotate(function.status(), absl::StrCat("tracing pmap '", state_->name, "'"));
  TracedFunction traced;
  traced.output_types = function->output_types();
  PW_ASSIGN_OR_RETURN(traced.id, state_->client->controller->RegisterFunction(state_->client->id,
                                                                              *std::move(function)));
  absl::MutexLock lock(&state_->mu);
  state_->functions.emplace(key, traced);
  return traced;
}

absl::StatusOr<FunctionId> PmapFunction::FunctionFor(absl::Span<const ir::TensorType> shard_types) const {
  PW_ASSIGN_OR_RETURN(TracedFunction traced, Trace(shard_types));
  return traced.id;
}

absl::StatusOr<std::vector<Array>> PmapFunction::operator()(absl::Span<const Array> args,
                                                            RunOptions options) const {
  std::vector<const ArraySpec*> specs;
  std::vector<std::vector<int64_t>> meshes(args.size());
  std::vector<const std::vector<int64_t>*> mesh_ptrs;
  std::string key;
  for (size_t i = 0; i < args.size(); ++i) {
    if (!args[i].valid()) {
      return absl::InvalidArgumentError(absl::StrCat("pmap '", state_->name, "': argument ", i, " is an empty Array"));
    }
    specs.push_back(&args[i].spec());
    meshes[i] = args[i].mesh();
    mesh_ptrs.push_back(&meshes[i]);
    absl::StrAppend(&key, args[i].shard_type().DebugString(), "@", args[i].spec().slice.value(),
                    "/", args[i].sharding().DebugString(), ";");
  }
  PW_ASSIGN_OR_RETURN(std::vector<ir::TensorType> types, ParameterTypes(specs, mesh_ptrs));
  ProgramId program;
  bool found = false;
  {
    absl::MutexLock lock(&state_->mu);
    auto it = state_->programs.find(key);
    if (it != state_->programs.end()) {
      program = it->second;
      found = true;
    }
  }
  if (!found) {
    // Op-by-op: the call becomes a one-node program, registered once per argument specs.
    PW_ASSIGN_OR_RETURN(TracedFunction traced, Trace(types));
    ProgramDef def;
    def.name = state_->name;
    ProgramCall call{.name = state_->name, .function = traced.id, .slice = state_->slice.id, .args = {}};
    call.arg_shardings = state_->options.in_shardings;
    call.out_shardings = OutShardings(traced.output_types.size());
    for (size_t i = 0; i < args.size(); ++i) {
      def.inputs.push_back(args[i].spec());
      call.args.push_back(ValueRef{ValueRef::kProgramInput, static_cast<int64_t>(i)});
    }
    def.calls.push_back(std::move(call));
    for (size_t k = 0; k < traced.output_types.size(); ++k) {
      def.outputs.push_back(ValueRef{0, static_cast<int64_t>(k)});
    }
    PW_ASSIGN_OR_RETURN(program, state_->client->controller->RegisterProgram(state_->client->id, std::move(def)));
    absl::MutexLock lock(&state_->mu);
    state_->programs.emplace(key, program);
  }
  std::vector<ArrayId> ids;
  ids.reserve(args.size());
  for (const Array& a : args) ids.push_back(a.id());
  PW_ASSIGN_OR_RETURN(RunResult result, state_->client->controller->Run(state_->client->id, program, ids, options));
  std::vector<Array> out;
  out.reserve(result.outputs.size());
  for (ArrayInfo& info : result.outputs) {
    out.push_back(AdoptArray(state_->client, std::move(info), result.run));
  }
  return out;
}

std::vector<Traced> PmapFunction::operator()(ProgramTracer& tracer, absl::Span<const Traced> args) const {
  // On error, one placeholder value, so `f(tracer, args)[0]` stays safe; Build() reports it.
  if (!tracer.status().ok()) return std::vector<Traced>(1);
  std::vector<const ArraySpec*> specs;
  std::vector<const std::vector<int64_t>*> meshes;
  for (const Traced& t : args) {
    specs.push_back(&t.spec);
    meshes.push_back(&t.mesh);
  }
  absl::StatusOr<std::vector<ir::TensorType>> types = ParameterTypes(specs, meshes);
  if (!types.ok()) {
    tracer.Fail(types.status());
    return std::vector<Traced>(1);
  }
  absl::StatusOr<TracedFunction> traced = Trace(*types);
  if (!traced.ok()) {
    tracer.Fail(traced.status());
    return std::vector<Traced>(1);
  }
  const int64_t node = static_cast<int64_t>(tracer.def_.calls.size());
  ProgramCall call{.name = state_->name, .function = traced->id, .slice = state_->slice.id, .args = {}};
  call.arg_shardings = state_->options.in_shardings;
  call.out_shardings = OutShardings(traced->output_types.size());
  for (const Traced& t : args) call.args.push_back(t.ref);
  tracer.def_.calls.push_back(std::move(call));
  std::vector<Traced> out;
  for (size_t k = 0; k < traced->output_types.size(); ++k) {
    out.push_back(Traced{ValueRef{node, static_cast<int64_t>(k)},
                         ArraySpec{traced->output_types[k], state_->slice.id, OutSharding(k)},
                         state_->mesh});
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// ProgramTracer and Program

ProgramTracer::ProgramTracer(Client& client, std::string name) : client_(client) { def_.name = std::move(name); }

void ProgramTracer::Fail(absl::Status status) {
  if (status_.ok()) status_ = Annotate(status, absl::StrCat("tracing program '", def_.name, "'"));
}

Traced ProgramTracer::Input(ArraySpec spec, std::vector<int64_t> mesh) {
  def_.inputs.push_back(spec);
  return Traced{ValueRef{ValueRef::kProgramInput, static_cast<int64_t>(def_.inputs.size()) - 1},
                std::move(spec), std::move(mesh)};
}

absl::StatusOr<Program> ProgramTracer::Build(absl::Span<const Traced> outputs) {
  PW_RETURN_IF_ERROR(status_);
  ProgramDef def = def_;
  for (const Traced& t : outputs) def.outputs.push_back(t.ref);
  PW_ASSIGN_OR_RETURN(ProgramId id, client_.controller().RegisterProgram(client_.id(), def));
  return Program(client_.state_, id, std::move(def));
}

absl::StatusOr<std::vector<Array>> Program::Run(absl::Span<const Array> inputs, RunOptions options) const {
  std::vector<ArrayId> ids;
  ids.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].valid()) {
      return absl::InvalidArgumentError(absl::StrCat("program '", def_.name, "': input ", i, " is an empty Array"));
    }
    ids.push_back(inputs[i].id());
  }
  PW_ASSIGN_OR_RETURN(RunResult result, client_->controller->Run(client_->id, id_, ids, options));
  std::vector<Array> out;
  out.reserve(result.outputs.size());
  for (ArrayInfo& info : result.outputs) out.push_back(AdoptArray(client_, std::move(info), result.run));
  return out;
}

namespace {

absl::StatusOr<std::vector<Array>> RunControl(const std::shared_ptr<internal::ClientState>& client,
                                              ControlRequest request,
                                              absl::Span<const Array> inputs,
                                              std::string_view what) {
  std::vector<ArrayId> ids;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].valid()) {
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(what), ": input ", i, " is an empty Array"));
    }
    ids.push_back(inputs[i].id());
  }
  PW_ASSIGN_OR_RETURN(RunResult result,
                      client->controller->RunControl(client->id, std::move(request), ids));
  std::vector<Array> out;
  for (ArrayInfo& info : result.outputs) out.push_back(AdoptArray(client, std::move(info)));
  return out;
}

}  // namespace

absl::StatusOr<std::vector<Array>> Client::Case(const Array& index,
                                                absl::Span<const Program> branches,
                                                absl::Span<const Array> operands) {
  ControlRequest request;
  request.kind = ControlRequest::Kind::kCase;
  for (const Program& p : branches) request.programs.push_back(p.id());
  std::vector<Array> inputs = {index};
  inputs.insert(inputs.end(), operands.begin(), operands.end());
  return RunControl(state_, std::move(request), inputs, "Case");
}

absl::StatusOr<std::vector<Array>> Client::While(const Program& cond, const Program& body,
                                                 absl::Span<const Array> init,
                                                 int64_t max_iterations) {
  ControlRequest request;
  request.kind = ControlRequest::Kind::kWhile;
  request.programs = {cond.id(), body.id()};
  request.max_iterations = max_iterations;
  return RunControl(state_, std::move(request), init, "While");
}

}  // namespace pw
