// Tests of host programs and HostRuns on the wire: round trips of a real lowering in both
// dispatch modes, key-only later runs, sender and receiver validation, version checks.
#include "pathways/wire/wire_convert.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/wire/wire_test_util.h"

namespace pw::wire {
namespace {

using ::pw::wire::testing::F32;
using ::pw::wire::testing::IsInvalidWith;
using ::pw::wire::testing::ThroughBytes;
using ::pw::wire::testing::WireHostRunTest;
using ::testing::HasSubstr;

TEST_F(WireHostRunTest, LoweringHasSendsAndReceivesOnBothHosts) {
  // The premise of the tests below: realistic content on both hosts, in both modes.
  ASSERT_EQ(lowered_->hosts.size(), 2u);
  ASSERT_EQ(lowered_->stages.size(), 2u);
  auto has = [](const LoweredHostProgram& part, StepKind kind) {
    for (const HostStep& s : part.steps) {
      if (s.kind == kind) return true;
    }
    return false;
  };
  EXPECT_TRUE(has(*lowered_->hosts.at(HostId(0)), StepKind::kSend));
  EXPECT_TRUE(has(*lowered_->hosts.at(HostId(1)), StepKind::kRecv));
  EXPECT_TRUE(has(*lowered_->hosts.at(HostId(1)), StepKind::kCompute));
  EXPECT_FALSE(lowered_->hosts.at(HostId(1))->temporaries.empty());
}

TEST_F(WireHostRunTest, HostRunRoundTripsInBothModesOnEveryHost) {
  struct Case {
    DispatchMode mode;
    int64_t stage;
  };
  for (HostId host : {HostId(0), HostId(1)}) {
    for (Case c : {Case{DispatchMode::kParallel, -1}, Case{DispatchMode::kSequential, 0},
                   Case{DispatchMode::kSequential, 1}}) {
      if (c.mode == DispatchMode::kSequential && !lowered_->stages[c.stage].contains(host)) continue;
      SCOPED_TRACE(absl::StrCat(host.DebugString(), " ", DispatchModeName(c.mode), " ", c.stage));
      const HostRun sent = MakeRun(host, c.mode, c.stage);
      absl::StatusOr<pathways::wire::HostRunProto> proto =
          ToProto(sent, HostRunWireOptions{Key(host), ProgramPayload::kWithProgram});
      ASSERT_TRUE(proto.ok()) << proto.status();
      const pathways::wire::HostRunProto wire = ThroughBytes(*proto);
      ASSERT_TRUE(wire.has_program());
      absl::StatusOr<ReceivedHostProgram> program = FromProto(wire.program());
      ASSERT_TRUE(program.ok()) << program.status();
      EXPECT_EQ(program->key, Key(host));
      EXPECT_EQ(program->host, host);
      absl::StatusOr<HostRun> got = FromProto(wire, *program);
      ASSERT_TRUE(got.ok()) << got.status();

      EXPECT_EQ(got->run, sent.run);
      EXPECT_EQ(got->client, sent.client);
      EXPECT_EQ(got->gang_base, 500);
      EXPECT_EQ(got->mode, c.mode);
      EXPECT_EQ(got->stage, sent.stage);
      EXPECT_EQ(*got->value_arrays, *sent.value_arrays);
      ExpectSameSteps(*got->program, *sent.program);
      // The metadata the executor reads, for every slot and node.
      ASSERT_EQ(got->lowered->values.size(), lowered_->values.size());
      for (size_t v = 0; v < lowered_->values.size(); ++v) {
        EXPECT_EQ(got->lowered->values[v].name, lowered_->values[v].name);
        EXPECT_EQ(got->lowered->values[v].shard_type, lowered_->values[v].shard_type);
        EXPECT_EQ(got->lowered->values[v].is_program_output, lowered_->values[v].is_program_output);
        EXPECT_EQ(got->lowered->values[v].num_shards, lowered_->values[v].num_shards);
      }
      ASSERT_EQ(got->lowered->nodes.size(), lowered_->nodes.size());
      for (size_t n = 0; n < lowered_->nodes.size(); ++n) {
        EXPECT_EQ(got->lowered->nodes[n].name, lowered_->nodes[n].name);
      }
      // The HostRun points into the received program, as the controller's points into its lowering.
      EXPECT_EQ(got->lowered, program->lowered);
    }
  }
}

TEST_F(WireHostRunTest, LaterRunsSendOnlyTheKeyAndBindings) {
  const HostId host(1);
  auto first = ToProto(MakeRun(host, DispatchMode::kParallel, -1),
                       HostRunWireOptions{Key(host), ProgramPayload::kWithProgram});
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<ReceivedHostProgram> cached = FromProto(first->program());
  ASSERT_TRUE(cached.ok()) << cached.status();

  // The same cached program serves every stage and later runs with other bindings.
  HostRun later = MakeRun(host, DispatchMode::kSequential, 1);
  later.run = RunId(42);
  later.gang_base = 900;
  auto second = ToProto(later, HostRunWireOptions{Key(host), ProgramPayload::kKeyOnly});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->has_program());
  EXPECT_LT(second->ByteSizeLong() * 4, first->ByteSizeLong());
  absl::StatusOr<HostRun> got = FromProto(ThroughBytes(*second), *cached);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->run, RunId(42));
  EXPECT_EQ(got->gang_base, 900);
  EXPECT_EQ(got->stage, 1);
  ExpectSameSteps(*got->program, *lowered_->stages[1].at(host));
}

