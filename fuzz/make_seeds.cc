// Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/): real messages the
// runtime sends — a function with loops and branches, a program with a reshard lowered for a
// small cluster, the run and host program a host receives for it, a shard push, a client's
// requests and a worker's reports, a TCP data-plane stream. Run from the repository root:
//   build/fuzz/pw_fuzz_seeds fuzz/corpus
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "pathways/base/logging.h"
#include "pathways/dataflow/lowering.h"
#include "pathways/dataplane/tcp/tcp_frames.h"
#include "pathways/ir/builder.h"
#include "pathways/ir/serialization.h"
#include "pathways/ir/ir.pb.h"
#include "pathways/wire/wire.pb.h"
#include "pathways/wire/wire_convert.h"

namespace pw {
namespace {

namespace fs = std::filesystem;
namespace pwire = pathways::wire;

void Write(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

// x -> (while i < 3: x = tanh(x @ w) ; case(i > 1): x + 1 | x * 2), with an all_reduce.
ir::Function SeedFunction() {
  const ir::TensorType i32{ir::DType::kI32, ir::Shape{}}, v{ir::DType::kF32, ir::Shape{2, 2}};
  ir::FunctionBuilder cond("below3", {.num_shards = 2});
  ir::Value ci = cond.Parameter(i32);
  cond.Parameter(v);
  ir::FunctionBuilder body("layer", {.num_shards = 2});
  ir::Value bi = body.Parameter(i32), bx = body.Parameter(v);
  ir::FunctionBuilder add("add_one", {.num_shards = 2}), dbl("twice", {.num_shards = 2});
  ir::Value ax = add.Parameter(v), dx = dbl.Parameter(v);
  ir::FunctionBuilder b("seed", {.num_shards = 2});
  ir::Value x = b.Parameter(v);
  std::vector<ir::Value> loop = b.While(
      *cond.Build({cond.Compare(ci, cond.ConstantScalar<int32_t>(3), ir::ComparisonDirection::kLt)}),
      *body.Build({body.Add(bi, body.ConstantScalar<int32_t>(1)), body.Tanh(body.Dot(bx, bx))}),
      {b.ConstantScalar<int32_t>(0), x}, 8);
  ir::Value index = b.Convert(b.Compare(loop[0], b.ConstantScalar<int32_t>(1), ir::ComparisonDirection::kGt),
                              ir::DType::kI32);
  std::vector<ir::Value> branch = b.Case(
      index, {*add.Build({add.Add(ax, add.ConstantScalar<float>(1))}), *dbl.Build({dbl.Add(dx, dx)})},
      {loop[1]});
  absl::StatusOr<ir::Function> f = b.Build({b.AllReduce(branch[0], ir::ReduceKind::kSum)});
  PW_CHECK(f.ok()) << f.status();
  return *std::move(f);
}

int Main(const fs::path& root) {
  const ir::Function f = SeedFunction();
  Write(root / "ir_function", "seed_function", *ir::SerializeFunction(f));

  // A program of two calls on slices of 2 devices on different hosts (a transfer), lowered
  // against the context the lowering fuzzer uses.
  LoweringContext context;
  for (int64_t d = 0; d < 4; ++d) context.devices[DeviceId(d)] = {HostId(d / 2), IslandId(0)};
  context.slices[SliceId(1)] = {DeviceId(0), DeviceId(1)};
  context.slices[SliceId(2)] = {DeviceId(2), DeviceId(3)};
  const ir::TensorType v{ir::DType::kF32, ir::Shape{2, 2}};
  context.functions[FunctionId(7)] = {FunctionId(7), "seed", 2, {v}, {v}};
  ProgramDef program;
  program.name = "seed_program";
  program.inputs = {ArraySpec{v, SliceId(1), Sharding::Stacked()}};
  program.calls = {ProgramCall{"first", FunctionId(7), SliceId(1), {ValueRef{ValueRef::kProgramInput, 0}}},
                   ProgramCall{"second", FunctionId(7), SliceId(2), {ValueRef{0, 0}}}};
  program.outputs = {ValueRef{1, 0}};
  const pwire::ProgramDefProto program_proto = wire::ToProto(program);
  Write(root / "lowering", "seed_program", program_proto.SerializeAsString());
  absl::StatusOr<std::shared_ptr<const LoweredProgram>> lowered = LowerProgram(program, context);
  PW_CHECK(lowered.ok()) << lowered.status();

  const auto tagged = [](char tag, const std::string& bytes) { return std::string(1, tag) + bytes; };
  const fs::path worker = root / "worker_request";
  HostRun run;
  run.run = RunId(3);
  run.client = ClientId(1);
  run.program = (*lowered)->hosts.at(HostId(1));
  run.lowered = *lowered;
  auto arrays = std::make_shared<std::vector<ArrayId>>();
  for (size_t i = 0; i < (*lowered)->values.size(); ++i) arrays->push_back(ArrayId(10 + i));
  run.value_arrays = arrays;
  absl::StatusOr<pwire::HostRunProto> run_proto =
      wire::ToProto(run, wire::HostRunWireOptions{42, wire::ProgramPayload::kWithProgram});
  PW_CHECK(run_proto.ok()) << run_proto.status();
  Write(worker, "host_run", tagged(0, run_proto->SerializeAsString()));
  const float data[4] = {1, 2, 3, 4};
  const wire::ShardPushHeader header{ArrayId(11), 1, DeviceId(3), v};
  Write(worker, "push", tagged(1, wire::ChunkToProto(header, 0, data, sizeof(data)).SerializeAsString()));
  Write(worker, "push_error",
        tagged(1, wire::ErrorToProto(header, absl::InternalError("producer failed")).SerializeAsString()));
  pwire::PutShardRequest put;
  put.set_version(wire::kWireVersion);
  put.set_array(5);
  put.set_shard(1);
  put.set_device(2);
  *put.mutable_data() = wire::ToProto(*ir::Literal::Create<float>(v.shape, absl::MakeConstSpan(data, 4)));
  Write(worker, "put_shard", tagged(2, put.SerializeAsString()));
  Write(worker, "status", tagged(3, wire::ToProto(absl::UnavailableError("host:1 lost")).SerializeAsString()));
  Write(worker, "host_program", tagged(4, run_proto->program().SerializeAsString()));

  const fs::path controller = root / "controller_request";
  pwire::RegisterProgramRequest reg;
  reg.set_version(wire::kWireVersion);
  reg.set_client(1);
  *reg.mutable_program() = program_proto;
  Write(controller, "register_program", tagged(0, reg.SerializeAsString()));
  pwire::RegisterFunctionRequest fn;
  fn.set_version(wire::kWireVersion);
  fn.set_client(1);
  *fn.mutable_function() = ir::ToProto(f);
  Write(controller, "register_function", tagged(1, fn.SerializeAsString()));
  pwire::PutArrayRequest array;
  array.set_version(wire::kWireVersion);
  array.set_client(1);
  array.set_slice(1);
  *array.add_shards() = put.data();
  *array.add_shards() = put.data();
  Write(controller, "put_array", tagged(2, array.SerializeAsString()));
  SaveCheckpointRequest save{"/tmp/ckpt", {{"params/w", ArrayId(5)}}, "{\"step\": 3}"};
  Write(controller, "save_checkpoint", tagged(3, wire::ToProto(ClientId(1), save).SerializeAsString()));
  HostRunResult result;
  result.host = HostId(1);
  result.run = RunId(3);
  result.outputs = {{2, 0, absl::OkStatus()}, {2, 1, absl::InternalError("step failed")}};
  Write(controller, "run_done", tagged(4, wire::ToRunDoneReport({result}).SerializeAsString()));
  pwire::SliceRequestProto slice;
  slice.set_num_devices(4);
  slice.add_mesh_shape(2);
  slice.add_mesh_shape(2);
  Write(controller, "slice_request", tagged(6, slice.SerializeAsString()));

  std::string stream = tcp_transport::EncodeHello(tcp_transport::Hello{.host = 1});
  const std::string meta = wire::ChunkToProto(header, 0, nullptr, 0).SerializeAsString();
  tcp_transport::AppendPrefix({tcp_transport::FrameKind::kPush, static_cast<uint32_t>(meta.size()), 1,
                               sizeof(data)}, &stream);
  stream += meta;
  stream.append(reinterpret_cast<const char*>(data), sizeof(data));
  const std::string verdict = wire::ToProto(absl::OkStatus()).SerializeAsString();
  tcp_transport::AppendPrefix({tcp_transport::FrameKind::kVerdict, static_cast<uint32_t>(verdict.size()), 1, 0},
                              &stream);
  stream += verdict;
  Write(root / "tcp_frame", "push_and_verdict", stream);
  std::printf("seeds written under %s\n", root.c_str());
  return 0;
}

}  // namespace
}  // namespace pw

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  return pw::Main(argv[1]);
}
