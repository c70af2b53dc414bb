// libFuzzer target: lowering a program a client sent. The bytes are a ProgramDefProto, decoded
// as the controller decodes it and lowered against a fixed cluster: 2 islands of 2 hosts of 2
// devices, slices of 1, 2, 4 (a 2x2 mesh) and 8 devices, and functions of several signatures.
// Lowering must return a graph or a clean error, and an accepted graph's host parts must index.
#include <cstddef>
#include <cstdint>

#include "fuzz/quiet_protobuf.h"
#include "pathways/dataflow/lowering.h"
#include "pathways/wire/wire.pb.h"
#include "pathways/wire/wire_convert.h"

namespace {

pw::LoweringContext MakeContext() {
  pw::LoweringContext c;
  for (int64_t d = 0; d < 8; ++d) {
    c.devices[pw::DeviceId(d)] = pw::DeviceLocation{pw::HostId(d / 2), pw::IslandId(d / 4)};
  }
  c.slices[pw::SliceId(1)] = {pw::DeviceId(0)};
  c.slices[pw::SliceId(2)] = {pw::DeviceId(2), pw::DeviceId(3)};
  c.slices[pw::SliceId(3)] = {pw::DeviceId(0), pw::DeviceId(1), pw::DeviceId(2), pw::DeviceId(3)};
  c.slice_meshes[pw::SliceId(3)] = {2, 2};
  std::vector<pw::DeviceId> all;
  for (int64_t d = 0; d < 8; ++d) all.push_back(pw::DeviceId(d));
  c.slices[pw::SliceId(4)] = all;
  const pw::ir::TensorType f4{pw::ir::DType::kF32, pw::ir::Shape{4}};
  const pw::ir::TensorType f22{pw::ir::DType::kF32, pw::ir::Shape{2, 2}};
  int64_t id = 1;
  for (int64_t shards : {1, 2, 4, 8}) {
    c.functions[pw::FunctionId(id)] = {pw::FunctionId(id), "unary", shards, {f4}, {f4}};
    ++id;
    c.functions[pw::FunctionId(id)] = {pw::FunctionId(id), "binary", shards, {f4, f22}, {f22, f4}};
    ++id;
  }
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const pw::LoweringContext context = MakeContext();
  pathways::wire::ProgramDefProto proto;
  if (!proto.ParseFromArray(data, static_cast<int>(size))) return 0;
  absl::StatusOr<pw::ProgramDef> program = pw::wire::FromProto(proto);
  if (!program.ok()) return 0;
  (void)pw::LowerProgram(*program, context);
  return 0;
}