TEST_F(WireHostRunTest, KeysDependOnProgramMappingAndHostAndAreNeverZero) {
  const std::pair<SliceId, uint64_t> v1[] = {{SliceId(0), 1}};
  const std::pair<SliceId, uint64_t> v2[] = {{SliceId(0), 2}};
  const uint64_t k = HostProgramKey(ProgramId(1), v1, HostId(0));
  EXPECT_NE(k, 0u);
  EXPECT_EQ(k, HostProgramKey(ProgramId(1), v1, HostId(0)));
  EXPECT_NE(k, HostProgramKey(ProgramId(2), v1, HostId(0)));
  EXPECT_NE(k, HostProgramKey(ProgramId(1), v2, HostId(0)));
  EXPECT_NE(k, HostProgramKey(ProgramId(1), v1, HostId(1)));
}

TEST_F(WireHostRunTest, SenderRejectsRunsThatCannotBeRebuilt) {
  HostRun run = MakeRun(HostId(0), DispatchMode::kParallel, -1);
  run.program = std::make_shared<LoweredHostProgram>(*run.program);  // a copy, not the lowering's part
  EXPECT_TRUE(IsInvalidWith(ToProto(run, {Key(HostId(0)), ProgramPayload::kKeyOnly}).status(),
                            "not the part of lowered program 'two_calls'"));
  run = MakeRun(HostId(0), DispatchMode::kParallel, -1);
  run.lowered = nullptr;
  EXPECT_TRUE(IsInvalidWith(ToProto(run, {Key(HostId(0)), ProgramPayload::kKeyOnly}).status(),
                            "lacks its host program"));
  run = MakeRun(HostId(0), DispatchMode::kParallel, -1);
  EXPECT_TRUE(IsInvalidWith(ToProto(run, {0, ProgramPayload::kKeyOnly}).status(), "key 0"));
}

