// The `pathways._pathways` extension: sessions, slices, arrays, pmapped functions and program
// tracing over the C++ client. The Python package (python/pathways) builds the JAX-style API on
// these.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <tuple>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pathways/base/logging.h"
#include "pathways/client/client.h"
#include "pathways/ir/mesh.h"
#include "python/src/builder_handle.h"
#include "python/src/errors.h"
#include "python/src/numpy_convert.h"
#include "python/src/session.h"
#include "python/src/session_use.h"

namespace py = pybind11;

namespace pw::python {
namespace {

struct PySlice {
  VirtualSlice slice;
  std::shared_ptr<Session> session;
};

struct PyPmap {
  std::shared_ptr<Session> session;
  PmapFunction function;
};

struct PyProgram {
  std::shared_ptr<Session> session;
  Program program;
};

// One @pw.program trace: the C++ tracer plus the Traced values Python refers to by index.
struct PyProgramTrace {
  std::shared_ptr<Session> session;
  std::unique_ptr<ProgramTracer> tracer;
  std::vector<Traced> values;

  const Traced& Get(int64_t i) const {
    if (i < 0 || i >= static_cast<int64_t>(values.size())) throw py::value_error("unknown program value");
    return values[i];
  }
  int64_t Add(Traced t) {
    values.push_back(std::move(t));
    return static_cast<int64_t>(values.size()) - 1;
  }
};

// A sharding from Python: None is stacked (pmap's layout), else one list of mesh axis indices
// per global dimension (PartitionSpec resolved against the slice's axis names).
Sharding ShardingFromPy(const std::optional<std::vector<std::vector<int32_t>>>& spec) {
  if (!spec.has_value()) return Sharding::Stacked();
  return Sharding{Sharding::Kind::kPartitioned, *spec};
}

std::optional<std::vector<std::vector<int32_t>>> ShardingToPy(const Sharding& sharding) {
  if (sharding.stacked()) return std::nullopt;
  return sharding.spec;
}

std::vector<Sharding> ShardingsFromPy(
    const std::vector<std::optional<std::vector<std::vector<int32_t>>>>& specs) {
  std::vector<Sharding> out;
  for (const auto& s : specs) out.push_back(ShardingFromPy(s));
  return out;
}

using PySpec = std::optional<std::vector<std::vector<int32_t>>>;

void CheckSameSession(const std::shared_ptr<Session>& expected, const PyArray& a, const std::string& what) {
  if (a.session() != expected) {
    // Only one session is live at a time (the Python layer shuts the old one down first).
    throw StatusError(absl::FailedPreconditionError(absl::StrCat(
        what, ": ", a.array().DebugString(), " belongs to Pathways session ", a.session()->generation(),
        ", which was shut down; the current session is ", expected->generation())));
  }
}

// Call under a SessionUse of `session`.
std::vector<Array> Unwrap(const std::shared_ptr<Session>& session, const std::vector<PyArray>& args,
                          const std::string& what) {
  std::vector<Array> out;
  out.reserve(args.size());
  for (const PyArray& a : args) {
    CheckSameSession(session, a, what);
    out.push_back(a.array());
  }
  return out;
}

// Call under a SessionUse of `session`; `arrays` are the outputs of one run.
std::vector<PyArray> Wrap(const std::shared_ptr<Session>& session, std::vector<Array> arrays) {
  if (!arrays.empty()) {
    session->NoteRun(session->client().controller().AwaitArray(session->client().id(), arrays[0].id()));
  }
  std::vector<PyArray> out;
  out.reserve(arrays.size());
  for (Array& a : arrays) out.push_back(PyArray{std::make_shared<LockedArray>(std::move(a), session)});
  return out;
}

py::tuple ShapeTuple(const ir::Shape& shape) {
  py::tuple t(shape.rank());
  for (int64_t i = 0; i < shape.rank(); ++i) t[i] = py::int_(shape.dim(i));
  return t;
}

std::vector<int64_t> DeviceIds(const std::vector<DeviceId>& devices) {
  std::vector<int64_t> out;
  for (DeviceId d : devices) out.push_back(d.value());
  return out;
}

// The body PmapFunction runs when it traces a new signature: it hands the builder to the Python
// callback `trace(builder, num_params) -> list[int] | None`. The callback catches the user's
// exceptions itself (and keeps them to re-raise); returning no outputs makes Build fail, so a
// failed trace is never cached.
PmapBody MakeBody(py::function callback) {
  // The callback may be dropped without the GIL held (with the PmapFunction's state); take it.
  std::shared_ptr<py::function> holder(new py::function(std::move(callback)), [](py::function* f) {
    py::gil_scoped_acquire gil;
    delete f;
  });
  return [holder](ir::FunctionBuilder& b, absl::Span<const ir::Value> params) -> std::vector<ir::Value> {
    py::gil_scoped_acquire gil;
    auto handle = std::make_shared<BuilderHandle>(&b, params);
    std::vector<ir::Value> out;
    try {
      py::object result = (*holder)(handle, params.size());
      if (!result.is_none()) {
        for (py::handle item : result) out.push_back(handle->Get(item.cast<int64_t>()));
      }
    } catch (py::error_already_set& e) {
      // The Python layer catches user errors; reaching here is a bug in it. Report, fail the trace.
      PW_LOG(ERROR) << "pmap trace callback raised: " << e.what();
      out.clear();
    } catch (const std::exception& e) {
      PW_LOG(ERROR) << "pmap trace callback failed: " << e.what();
      out.clear();
    }
    handle->Invalidate();
    return out;
  };
}

std::shared_ptr<Session> StartSession(int64_t islands, int64_t hosts, int64_t devices, int64_t memory,
                                      std::string device_kind, double sim_peak_flops,
                                      bool sim_compute, double dcn_latency_us, double dcn_gbps,
                                      double ici_latency_us, double ici_gbps,
                                      std::string collective_algorithm, int64_t weight,
                                      int64_t priority) {
  SessionOptions options{.islands = islands, .hosts_per_island = hosts, .devices_per_host = devices,
                         .memory_per_device_bytes = memory, .device_kind = std::move(device_kind),
                         .sim_peak_flops = sim_peak_flops, .sim_compute = sim_compute,
                         .dcn_latency_us = dcn_latency_us, .dcn_gbps = dcn_gbps,
                         .ici_latency_us = ici_latency_us, .ici_gbps = ici_gbps,
                         .collective_algorithm = std::move(collective_algorithm),
                         .weight = weight, .priority = priority};
  py::gil_scoped_release nogil;
  return ValueOrThrow(Session::Start(options));
}

std::shared_ptr<Session> ConnectSession(const std::string& address, double timeout_seconds,
                                        int64_t weight, int64_t priority) {
  py::gil_scoped_release nogil;
  return ValueOrThrow(Session::Start(SessionOptions{.address = address,
                                                    .connect_timeout_seconds = timeout_seconds,
                                                    .weight = weight,
                                                    .priority = priority}));
}

// Waits (without the GIL) until every host wrote its shards and the index is written.
void SaveCheckpoint(std::shared_ptr<Session> s, const std::string& directory,
                    const std::vector<std::string>& names, const std::vector<PyArray>& arrays,
                    std::string metadata) {
  if (names.size() != arrays.size()) {
    throw py::value_error(absl::StrCat("save_checkpoint: ", names.size(), " names for ",
                                       arrays.size(), " arrays"));
  }
  std::vector<Client::NamedArray> named;
  for (size_t i = 0; i < arrays.size(); ++i) {
    CheckSameSession(s, arrays[i], absl::StrCat("checkpoint array \"", names[i], "\""));
    named.push_back({names[i], arrays[i].array()});
  }
  absl::Status status;
  {
    py::gil_scoped_release nogil;
    SessionUse use(*s, "save_checkpoint");
    status = s->client().SaveCheckpoint(directory, named, std::move(metadata));
    named.clear();  // dropped under the lock, in case one is the last reference
  }
  ThrowIfError(status);
}

// entries: (name, slice id, dtype name or None, shard shape or None). Returns (arrays, metadata).
py::tuple RestoreCheckpoint(
    std::shared_ptr<Session> s, const std::string& directory,
    const std::vector<std::tuple<std::string, int64_t, std::optional<std::string>,
                                 std::optional<std::vector<int64_t>>>>& entries) {
  std::vector<Client::RestoreEntry> request;
  for (const auto& [name, slice, dtype, shape] : entries) {
    Client::RestoreEntry e{name, SliceId(slice), std::nullopt};
    if (dtype.has_value() && shape.has_value()) {
      e.shard_type = ir::TensorType{DTypeFromName(*dtype), ir::Shape(absl::MakeConstSpan(*shape))};
    }
    request.push_back(std::move(e));
  }
  absl::StatusOr<Client::Restored> restored;
  {
    py::gil_scoped_release nogil;
    SessionUse use(*s, "restore_checkpoint");
    restored = s->client().RestoreCheckpoint(directory, request);
  }
  Client::Restored value = ValueOrThrow(std::move(restored));
  py::list arrays;
  for (Array& a : value.arrays) arrays.append(PyArray{std::make_shared<LockedArray>(std::move(a), s)});
  return py::make_tuple(arrays, py::bytes(value.metadata));
}

void BindSession(py::module_& m) {
  py::class_<Session, std::shared_ptr<Session>>(m, "Session")
      .def_static("start", &StartSession, py::arg("islands"), py::arg("hosts_per_island"),
                  py::arg("devices_per_host"), py::arg("memory_per_device_bytes"),
                  py::arg("device_kind") = "cpu", py::arg("sim_peak_flops") = 0.0,
                  py::arg("sim_compute") = true, py::arg("dcn_latency_us") = -1.0,
                  py::arg("dcn_gbps") = -1.0, py::arg("ici_latency_us") = -1.0,
                  py::arg("ici_gbps") = -1.0, py::arg("collective_algorithm") = "",
                  py::arg("weight") = 1, py::arg("priority") = 0)
      .def_static("connect", &ConnectSession, py::arg("address"), py::arg("timeout_seconds"),
                  py::arg("weight") = 1, py::arg("priority") = 0)
      .def_property_readonly("address", [](const Session& s) { return s.options().address; })
      .def("shutdown", [](Session& s) {
        // Without the GIL: Shutdown waits for calls in flight, which may need the GIL to finish.
        py::gil_scoped_release nogil;
        s.Shutdown();
      })
      .def_property_readonly("alive", &Session::alive)
      .def_property_readonly("generation", &Session::generation)
      .def("add_slice", [](std::shared_ptr<Session> s, int64_t n, std::vector<int64_t> mesh,
                           std::optional<int64_t> island) {
        SessionUse use(*s, "add_slice");
        SliceRequest request;
        request.num_devices = n;
        request.mesh_shape = std::move(mesh);
        if (island.has_value()) request.island = IslandId(*island);
        return PySlice{ValueOrThrow(s->client().MakeVirtualDeviceSet().AddSlice(std::move(request))), s};
      }, py::arg("devices"), py::arg("mesh") = std::vector<int64_t>{},
         py::arg("island") = std::optional<int64_t>{})
      .def("devices", [](Session& s) {
        // (device id, host id, island id, kind, memory bytes) for every live device.
        SessionUse use(s, "devices()");
        ClusterStatus status = s.client().controller().Status();
        std::vector<py::tuple> out;
        for (const IslandInfo& island : status.islands) {
          for (const HostId host : island.hosts) {
            for (const HostStatus& hs : status.hosts) {
              if (hs.host != host) continue;
              for (const DeviceStatus& d : hs.devices) {
                out.push_back(py::make_tuple(d.id.value(), host.value(), island.id.value(), d.kind,
                                             d.memory_capacity_bytes));
              }
            }
          }
        }
        return out;
      })
      .def("memory_stats", [](Session& s) {
        // device id -> (bytes in use, peak bytes in use, capacity, busy nanoseconds, scratch).
        SessionUse use(s, "memory_stats()");
        ClusterStatus status = s.client().controller().Status();
        py::dict out;
        for (const HostStatus& hs : status.hosts) {
          for (const DeviceStatus& d : hs.devices) {
            out[py::int_(d.id.value())] = py::make_tuple(
                d.memory_in_use_bytes, d.peak_memory_in_use_bytes, d.memory_capacity_bytes,
                d.busy_nanos, d.scratch_bytes);
          }
        }
        return out;
      })
      .def("live_arrays", [](Session& s) {
        SessionUse use(s, "live_arrays()");
        ClusterStatus status = s.client().controller().Status();
        for (const ClientStatus& c : status.clients) {
          if (c.id == s.client().id()) return c.live_arrays;
        }
        return int64_t{0};
      })
      .def("put", [](std::shared_ptr<Session> s, const PySlice& slice, const py::array& data,
                     const PySpec& sharding) {
        SessionUse use(*s, "put");
        ir::Literal literal = LiteralFromNumpy(data);
        return PyArray{std::make_shared<LockedArray>(
            ValueOrThrow(s->client().PutGlobal(slice.slice, literal, ShardingFromPy(sharding))), s)};
      }, py::arg("slice"), py::arg("data"), py::arg("sharding") = py::none())
      .def("reshard", [](std::shared_ptr<Session> s, const PyArray& a, const PySlice& slice,
                         const PySpec& sharding) {
        SessionUse use(*s, "reshard");
        CheckSameSession(s, a, "reshard");
        return PyArray{std::make_shared<LockedArray>(
            ValueOrThrow(s->client().Reshard(a.array(), slice.slice, ShardingFromPy(sharding))), s)};
      })
      .def("pmap", [](std::shared_ptr<Session> s, std::string name, const PySlice& slice,
                      py::function trace, const std::vector<PySpec>& in_shardings,
                      const std::vector<PySpec>& out_shardings) {
        SessionUse use(*s, "pmap");
        PmapOptions options{ShardingsFromPy(in_shardings), ShardingsFromPy(out_shardings)};
        return PyPmap{s, s->client().Pmap(std::move(name), slice.slice, MakeBody(std::move(trace)),
                                          std::move(options))};
      }, py::arg("name"), py::arg("slice"), py::arg("trace"),
         py::arg("in_shardings") = std::vector<PySpec>{},
         py::arg("out_shardings") = std::vector<PySpec>{})
      .def("trace_program", [](std::shared_ptr<Session> s, std::string name) {
        SessionUse use(*s, "program");
        auto t = std::make_unique<PyProgramTrace>();
        t->session = s;
        t->tracer = std::make_unique<ProgramTracer>(s->client(), std::move(name));
        return t;
      })
      .def("save_checkpoint", &SaveCheckpoint, py::arg("directory"), py::arg("names"),
           py::arg("arrays"), py::arg("metadata"))
      .def("restore_checkpoint", &RestoreCheckpoint, py::arg("directory"), py::arg("entries"))
      .def("start_trace", [](Session& s) {
        SessionUse use(s, "pw.trace");
        ThrowIfError(s.StartTrace());
      })
      .def("stop_trace", [](Session& s, const std::string& path) {
        absl::Status status;
        {
          py::gil_scoped_release nogil;
          SessionUse use(s, "pw.trace");
          status = s.StopTrace(path);
        }
        ThrowIfError(status);
      })
      .def("__repr__", &Session::DebugString);
}

void BindSlice(py::module_& m) {
  py::class_<PySlice>(m, "Slice")
      .def_property_readonly("id", [](const PySlice& s) { return s.slice.id.value(); })
      .def_property_readonly("island", [](const PySlice& s) { return s.slice.island.value(); })
      .def_property_readonly("devices", [](const PySlice& s) { return DeviceIds(s.slice.devices); })
      .def_property_readonly("mesh_shape", [](const PySlice& s) { return s.slice.mesh_shape; })
      .def_property_readonly("session", [](const PySlice& s) { return s.session; })
      .def_property_readonly("mapping_version", [](const PySlice& s) { return s.slice.mapping_version; })
      .def("repair", [](PySlice& s, double timeout_seconds) {
        // Client::RepairSlice; the new mapping replaces this handle's, in place.
        if (!(timeout_seconds >= 0) || timeout_seconds > 86400) {
          throw py::value_error(absl::StrCat("repair: timeout must be in [0, 86400] seconds, got ",
                                             timeout_seconds));
        }
        SessionUse use(*s.session, "repair");
        absl::StatusOr<VirtualSlice> repaired;
        {
          py::gil_scoped_release nogil;
          repaired = s.session->client().RepairSlice(s.slice, absl::Seconds(timeout_seconds));
        }
        s.slice = ValueOrThrow(std::move(repaired));
      }, py::arg("timeout_seconds"))
      .def("__repr__", [](const PySlice& s) { return s.slice.DebugString(); });
}

void BindArray(py::module_& m) {
  py::class_<PyArray>(m, "Array")
      .def_property_readonly("id", [](const PyArray& a) { return a.array().id().value(); })
      .def_property_readonly("shape", [](const PyArray& a) { return ShapeTuple(a.array().shape()); })
      .def_property_readonly("dtype", [](const PyArray& a) { return std::string(NumpyName(a.array().dtype())); })
      .def_property_readonly("devices", [](const PyArray& a) { return DeviceIds(a.array().devices()); })
      .def_property_readonly("slice_id", [](const PyArray& a) { return a.array().spec().slice.value(); })
      .def_property_readonly("sharding", [](const PyArray& a) { return ShardingToPy(a.array().sharding()); })
      .def_property_readonly("mesh", [](const PyArray& a) { return a.array().mesh(); })
      .def_property_readonly("session", [](const PyArray& a) { return a.session(); })
      .def_property_readonly("valid", [](const PyArray& a) { return a.array().valid(); })
      .def("block_until_ready", [](const PyArray& a) {
        Array array = a.array();  // a reference of our own: release() may run while we wait
        absl::Status s;
        {
          py::gil_scoped_release nogil;
          SessionUse use(*a.session(), array.DebugString());
          Array held = std::move(array);  // dropped under the lock, in case it is the last reference
          s = held.Await();
        }
        ThrowIfError(s);
      })
      .def("fetch", [](const PyArray& a) {
        Array array = a.array();
        absl::StatusOr<ir::Literal> literal;
        {
          py::gil_scoped_release nogil;
          SessionUse use(*a.session(), array.DebugString());
          Array held = std::move(array);
          literal = held.ToLiteral();
        }
        return NumpyFromLiteral(ValueOrThrow(std::move(literal)));
      })
      .def("release", [](PyArray& a) { a.ref->Release(); })
      .def("cancel", [](const PyArray& a) {
        // Client::Cancel: the run computing this array.
        SessionUse use(*a.session(), "cancel");
        ThrowIfError(a.session()->client().Cancel(a.array()));
      })
      .def("__repr__", [](const PyArray& a) { return a.array().DebugString(); });
}

// The deadline pw.deadline() set for runs this thread submits (absl::InfiniteFuture(): none).
thread_local absl::Time run_deadline = absl::InfiniteFuture();

RunOptions CurrentRunOptions() { return RunOptions{.deadline = run_deadline}; }

void BindPmap(py::module_& m) {
  m.def("set_run_deadline", [](std::optional<double> unix_seconds) {
    run_deadline = unix_seconds.has_value()
                       ? absl::FromUnixMicros(static_cast<int64_t>(*unix_seconds * 1e6))
                       : absl::InfiniteFuture();
  }, py::arg("unix_seconds"));
  py::class_<PyPmap>(m, "PmapFunction")
      .def_property_readonly("name", [](const PyPmap& p) { return p.function.name(); })
      .def("__call__", [](const PyPmap& p, const std::vector<PyArray>& args) {
        SessionUse use(*p.session, "pmap '" + p.function.name() + "'");
        std::vector<Array> arrays = Unwrap(p.session, args, "pmap '" + p.function.name() + "'");
        return Wrap(p.session, ValueOrThrow(p.function(arrays, CurrentRunOptions())));
      });
}

void BindProgramTrace(py::module_& m) {
  py::class_<Traced>(m, "TracedSpec");
  py::class_<PyProgramTrace>(m, "ProgramTrace")
      .def("input", [](PyProgramTrace& t, const std::string& dtype, std::vector<int64_t> global_shape,
                       const PySlice& slice, const PySpec& spec) {
        SessionUse use(*t.session, "program input");
        const Sharding sharding = ShardingFromPy(spec);
        const std::vector<int64_t> mesh = MeshOrLine(
            slice.slice.mesh_shape, static_cast<int64_t>(slice.slice.devices.size()));
        ir::Shape shard = ValueOrThrow(
            ShardShape(ir::Shape(absl::MakeConstSpan(global_shape)), sharding, mesh));
        return t.Add(t.tracer->Input({{DTypeFromName(dtype), std::move(shard)}, slice.slice.id, sharding},
                                     mesh));
      }, py::arg("dtype"), py::arg("global_shape"), py::arg("slice"), py::arg("sharding") = py::none())
      .def("input_like", [](PyProgramTrace& t, const PyArray& a) {
        SessionUse use(*t.session, "program input");
        CheckSameSession(t.session, a, "program input");
        return t.Add(t.tracer->InputLike(a.array()));
      })
      .def("call", [](PyProgramTrace& t, const PyPmap& p, const std::vector<int64_t>& args) {
        SessionUse use(*t.session, "program call");
        std::vector<Traced> traced;
        for (int64_t i : args) traced.push_back(t.Get(i));
        std::vector<Traced> out = p.function(*t.tracer, traced);
        ThrowIfError(t.tracer->status());
        std::vector<int64_t> ids;
        for (Traced& o : out) ids.push_back(t.Add(std::move(o)));
        return ids;
      })
      .def("traced", [](const PyProgramTrace& t, int64_t i) { return t.Get(i); })
      .def("input_spec", [](PyProgramTrace& t, const Traced& like) {
        SessionUse use(*t.session, "program input");
        return t.Add(t.tracer->Input(like.spec, like.mesh));
      })
      .def("spec", [](const PyProgramTrace& t, int64_t i) {
        const Traced& v = t.Get(i);
        return py::make_tuple(NumpyName(v.spec.shard_type.dtype), ShapeTuple(v.spec.shard_type.shape),
                              v.spec.slice.value(), ShapeTuple(v.shape()));
      })
      .def("build", [](PyProgramTrace& t, const std::vector<int64_t>& outputs) {
        SessionUse use(*t.session, "program build");
        std::vector<Traced> traced;
        for (int64_t i : outputs) traced.push_back(t.Get(i));
        return PyProgram{t.session, ValueOrThrow(t.tracer->Build(traced))};
      });
}

void BindProgram(py::module_& m) {
  py::class_<PyProgram>(m, "Program")
      .def_property_readonly("name", [](const PyProgram& p) { return p.program.def().name; })
      .def_property_readonly("num_calls", [](const PyProgram& p) { return p.program.def().calls.size(); })
      .def("__call__", [](const PyProgram& p, const std::vector<PyArray>& args) {
        SessionUse use(*p.session, "program '" + p.program.def().name + "'");
        std::vector<Array> arrays = Unwrap(p.session, args, "program '" + p.program.def().name + "'");
        return Wrap(p.session, ValueOrThrow(p.program.Run(arrays, CurrentRunOptions())));
      });
  // Data-dependent steps of a program (Client::Case / Client::While).
  m.def("run_case", [](const PyArray& index, const std::vector<PyProgram>& branches,
                       const std::vector<PyArray>& operands) {
    const std::shared_ptr<Session> session = index.session();
    SessionUse use(*session, "data-dependent cond");
    std::vector<Program> programs;
    for (const PyProgram& b : branches) programs.push_back(b.program);
    const Array idx = Unwrap(session, {index}, "cond predicate")[0];
    std::vector<Array> ops = Unwrap(session, operands, "cond operand");
    return Wrap(session, ValueOrThrow(session->client().Case(idx, programs, ops)));
  }, py::arg("index"), py::arg("branches"), py::arg("operands"));
  m.def("run_while", [](const PyProgram& cond, const PyProgram& body,
                        const std::vector<PyArray>& init, int64_t max_iterations) {
    SessionUse use(*cond.session, "data-dependent while_loop");
    std::vector<Array> carried = Unwrap(cond.session, init, "while_loop carried value");
    return Wrap(cond.session,
                ValueOrThrow(cond.session->client().While(cond.program, body.program, carried,
                                                          max_iterations)));
  }, py::arg("cond"), py::arg("body"), py::arg("init"), py::arg("max_iterations"));
}

}  // namespace

PYBIND11_MODULE(_pathways, m) {
  m.doc() = "C++ core of the Pathways Python client";
  RegisterErrors(m);
  BuilderHandle::Bind(m);
  BindSession(m);
  BindSlice(m);
  BindArray(m);
  BindPmap(m);
  BindProgramTrace(m);
  BindProgram(m);
  m.def("mesh_axis_groups", [](std::vector<int64_t> mesh, std::vector<int64_t> axes) {
    return ValueOrThrow(ir::MeshAxisGroups(mesh, axes));
  }, py::arg("mesh"), py::arg("axes"), "The shard groups of a collective over `axes` of a row-major mesh.");
}

}  // namespace pw::python
