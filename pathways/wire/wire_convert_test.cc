// Tests of the wire conversions of values: statuses, literals, programs, slices, arrays, cluster
// status, run results, shard pushes; and the version rule of wire.proto.
#include "pathways/wire/wire_convert.h"

#include <cstring>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/wire/wire_test_util.h"

namespace pw::wire {
namespace {

using ::pw::wire::testing::F32;
using ::pw::wire::testing::IsInvalidWith;
using ::pw::wire::testing::ThroughBytes;
using ::pw::wire::testing::WireHostRunTest;
using ::testing::HasSubstr;

TEST(WireProtoTest, EveryTopLevelMessageCarriesAVersionFirst) {
  const google::protobuf::FileDescriptor* file =
      pathways::wire::HostRunProto::descriptor()->file();
  int top_level = 0;
  for (int i = 0; i < file->message_type_count(); ++i) {
    const google::protobuf::Descriptor* m = file->message_type(i);
    const std::string& name = m->name();
    auto ends_with = [&](const std::string& suffix) {
      return name.size() >= suffix.size() &&
             name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    const bool is_top = ends_with("Request") || ends_with("Response") || ends_with("Report") ||
                        name == "HostRunProto" || name == "ShardPushProto";
    if (!is_top) continue;
    ++top_level;
    const google::protobuf::FieldDescriptor* v = m->FindFieldByNumber(1);
    ASSERT_NE(v, nullptr) << name;
    EXPECT_EQ(v->name(), "version") << name;
    EXPECT_EQ(v->type(), google::protobuf::FieldDescriptor::TYPE_UINT32) << name;
  }
  EXPECT_GT(top_level, 20);
}

TEST(WireConvertTest, StatusRoundTripsAndUnknownCodesAreRejected) {
  for (const absl::Status& s : {absl::OkStatus(), absl::ResourceExhaustedError("device:3 full"),
                                absl::AbortedError("gang:7 aborted")}) {
    auto got = FromProto(ThroughBytes(ToProto(s)));
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->status, s);
  }
  pathways::wire::StatusProto p;
  p.set_code(17);
  EXPECT_TRUE(IsInvalidWith(FromProto(p).status(), "StatusProto.code: unknown status code 17"));
}

TEST(WireConvertTest, LiteralsRoundTripAndBadSizesAreRejected) {
  const ir::Literal f = ir::Literal::Create<float>(ir::Shape{2, 2}, {1.5f, -2.f, 3.f, 4.f});
  const ir::Literal b = ir::Literal::Create<bool>(ir::Shape{3}, {true, false, true});
  const ir::Literal i = ir::Literal::Scalar<int32_t>(-7);
  for (const ir::Literal& l : {f, b, i}) {
    auto got = FromProto(ThroughBytes(ToProto(l)));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, l);
  }
  pathways::ir::LiteralProto moved = ToProto(f);
  auto got = FromProto(std::move(moved));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, f);

  pathways::ir::LiteralProto bad = ToProto(f);
  bad.mutable_data()->pop_back();
  EXPECT_TRUE(IsInvalidWith(FromProto(bad).status(), "LiteralProto.data: f32[2,2] needs 16 bytes, got 15"));
  bad = ToProto(f);
  bad.mutable_type()->set_dims(0, -1);
  EXPECT_TRUE(IsInvalidWith(FromProto(bad).status(), "LiteralProto.type: TensorTypeProto.dims[0]"));
  bad = ToProto(f);
  bad.mutable_type()->clear_dims();
  for (int d = 0; d < 17; ++d) bad.mutable_type()->add_dims(1);
  EXPECT_TRUE(IsInvalidWith(FromProto(bad).status(), "rank 17 exceeds 16"));
  bad = ToProto(f);
  for (int d = 0; d < 4; ++d) bad.mutable_type()->add_dims(int64_t{1} << 20);
  EXPECT_TRUE(IsInvalidWith(FromProto(bad).status(), "element count exceeds"));
}