TEST_F(WireHostRunTest, ReceiverRejectsBadBindingsNamingTheField) {
  const HostId host(0);
  auto proto = ToProto(MakeRun(host, DispatchMode::kParallel, -1),
                       HostRunWireOptions{Key(host), ProgramPayload::kWithProgram});
  ASSERT_TRUE(proto.ok());
  auto program = FromProto(proto->program());
  ASSERT_TRUE(program.ok());

  auto bad = *proto;
  bad.set_program_key(Key(host) + 1);
  EXPECT_TRUE(IsInvalidWith(FromProto(bad, *program).status(), "HostRunProto.program.program_key"));
  bad.clear_program();
  EXPECT_TRUE(IsInvalidWith(FromProto(bad, *program).status(), "HostRunProto.program_key"));

  bad = *proto;
  bad.mutable_value_arrays()->RemoveLast();
  EXPECT_TRUE(IsInvalidWith(FromProto(bad, *program).status(), "HostRunProto.value_arrays"));
  bad = *proto;
  bad.set_value_arrays(2, -5);
  EXPECT_TRUE(IsInvalidWith(FromProto(bad, *program).status(),
                            "HostRunProto.value_arrays[2]: array id -5 is negative"));
  bad = *proto;
  bad.set_mode(7);
  EXPECT_TRUE(IsInvalidWith(FromProto(bad, *program).status(), "unknown dispatch mode 7"));
  bad = *proto;
  bad.set_mode(static_cast<uint32_t>(DispatchMode::kSequential));
  bad.set_stage(5);
  EXPECT_TRUE(IsInvalidWith(FromProto(bad, *program).status(), "no part in stage 5"));
  bad = *proto;
  bad.set_gang_base(INT64_MAX);
  EXPECT_TRUE(IsInvalidWith(FromProto(bad, *program).status(), "HostRunProto.gang_base"));
  bad = *proto;
  bad.set_run(-1);
  EXPECT_TRUE(IsInvalidWith(FromProto(bad, *program).status(), "HostRunProto.run"));
}

