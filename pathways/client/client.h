// Client: the single-controller program's handle on Pathways — virtual devices, pmapped
// functions, traced programs and arrays that are futures (the C++ shape of the paper's Figure 2).
#ifndef PATHWAYS_CLIENT_CLIENT_H_
#define PATHWAYS_CLIENT_CLIENT_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "pathways/client/array.h"
#include "pathways/client/client_state.h"
#include "pathways/service/controller_service.h"
#include "pathways/ir/builder.h"

namespace pw {

class Client;
class ProgramTracer;

// Builds one shard's computation: given the per-shard parameters, returns the per-shard results.
using PmapBody =
    std::function<std::vector<ir::Value>(ir::FunctionBuilder&, absl::Span<const ir::Value>)>;

// A value inside a program being traced: program input or a call's output.
struct Traced {
  ValueRef ref;
  ArraySpec spec;
  std::vector<int64_t> mesh;  // of spec.slice: what spec.sharding refers to
  ir::Shape shape() const { return GlobalShape(spec.shard_type.shape, spec.sharding, mesh); }
};

// How a PmapFunction sees its arguments and outputs as global arrays over its slice: one
// sharding per argument / output (empty: all stacked, pmap semantics; one out_sharding:
// every output). An argument whose
// array is laid out otherwise (another sharding or slice) is resharded before the call.
struct PmapOptions {
  std::vector<Sharding> in_shardings;
  std::vector<Sharding> out_shardings;
};

// A function with pmap semantics bound to a slice: shard i of every argument runs on virtual
// device i as one gang. Traced on first use per argument signature (shard types), compiled and
// registered once, then reused — like jax.pmap. Copies share the trace cache. Thread-safe.
class PmapFunction {
 public:
  // Op-by-op: runs this one call as its own program and returns its outputs at once (futures).
  absl::StatusOr<std::vector<Array>> operator()(absl::Span<const Array> args,
                                                RunOptions options = {}) const;
  // Inside a trace: records the call into `tracer`'s program (nothing runs). Errors are sticky
  // in the tracer (ProgramTracer::status()); the returned values are then placeholders.
  std::vector<Traced> operator()(ProgramTracer& tracer, absl::Span<const Traced> args) const;

  const std::string& name() const;
  const VirtualSlice& slice() const;
  // The function traced for these shard types (traced and registered now if new).
  absl::StatusOr<FunctionId> FunctionFor(absl::Span<const ir::TensorType> shard_types) const;