TEST(WireConvertTest, CheckpointMessagesRoundTripAndAreBoundedWhereDecoded) {
  const checkpoint::ShardFile file{"/ckpt/array0.shard1", F32({2, 3}), 24, 99};
  auto got = FromProto(ThroughBytes(ToProto(file)));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, file);
  pathways::wire::ShardFileProto bad = ToProto(file);
  bad.set_path("../etc/passwd");
  EXPECT_TRUE(IsInvalidWith(FromProto(bad).status(), "ShardFileProto.path"));
  bad = ToProto(file);
  bad.set_bytes(1 << 30);
  EXPECT_TRUE(IsInvalidWith(FromProto(bad).status(), "ShardFileProto.bytes"));

  SaveCheckpointRequest save{"/ckpt", {{"params/w", ArrayId(3)}}, "{}"};
  auto save_back = FromProto(ThroughBytes(ToProto(ClientId(1), save)));
  ASSERT_TRUE(save_back.ok()) << save_back.status();
  EXPECT_EQ(save_back->first, ClientId(1));
  EXPECT_EQ(save_back->second.arrays[0].name, "params/w");
  EXPECT_EQ(save_back->second.arrays[0].array, ArrayId(3));
  pathways::wire::SaveCheckpointRequest long_name = ToProto(ClientId(1), save);
  long_name.mutable_arrays(0)->set_name(std::string(5000, 'x'));
  EXPECT_TRUE(IsInvalidWith(FromProto(long_name).status(), "arrays[0].name"));
  pathways::wire::SaveCheckpointRequest negative = ToProto(ClientId(1), save);
  negative.mutable_arrays(0)->set_array(-4);
  EXPECT_TRUE(IsInvalidWith(FromProto(negative).status(), "arrays[0].array"));

  RestoreCheckpointRequest restore{"/ckpt", {{"params/w", SliceId(2), F32({3})}, {"b", SliceId(2), {}}}};
  auto restore_back = FromProto(ThroughBytes(ToProto(ClientId(1), restore)));
  ASSERT_TRUE(restore_back.ok()) << restore_back.status();
  EXPECT_EQ(restore_back->second.arrays[0].expected_type, F32({3}));
  EXPECT_FALSE(restore_back->second.arrays[1].expected_type.has_value());
  pathways::wire::RestoreCheckpointRequest bad_type = ToProto(ClientId(1), restore);
  bad_type.mutable_arrays(0)->mutable_expected_type()->set_dims(0, -1);
  EXPECT_TRUE(IsInvalidWith(FromProto(bad_type).status(), "arrays[0].expected_type"));
}

TEST_F(WireHostRunTest, ProgramDefRoundTripsAndMalformedReferencesAreRejected) {
  auto got = FromProto(ThroughBytes(ToProto(program_)));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, program_);

  auto bad = ToProto(program_);
  bad.mutable_calls(1)->mutable_args(0)->set_node(-2);
  EXPECT_TRUE(IsInvalidWith(FromProto(bad).status(), "ProgramDefProto.calls[1].args[0]: ValueRefProto.node"));
  bad = ToProto(program_);
  bad.mutable_calls(0)->set_function(-3);
  EXPECT_TRUE(IsInvalidWith(FromProto(bad).status(), "ProgramDefProto.calls[0].function: id -3"));
  bad = ToProto(program_);
  bad.mutable_inputs(0)->set_slice(-1);
  EXPECT_TRUE(IsInvalidWith(FromProto(bad).status(), "ProgramDefProto.inputs[0]: ArraySpecProto.slice"));

  // Shardings and output placements travel too, bounded where they are decoded.
  ProgramDef sharded = program_;
  sharded.inputs[0].sharding = Sharding{Sharding::Kind::kPartitioned, {{}, {1, 0}}};
  sharded.calls[0].arg_shardings = {Sharding::Replicated()};
  sharded.calls[1].out_shardings = {Sharding::Split(0, {0})};
  sharded.output_placements = {OutputPlacement{SliceId(0), Sharding::Replicated()},
                               OutputPlacement{SliceId(), Sharding::Stacked()}};
  got = FromProto(ThroughBytes(ToProto(sharded)));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, sharded);
  bad = ToProto(sharded);
  bad.mutable_inputs(0)->mutable_sharding()->set_kind(7);
  EXPECT_TRUE(IsInvalidWith(FromProto(bad).status(), "ShardingProto.kind: unknown sharding kind 7"));
  bad = ToProto(sharded);
  bad.mutable_calls(1)->mutable_out_shardings(0)->mutable_spec(0)->set_axes(0, 99);
  EXPECT_TRUE(IsInvalidWith(FromProto(bad).status(), "calls[1].out_shardings[0]: ShardingProto.spec[0]: mesh axis 99"));
  bad = ToProto(sharded);
  bad.mutable_calls(0)->add_arg_shardings();
  EXPECT_TRUE(IsInvalidWith(FromProto(bad).status(), "2 shardings for 1 values"));
  bad = ToProto(sharded);
  bad.mutable_output_placements()->RemoveLast();
  EXPECT_TRUE(IsInvalidWith(FromProto(bad).status(), "1 placements for 2 outputs"));
}