TEST_F(WireHostRunTest, ReceiverRejectsBadHostProgramsNamingTheField) {
  const HostId host(1);
  auto good = ToProto(*lowered_, host, Key(host));
  ASSERT_TRUE(good.ok()) << good.status();
  const int num_values = good->values_size();
  auto expect = [](const pathways::wire::HostProgramProto& p, const std::string& part) {
    EXPECT_TRUE(IsInvalidWith(FromProto(p).status(), part));
  };
  auto bad = *good;
  bad.mutable_whole()->mutable_steps(0)->set_kind(9);
  expect(bad, "HostProgramProto.whole: LoweredHostProgramProto.steps[0]: HostStepProto.kind");
  bad = *good;
  auto* compute = [&]() {
    for (auto& s : *bad.mutable_whole()->mutable_steps()) {
      if (s.kind() == static_cast<uint32_t>(StepKind::kCompute)) return &s;
    }
    return static_cast<pathways::wire::HostStepProto*>(nullptr);
  }();
  ASSERT_NE(compute, nullptr);
  compute->set_inputs(0, num_values);
  expect(bad, absl::StrCat("inputs[0]: value slot ", num_values, " out of range"));
  bad = *good;
  bad.mutable_whole()->mutable_steps(0)->set_node(1000);
  expect(bad, "HostStepProto.node: graph node 1000 out of range");
  bad = *good;
  bad.mutable_whole()->clear_functions();
  expect(bad, "is not in its host program's functions");
  bad = *good;
  bad.mutable_whole()->add_temporaries(0);
  expect(bad, "not strictly ascending");
  bad = *good;
  bad.mutable_values(0)->mutable_shard_type()->set_dtype(99);
  expect(bad, "HostProgramProto.values[0].shard_type: TensorTypeProto.dtype: unknown dtype 99");
  bad = *good;
  bad.clear_whole();
  expect(bad, "HostProgramProto.whole: missing");
  bad = *good;
  bad.set_program_key(0);
  expect(bad, "program_key");
  bad = *good;
  ASSERT_GT(bad.stages_size(), 0);
  bad.mutable_stages(0)->set_stage(1'000'000'000);
  expect(bad, "HostProgramProto.stages[0].stage");
  bad = *good;
  bad.mutable_stages(0)->mutable_part()->set_host(0);
  expect(bad, "HostProgramProto.stages[0].part.host");

  EXPECT_TRUE(IsInvalidWith(ToProto(*lowered_, HostId(5), 1).status(), "no part for host:5"));
}

// A resharding lowering (pieces cut on host 0, pushed, assembled on host 1) crosses the wire
// whole, and every coordinate of its regions is bounded where it is decoded.
TEST_F(WireHostRunTest, ReshardStepsRoundTripAndTheirRegionsAreBounded) {
  ProgramDef program;
  program.name = "reshard";
  program.inputs = {ArraySpec{F32({4}), SliceId(0), Sharding::Split(0, {0})}};
  program.outputs = {ValueRef{-1, 0}};
  // f32[8] in halves on host 0, replicated on both devices of host 1.
  program.output_placements = {OutputPlacement{SliceId(1), Sharding::Replicated()}};
  auto lowered = LowerProgram(program, context_);
  ASSERT_TRUE(lowered.ok()) << lowered.status();
  for (HostId host : {HostId(0), HostId(1)}) {
    auto proto = ToProto(**lowered, host, Key(host));
    ASSERT_TRUE(proto.ok()) << proto.status();
    auto got = FromProto(ThroughBytes(*proto));
    ASSERT_TRUE(got.ok()) << got.status();
    ExpectSameSteps(*got->lowered->hosts.at(host), *(*lowered)->hosts.at(host));
  }
  auto good = ToProto(**lowered, HostId(1), Key(HostId(1)));
  ASSERT_TRUE(good.ok());
  pathways::wire::HostStepProto* assemble = nullptr;
  for (auto& s : *good->mutable_whole()->mutable_steps()) {
    if (s.kind() == static_cast<uint32_t>(StepKind::kAssemble)) assemble = &s;
  }
  ASSERT_NE(assemble, nullptr);
  ASSERT_GT(assemble->regions_size(), 0);
  auto expect = [](const pathways::wire::HostProgramProto& p, const std::string& part) {
    EXPECT_TRUE(IsInvalidWith(FromProto(p).status(), part));
  };
  auto with_region = [&](auto change) {
    auto bad = *good;
    for (auto& s : *bad.mutable_whole()->mutable_steps()) {
      if (s.kind() == static_cast<uint32_t>(StepKind::kAssemble)) change(*s.mutable_regions(0));
    }
    return bad;
  };
  expect(with_region([](auto& r) { r.set_src_shard(1 << 20); }), "RegionProto.src_shard");
  expect(with_region([](auto& r) { r.set_src_value(-1); }), "RegionProto.src_value");
  expect(with_region([](auto& r) { r.set_extent(0, -4); }), "RegionProto.extent[0]");
  expect(with_region([](auto& r) { r.add_dst_offset(0); }), "coordinate lists of different ranks");
  expect(with_region([](auto& r) {
           for (int i = 0; i < 20; ++i) r.add_src_dims(1);
         }),
         "RegionProto.src_dims: 21 entries");
  auto bad = *good;
  bad.mutable_whole()->mutable_steps(0)->set_peer_shard(-7);
  expect(bad, "HostStepProto.peer_shard");
  bad = *good;
  bad.mutable_values(0)->set_num_shards(0);
  expect(bad, "HostProgramProto.values[0].num_shards");
  bad = *good;
  for (auto& s : *bad.mutable_whole()->mutable_steps()) {
    if (s.kind() == static_cast<uint32_t>(StepKind::kRecv)) s.add_regions();
  }
  expect(bad, "only assemble steps have regions");
}

TEST_F(WireHostRunTest, VersionMismatchIsAFailedPreconditionNamingBothVersions) {
  auto proto = ToProto(MakeRun(HostId(0), DispatchMode::kParallel, -1),
                       HostRunWireOptions{Key(HostId(0)), ProgramPayload::kWithProgram});
  ASSERT_TRUE(proto.ok());
  auto program = FromProto(proto->program());
  ASSERT_TRUE(program.ok());
  proto->set_version(kWireVersion + 1);
  absl::Status s = FromProto(*proto, *program).status();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("HostRunProto: peer speaks wire version 2, this build speaks 1"));

  pathways::wire::StatusResponse response;  // version 0: a peer that set nothing
  EXPECT_THAT(ResponseStatus(response), StatusIs(absl::StatusCode::kFailedPrecondition));
  response.set_version(kWireVersion);
  *response.mutable_status() = ToProto(absl::NotFoundError("array:3"));
  EXPECT_EQ(ResponseStatus(response), absl::NotFoundError("array:3"));
  pathways::wire::RunDoneReport report = ToRunDoneReport({});
  report.set_version(0);
  EXPECT_THAT(FromProto(report).status(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace pw::wire
