// Fuzz-style test of the wire readers: random bytes and mutations of valid messages.
#include "pathways/wire/wire_convert.h"

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status.h"
#include "pathways/base/status_matchers.h"
#include "pathways/wire/wire_test_util.h"

namespace pw::wire {
namespace {

using ::pw::wire::testing::F32;
using ::pw::wire::testing::IsInvalidWith;
using ::pw::wire::testing::ThroughBytes;
using ::pw::wire::testing::WireHostRunTest;
using ::testing::HasSubstr;

// Random bytes and mutations of valid messages: parsing and conversion never crash, and every
// error is INVALID_ARGUMENT (or the version check's FAILED_PRECONDITION).
TEST_F(WireHostRunTest, FuzzedBytesNeverCrashAndFailCleanly) {
  auto first = ToProto(MakeRun(HostId(1), DispatchMode::kSequential, 1),
                       HostRunWireOptions{Key(HostId(1)), ProgramPayload::kWithProgram});
  ASSERT_TRUE(first.ok());
  auto cached = FromProto(first->program());
  ASSERT_TRUE(cached.ok());

  HostRunResult result;
  result.host = HostId(1);
  result.run = RunId(5);
  result.outputs = {{3, 0, absl::OkStatus()}, {4, 1, absl::InternalError("x")}};
  ClusterStatus status;
  status.slices.push_back(VirtualSlice{SliceId(1), ClientId(4), IslandId(0), {DeviceId(2)}, {1}, 1});
  status.hosts.push_back(HostStatus{HostId(1), {DeviceStatus{DeviceId(2), "cpu", 1, 1, 1, 1, 1, 1}}});
  const float data[4] = {1, 2, 3, 4};

  // One decoder per message kind: parse, convert, report the status (OK if it parsed and held).
  enum Kind { kHostRun, kHostProgram, kProgramDef, kCluster, kReport, kPush, kLiteral, kSlice, kNumKinds };
  std::vector<std::string> seeds(kNumKinds);
  seeds[kHostRun] = first->SerializeAsString();
  seeds[kHostProgram] = first->program().SerializeAsString();
  seeds[kProgramDef] = ToProto(program_).SerializeAsString();
  seeds[kCluster] = ToProto(status).SerializeAsString();
  seeds[kReport] = ToRunDoneReport({&result, 1}).SerializeAsString();
  seeds[kPush] = ChunkToProto({ArrayId(9), 1, DeviceId(3), F32({4})}, 0, data, 16).SerializeAsString();
  seeds[kLiteral] = ToProto(ir::Literal::Create<float>(ir::Shape{4}, {1, 2, 3, 4})).SerializeAsString();
  seeds[kSlice] = ToProto(status.slices[0]).SerializeAsString();

  auto decode = [&](int kind, const std::string& bytes, bool* parsed) -> absl::Status {
    auto run = [&](auto proto, auto convert) -> absl::Status {
      *parsed = proto.ParseFromString(bytes);
      if (!*parsed) return absl::OkStatus();
      return convert(proto);
    };
    switch (kind) {
      case kHostRun:
        return run(pathways::wire::HostRunProto(), [&](const auto& p) -> absl::Status {
          if (!p.has_program()) return FromProto(p, *cached).status();
          PW_ASSIGN_OR_RETURN(ReceivedHostProgram program, FromProto(p.program()));
          return FromProto(p, program).status();
        });
      case kHostProgram:
        return run(pathways::wire::HostProgramProto(), [](const auto& p) { return FromProto(p).status(); });
      case kProgramDef:
        return run(pathways::wire::ProgramDefProto(), [](const auto& p) { return FromProto(p).status(); });
      case kCluster:
        return run(pathways::wire::ClusterStatusProto(), [](const auto& p) { return FromProto(p).status(); });
      case kReport:
        return run(pathways::wire::RunDoneReport(), [](const auto& p) { return FromProto(p).status(); });
      case kPush:
        return run(pathways::wire::ShardPushProto(), [](const auto& p) { return FromProto(p).status(); });
      case kLiteral:
        return run(pathways::ir::LiteralProto(), [](const auto& p) { return FromProto(p).status(); });
      default:
        return run(pathways::wire::VirtualSliceProto(), [](const auto& p) { return FromProto(p).status(); });
    }
  };

  std::mt19937_64 rng(20240611);
  auto uniform = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  int parsed_count = 0, ok_count = 0, invalid_count = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int iter = 0; iter < 20000; ++iter) {
    const int kind = static_cast<int>(uniform(kNumKinds));
    std::string bytes;
    if (iter % 5 == 0) {
      bytes.resize(uniform(64));
      for (char& c : bytes) c = static_cast<char>(rng());
    } else {
      bytes = seeds[kind];
      const int mutations = 1 + static_cast<int>(uniform(4));
      for (int m = 0; m < mutations && !bytes.empty(); ++m) {
        switch (uniform(5)) {
          case 0: bytes[uniform(bytes.size())] = static_cast<char>(rng()); break;
          case 1: bytes[uniform(bytes.size())] ^= static_cast<char>(1 << uniform(8)); break;
          case 2: bytes.resize(uniform(bytes.size())); break;
          case 3: bytes.insert(uniform(bytes.size() + 1), 1, static_cast<char>(rng())); break;
          default: {  // splice a random slice of the seed onto the end (repeated fields, overrides)
            const size_t from = uniform(seeds[kind].size());
            bytes += seeds[kind].substr(from, uniform(32));
            break;
          }
        }
      }
    }
    bool parsed = false;
    const absl::Status s = decode(kind, bytes, &parsed);
    parsed_count += parsed;
    if (!parsed) continue;
    if (s.ok()) {
      ++ok_count;
    } else if (s.code() == absl::StatusCode::kInvalidArgument) {
      ++invalid_count;
    } else {
      ASSERT_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition));
      ASSERT_THAT(std::string(s.message()), HasSubstr("peer speaks wire version")) << s;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 2.0);
  // The loop must have exercised both outcomes of the converters, not just the parser.
  EXPECT_GT(parsed_count, 1500);
  EXPECT_GT(ok_count, 500);
  EXPECT_GT(invalid_count, 300);
}

}  // namespace
}  // namespace pw::wire