TEST(WireConvertTest, SlicesRoundTripAndInconsistentMeshesAreRejected) {
  SliceRequest request;
  request.num_devices = 4;
  request.island = IslandId(2);
  request.mesh_shape = {2, 2};
  request.contiguity = ContiguityPolicy::kRequireContiguous;
  request.device_kind = "cpu";
  request.min_memory_bytes = 1 << 20;
  auto r = FromProto(ThroughBytes(ToProto(request)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->num_devices, 4);
  EXPECT_EQ(r->island, IslandId(2));
  EXPECT_EQ(r->mesh_shape, request.mesh_shape);
  EXPECT_EQ(r->contiguity, ContiguityPolicy::kRequireContiguous);
  EXPECT_EQ(r->device_kind, "cpu");
  EXPECT_EQ(r->min_memory_bytes, 1 << 20);
  request.island.reset();
  r = FromProto(ThroughBytes(ToProto(request)));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->island.has_value());
  auto bad_request = ToProto(request);
  bad_request.set_contiguity(3);
  EXPECT_TRUE(IsInvalidWith(FromProto(bad_request).status(), "SliceRequestProto.contiguity"));

  VirtualSlice slice{SliceId(5), ClientId(1), IslandId(0),
                     {DeviceId(3), DeviceId(1), DeviceId(2), DeviceId(0)}, {2, 2}, 7};
  auto s = FromProto(ThroughBytes(ToProto(slice)));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->id, slice.id);
  EXPECT_EQ(s->client, slice.client);
  EXPECT_EQ(s->island, slice.island);
  EXPECT_EQ(s->devices, slice.devices);
  EXPECT_EQ(s->mesh_shape, slice.mesh_shape);
  EXPECT_EQ(s->mapping_version, 7u);
  auto bad = ToProto(slice);
  bad.set_mesh_shape(1, 3);
  EXPECT_TRUE(IsInvalidWith(FromProto(bad).status(), "VirtualSliceProto.mesh_shape: product 6 != 4 devices"));
  bad = ToProto(slice);
  bad.set_devices(2, -1);
  EXPECT_TRUE(IsInvalidWith(FromProto(bad).status(), "VirtualSliceProto.devices[2]"));
}

TEST(WireConvertTest, ArraysAndRunResultsRoundTrip) {
  RunResult result;
  result.run = RunId(12);
  result.outputs.push_back(ArrayInfo{ArrayId(40), ArraySpec{F32({4, 2}), SliceId(3)},
                                     {DeviceId(0), DeviceId(2)}});
  result.outputs.push_back(ArrayInfo{ArrayId(41), ArraySpec{ir::TensorType{ir::DType::kI32, {}},
                                                            SliceId(4)}, {DeviceId(1)}});
  auto got = FromProto(ThroughBytes(ToProto(result)));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->run, RunId(12));
  ASSERT_EQ(got->outputs.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(got->outputs[i].id, result.outputs[i].id);
    EXPECT_EQ(got->outputs[i].spec, result.outputs[i].spec);
    EXPECT_EQ(got->outputs[i].devices, result.outputs[i].devices);
  }
  auto bad = ToProto(result);
  bad.mutable_outputs(1)->mutable_spec()->mutable_shard_type()->set_dtype(0);
  EXPECT_TRUE(IsInvalidWith(FromProto(bad).status(),
                            "RunResultProto.outputs[1]: ArrayInfoProto.spec: ArraySpecProto.shard_type"));
}

