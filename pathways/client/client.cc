// Client, VirtualDeviceSet, PmapFunction, ProgramTracer and Program.
#include "pathways/client/client.h"

#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "pathways/base/status.h"
#include "pathways/rpc/grpc_controller_client.h"

namespace pw {

using internal::AdoptArray;
using internal::ClientState;

// ---------------------------------------------------------------------------------------------
// Client

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(ControllerService& controller, std::string name) {
  PW_ASSIGN_OR_RETURN(ClientId id, controller.Connect(name));
  auto state = std::make_shared<ClientState>();
  state->controller = &controller;
  state->id = id;
  state->name = std::move(name);
  return std::unique_ptr<Client>(new Client(std::move(state)));
}

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(std::shared_ptr<ControllerService> controller,
                                                        std::string name) {
  PW_CHECK(controller != nullptr);
  PW_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, Connect(*controller, std::move(name)));
  client->state_->owned_controller = std::move(controller);
  return client;
}

absl::StatusOr<std::unique_ptr<Client>> Client::ConnectTo(const std::string& address, std::string name,
                                                          absl::Duration timeout) {
  PW_ASSIGN_OR_RETURN(std::unique_ptr<GrpcControllerClient> stub,
                      GrpcControllerClient::Connect(address, timeout));
  return Connect(std::shared_ptr<ControllerService>(std::move(stub)), std::move(name));
}

Client::~Client() {
  state_->disconnected.store(true, std::memory_order_release);
  state_->controller->Disconnect(state_->id);
}

absl::StatusOr<VirtualSlice> Client::GetDevices(int64_t n) { return MakeVirtualDeviceSet().AddSlice(n); }

absl::StatusOr<Array> Client::Put(const VirtualSlice& slice, std::vector<ir::Literal> shards) {
  PW_ASSIGN_OR_RETURN(ArrayInfo info, state_->controller->PutArray(state_->id, slice.id, std::move(shards)));
  return AdoptArray(state_, std::move(info));
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

absl::StatusOr<Array> Client::PutGlobal(const VirtualSlice& slice, const ir::Literal& global) {
  const int64_t n = static_cast<int64_t>(slice.devices.size());
  if (global.shape().rank() < 1 || global.shape().dim(0) != n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "PutGlobal: the leading axis of ", global.type().DebugString(), " must equal the size ",
        n, " of ", slice.id.DebugString()));
  }
  ir::TensorType shard_type{global.dtype(), ir::Shape(global.shape().dims().subspan(1))};
  const int64_t shard_bytes = shard_type.byte_size();
  std::vector<ir::Literal> shards;
  shards.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    ir::Literal l(shard_type);
    if (shard_bytes > 0) {
      std::memcpy(l.untyped_data(), static_cast<const char*>(global.untyped_data()) + i * shard_bytes, shard_bytes);
    }
    shards.push_back(std::move(l));
  }
  return Put(slice, std::move(shards));
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
  PmapBody body;
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

PmapFunction Client::Pmap(std::string name, VirtualSlice slice, PmapBody body) {
  auto state = std::make_shared<PmapFunction::State>();
  state->client = state_;
  state->name = std::move(name);
  state->slice = std::move(slice);
  state->body = std::move(body);
  return PmapFunction(std::move(state));
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
  std::vector<ir::TensorType> types;
  std::string key;
  for (size_t i = 0; i < args.size(); ++i) {
    if (!args[i].valid()) {
      return absl::InvalidArgumentError(absl::StrCat("pmap '", state_->name, "': argument ", i, " is an empty Array"));
    }
    types.push_back(args[i].shard_type());
    absl::StrAppend(&key, args[i].shard_type().DebugString(), "@", args[i].spec().slice.value(), ";");
  }
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
  for (ArrayInfo& info : result.outputs) out.push_back(AdoptArray(state_->client, std::move(info)));
  return out;
}

std::vector<Traced> PmapFunction::operator()(ProgramTracer& tracer, absl::Span<const Traced> args) const {
  // On error, one placeholder value, so `f(tracer, args)[0]` stays safe; Build() reports it.
  if (!tracer.status().ok()) return std::vector<Traced>(1);
  std::vector<ir::TensorType> types;
  for (const Traced& t : args) types.push_back(t.spec.shard_type);
  absl::StatusOr<TracedFunction> traced = Trace(types);
  if (!traced.ok()) {
    tracer.Fail(traced.status());
    return std::vector<Traced>(1);
  }
  const int64_t node = static_cast<int64_t>(tracer.def_.calls.size());
  ProgramCall call{.name = state_->name, .function = traced->id, .slice = state_->slice.id, .args = {}};
  for (const Traced& t : args) call.args.push_back(t.ref);
  tracer.def_.calls.push_back(std::move(call));
  std::vector<Traced> out;
  for (size_t k = 0; k < traced->output_types.size(); ++k) {
    out.push_back(Traced{ValueRef{node, static_cast<int64_t>(k)},
                         ArraySpec{traced->output_types[k], state_->slice.id}});
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// ProgramTracer and Program

ProgramTracer::ProgramTracer(Client& client, std::string name) : client_(client) { def_.name = std::move(name); }

void ProgramTracer::Fail(absl::Status status) {
  if (status_.ok()) status_ = Annotate(status, absl::StrCat("tracing program '", def_.name, "'"));
}

Traced ProgramTracer::Input(ArraySpec spec) {
  def_.inputs.push_back(spec);
  return Traced{ValueRef{ValueRef::kProgramInput, static_cast<int64_t>(def_.inputs.size()) - 1}, std::move(spec)};
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
  for (ArrayInfo& info : result.outputs) out.push_back(AdoptArray(client_, std::move(info)));
  return out;
}

}  // namespace pw