 private:
  friend class Client;
  struct State;
  struct TracedFunction {
    FunctionId id;
    std::vector<ir::TensorType> output_types;  // per shard
  };
  // Traces, compiles and registers the body for these shard types once; cached.
  absl::StatusOr<TracedFunction> Trace(absl::Span<const ir::TensorType> shard_types) const;
  // The shard types the function sees for arguments laid out as `specs` on slices of
  // `meshes` (in_shardings applied; a stacked argument read stacked keeps its shard type);
  // INVALID_ARGUMENT naming the argument when one does not divide.
  absl::StatusOr<std::vector<ir::TensorType>> ParameterTypes(
      absl::Span<const ArraySpec* const> specs,
      absl::Span<const std::vector<int64_t>* const> meshes) const;
  // Output k's sharding (a single out_sharding applies to every output).
  const Sharding& OutSharding(size_t k) const;
  // The call's out_shardings for `num_outputs` outputs (empty: all stacked).
  std::vector<Sharding> OutShardings(size_t num_outputs) const;
  explicit PmapFunction(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

// A registered program: Run submits it (one submission, parallel dispatch by default).
class Program {
 public:
  ProgramId id() const { return id_; }
  const ProgramDef& def() const { return def_; }
  // Returns the outputs at once; their data are futures.
  absl::StatusOr<std::vector<Array>> Run(absl::Span<const Array> inputs, RunOptions options = {}) const;

 private:
  friend class ProgramTracer;
  Program(std::shared_ptr<internal::ClientState> client, ProgramId id, ProgramDef def)
      : client_(std::move(client)), id_(id), def_(std::move(def)) {}
  std::shared_ptr<internal::ClientState> client_;
  ProgramId id_;
  ProgramDef def_;
};

// Records several pmapped calls into ONE program (the paper's `@program`). Errors are sticky,
// like FunctionBuilder's: the first is kept and Build() returns it. Not thread-safe.
class ProgramTracer {
 public:
  ProgramTracer(Client& client, std::string name);
  // A program input of the given spec, on a slice of `mesh` (needed when the spec is not
  // stacked); `like` takes the spec of an existing array.
  Traced Input(ArraySpec spec, std::vector<int64_t> mesh = {});
  Traced InputLike(const Array& like) { return Input(like.spec(), like.mesh()); }
  const absl::Status& status() const { return status_; }
  absl::StatusOr<Program> Build(absl::Span<const Traced> outputs);

 private:
  friend class PmapFunction;
  void Fail(absl::Status status);
  Client& client_;
  ProgramDef def_;
  absl::Status status_;
};

// A client's set of virtual slices (the paper's make_virtual_device_set()).
class VirtualDeviceSet {
 public:
  // Adds a slice of `num_devices` virtual devices kept within one island.
  absl::StatusOr<VirtualSlice> AddSlice(int64_t num_devices);
  absl::StatusOr<VirtualSlice> AddSlice(SliceRequest request);
  const std::vector<VirtualSlice>& slices() const { return slices_; }

 private:
  friend class Client;
  explicit VirtualDeviceSet(Client& client) : client_(client) {}
  Client& client_;
  std::vector<VirtualSlice> slices_;
};

class Client {
 public:
  // Connects to a controller (in-process or a transport stub). The controller must outlive the
  // client and every Array it hands out.
  // `options`: the client's weight and priority for the islands' schedulers
  // (Client::Connect(controller, "trainer", {.weight = 4})).
  static absl::StatusOr<std::unique_ptr<Client>> Connect(ControllerService& controller,
                                                         std::string name,
                                                         ConnectOptions options = {});
  // The same over a connection the client owns (e.g. GrpcControllerClient): it stays open while
  // the client or any Array it handed out is alive.
  static absl::StatusOr<std::unique_ptr<Client>> Connect(std::shared_ptr<ControllerService> controller,
                                                         std::string name,
                                                         ConnectOptions options = {});
  // Connects to the controller at `address` ("host:port") over gRPC. UNAVAILABLE naming the
  // address if nothing answers within `timeout`.
  static absl::StatusOr<std::unique_ptr<Client>> ConnectTo(const std::string& address, std::string name,
                                                           absl::Duration timeout = absl::Seconds(10),
                                                           ConnectOptions options = {});
  // Disconnects: the controller frees everything the client still owns.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  ClientId id() const { return state_->id; }
  const std::string& name() const { return state_->name; }
  ControllerService& controller() const { return *state_->controller; }

  VirtualDeviceSet MakeVirtualDeviceSet() { return VirtualDeviceSet(*this); }
  // make_virtual_device_set().add_slice(n): n virtual devices on one island.
  absl::StatusOr<VirtualSlice> GetDevices(int64_t n);

  // Recovery after host loss: `slice` is the caller's copy of a mapping that failed. Waits until
  // the loss is declared and the slice is mapped anew — remapped at once when its island had
  // spare devices, else repaired (ControllerService::RepairSlice) on the surviving devices or on
  // a worker that joined in the lost host's place — retrying every few milliseconds for up to
  // `timeout`. Returns the new mapping (same id, a higher mapping_version). The arrays on lost
  // devices stay failed: put the values the client still holds again, or restore a checkpoint,
  // and run the same functions on it. DEADLINE_EXCEEDED carrying the last reason when nothing
  // fits within `timeout` (or no host of the slice was lost); NOT_FOUND for a slice this client
  // does not hold.
  absl::StatusOr<VirtualSlice> RepairSlice(const VirtualSlice& slice,
                                           absl::Duration timeout = absl::Seconds(60));

  // Cancels the run computing `output` (ControllerService::CancelRun): its outputs not yet
  // computed fail with CANCELLED and the devices drop its queued work. A deadline is set per
  // run instead with RunOptions::deadline (DEADLINE_EXCEEDED). INVALID_ARGUMENT for an array
  // no run computes (put or restored); NOT_FOUND once that run has finished.
  absl::Status Cancel(const Array& output);

  // An array on `slice` from one literal per shard, laid out by `sharding`.
  absl::StatusOr<Array> Put(const VirtualSlice& slice, std::vector<ir::Literal> shards,
                            Sharding sharding = Sharding::Stacked());
  // An array on `slice` from a global literal cut by `sharding` (stacked: its leading axis is
  // the slice size).
  absl::StatusOr<Array> PutGlobal(const VirtualSlice& slice, const ir::Literal& global,
                                  Sharding sharding = Sharding::Stacked());
  // The same global array on `slice` laid out by `sharding`, moved host to host (never through
  // the client or the controller); a future like any run output. INVALID_ARGUMENT when the
  // global shape does not divide over the slice's mesh.
  absl::StatusOr<Array> Reshard(const Array& array, const VirtualSlice& slice, Sharding sharding);

  PmapFunction Pmap(std::string name, VirtualSlice slice, PmapBody body, PmapOptions options = {});

  // Data-dependent steps (ControllerService::RunControl): the controller reads the predicate
  // when it is computed and dispatches what it selects; the outputs are returned at once.
  // Case: branches[index] on `operands` (`index`: one bool or i32 element per shard, equal on
  // every shard; false/true select branches 0/1, an index out of range the last branch).
  absl::StatusOr<std::vector<Array>> Case(const Array& index, absl::Span<const Program> branches,
                                          absl::Span<const Array> operands);
  // While: carried = body(carried) while cond(carried) holds, at most max_iterations times.
  absl::StatusOr<std::vector<Array>> While(const Program& cond, const Program& body,
                                           absl::Span<const Array> init, int64_t max_iterations);

  // Checkpoints (ControllerService::SaveCheckpoint / RestoreCheckpoint): every host writes and
  // reads its own shards in `directory` (absolute, on a filesystem every host sees); nothing
  // passes through the client. Save waits until the index is written, after the arrays are
  // ready; restore places each named array on the given slice.
  struct NamedArray {
    std::string name;
    Array array;
  };
  absl::Status SaveCheckpoint(const std::string& directory, absl::Span<const NamedArray> arrays,
                              std::string metadata = "");
  struct RestoreEntry {
    std::string name;
    SliceId slice;                             // one of this client's slices
    std::optional<ir::TensorType> shard_type;  // checked when set
  };
  struct Restored {
    std::vector<Array> arrays;  // in the order asked for
    std::string metadata;
  };
  absl::StatusOr<Restored> RestoreCheckpoint(const std::string& directory,
                                             absl::Span<const RestoreEntry> arrays);

 private:
  friend class ProgramTracer;
  friend class PmapFunction;
  friend class VirtualDeviceSet;
  explicit Client(std::shared_ptr<internal::ClientState> state) : state_(std::move(state)) {}
  std::shared_ptr<internal::ClientState> state_;
};

}  // namespace pw

#endif  // PATHWAYS_CLIENT_CLIENT_H_