TEST(WireConvertTest, ClusterStatusAndHostSpecRoundTrip) {
  HostStatus host;
  host.host = HostId(1);
  host.devices.push_back(DeviceStatus{DeviceId(2), "cpu", 1 << 30, 4096, 8192, 123456, 9, 1024});
  host.live_buffers = 3;
  host.live_buffer_bytes = 4096;
  host.runs_received = 17;
  host.dispatch_nanos = 99999;
  ClusterStatus status;
  status.islands.push_back(IslandInfo{IslandId(0), {HostId(0), HostId(1)}, {DeviceId(0), DeviceId(2)}});
  status.hosts.push_back(host);
  status.clients.push_back(ClientStatus{ClientId(4), "trainer", 6, 21});
  status.slices.push_back(VirtualSlice{SliceId(1), ClientId(4), IslandId(0), {DeviceId(2)}, {1}, 1});
  status.programs = 2;
  status.runs = 21;
  status.lowering_cache_hits = 19;
  status.lowering_cache_misses = 2;
  auto got = FromProto(ThroughBytes(ToProto(status)));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->islands.size(), 1u);
  EXPECT_EQ(got->islands[0].hosts, status.islands[0].hosts);
  EXPECT_EQ(got->islands[0].devices, status.islands[0].devices);
  ASSERT_EQ(got->hosts.size(), 1u);
  const HostStatus& h = got->hosts[0];
  EXPECT_EQ(h.host, HostId(1));
  ASSERT_EQ(h.devices.size(), 1u);
  EXPECT_EQ(h.devices[0].id, DeviceId(2));
  EXPECT_EQ(h.devices[0].kind, "cpu");
  EXPECT_EQ(h.devices[0].memory_capacity_bytes, 1 << 30);
  EXPECT_EQ(h.devices[0].memory_in_use_bytes, 4096);
  EXPECT_EQ(h.devices[0].peak_memory_in_use_bytes, 8192);
  EXPECT_EQ(h.devices[0].busy_nanos, 123456);
  EXPECT_EQ(h.devices[0].completed_items, 9);
  EXPECT_EQ(h.devices[0].scratch_bytes, 1024);
  EXPECT_EQ(h.live_buffers, 3);
  EXPECT_EQ(h.live_buffer_bytes, 4096);
  EXPECT_EQ(h.runs_received, 17);
  EXPECT_EQ(h.dispatch_nanos, 99999);
  ASSERT_EQ(got->clients.size(), 1u);
  EXPECT_EQ(got->clients[0].name, "trainer");
  EXPECT_EQ(got->clients[0].live_arrays, 6);
  EXPECT_EQ(got->clients[0].runs, 21);
  ASSERT_EQ(got->slices.size(), 1u);
  EXPECT_EQ(got->slices[0].devices, status.slices[0].devices);
  EXPECT_EQ(got->programs, 2);
  EXPECT_EQ(got->runs, 21);
  EXPECT_EQ(got->lowering_cache_hits, 19);
  EXPECT_EQ(got->lowering_cache_misses, 2);
  auto bad = ToProto(status);
  bad.mutable_hosts(0)->mutable_devices(0)->set_busy_nanos(-1);
  EXPECT_TRUE(IsInvalidWith(FromProto(bad).status(),
                            "ClusterStatusProto.hosts[0]: HostStatusProto.devices[0]: "
                            "DeviceStatusProto.busy_nanos"));

  HostSpec spec{IslandId(1), "127.0.0.1:7001", 4, "cpu", 1 << 28};
  auto s = FromProto(ThroughBytes(ToProto(spec)));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->island, IslandId(1));
  EXPECT_EQ(s->address, "127.0.0.1:7001");
  EXPECT_EQ(s->num_devices, 4);
  EXPECT_EQ(s->device_kind, "cpu");
  EXPECT_EQ(s->memory_bytes_per_device, 1 << 28);
}

TEST(WireConvertTest, HostRunResultsRoundTripInABatch) {
  HostRunResult a;
  a.host = HostId(1);
  a.run = RunId(5);
  a.stage = -1;
  a.outputs = {{3, 0, absl::OkStatus()}, {3, 1, absl::ResourceExhaustedError("device:3 full")}};
  a.status = absl::ResourceExhaustedError("node 'b' shard 1 on device:3: full");
  HostRunResult b;
  b.host = HostId(0);
  b.run = RunId(6);
  b.stage = 2;
  const HostRunResult batch[] = {a, b};
  auto got = FromProto(ThroughBytes(ToRunDoneReport(batch)));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 2u);
  const HostRunResult& ga = (*got)[0];
  EXPECT_EQ(ga.host, HostId(1));
  EXPECT_EQ(ga.run, RunId(5));
  EXPECT_EQ(ga.stage, -1);
  ASSERT_EQ(ga.outputs.size(), 2u);
  EXPECT_EQ(ga.outputs[1].value, 3);
  EXPECT_EQ(ga.outputs[1].shard, 1);
  EXPECT_EQ(ga.outputs[0].status, absl::OkStatus());
  EXPECT_EQ(ga.outputs[1].status, a.outputs[1].status);
  EXPECT_EQ(ga.status, a.status);
  EXPECT_EQ((*got)[1].stage, 2);
  EXPECT_TRUE((*got)[1].outputs.empty());
  EXPECT_TRUE((*got)[1].status.ok());

  auto bad = ToRunDoneReport(batch);
  bad.mutable_results(0)->mutable_outputs(0)->set_shard(-1);
  EXPECT_TRUE(IsInvalidWith(FromProto(bad).status(),
                            "RunDoneReport.results[0]: HostRunResultProto.outputs[0].shard"));
}

TEST(WireConvertTest, ShardPushesCarryChunksOrErrorsWithinTheShard) {
  const ShardPushHeader header{ArrayId(9), 1, DeviceId(3), F32({4})};
  const float data[4] = {1, 2, 3, 4};
  // The decoded chunk is a view into its message, which must outlive it.
  const auto chunk_proto = ThroughBytes(ChunkToProto(header, 8, &data[2], 8));
  auto chunk = FromProto(chunk_proto);
  ASSERT_TRUE(chunk.ok()) << chunk.status();
  EXPECT_EQ(chunk->header.array, ArrayId(9));
  EXPECT_EQ(chunk->header.shard, 1);
  EXPECT_EQ(chunk->header.device, DeviceId(3));
  EXPECT_EQ(chunk->header.type, F32({4}));
  EXPECT_EQ(chunk->offset, 8);
  ASSERT_EQ(chunk->chunk.size(), 8u);
  EXPECT_EQ(std::memcmp(chunk->chunk.data(), &data[2], 8), 0);
  EXPECT_TRUE(chunk->error.ok());

  auto error = FromProto(ThroughBytes(ErrorToProto(header, absl::AbortedError("gang:3"))));
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(error->error, absl::AbortedError("gang:3"));

  EXPECT_TRUE(IsInvalidWith(FromProto(ChunkToProto(header, 12, data, 8)).status(),
                            "ShardPushProto.chunk: bytes [12, 12 + 8) outside the shard's 16 bytes"));
  EXPECT_TRUE(IsInvalidWith(FromProto(ChunkToProto(header, -1, data, 1)).status(), "ShardPushProto.chunk"));
  EXPECT_TRUE(IsInvalidWith(FromProto(ErrorToProto(header, absl::OkStatus())).status(),
                            "carries an OK status"));
  auto none = ChunkToProto(header, 0, data, 16);
  none.clear_payload();
  EXPECT_TRUE(IsInvalidWith(FromProto(none).status(), "neither a chunk nor an error"));
}

}  // namespace
}  // namespace pw::wire
