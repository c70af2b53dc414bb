// Integration: compiled functions with collectives run as gangs on CPU device streams.
//
// Layers exercised together: ir (builder), kernels (CpuExecutable), device (CpuDevice streams and
// memory), collectives (InProcessCollectiveGroup). Every expected value is computed here from the
// inputs, independently of the kernels.
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status.h"
#include "pathways/base/status_matchers.h"
#include "pathways/collectives/in_process/in_process_collectives.h"
#include "pathways/device/cpu/cpu_device.h"
#include "pathways/ir/builder.h"
#include "pathways/kernels/cpu_executable.h"

namespace pw {
namespace {

using ::testing::HasSubstr;

// One gang: a device, buffers and a communicator per shard.
class Gang {
 public:
  explicit Gang(int64_t n, int64_t memory_bytes = 16 << 20) {
    for (int64_t i = 0; i < n; ++i) {
      devices_.push_back(std::make_unique<CpuDevice>(CpuDeviceOptions{
          .id = DeviceId(i), .host = HostId(0), .memory_capacity_bytes = memory_bytes}));
    }
    auto group = InProcessCollectiveGroup::Create(n, {.timeout = absl::Seconds(20)});
    PW_CHECK(group.ok());
    group_ = *group;
  }

  int64_t size() const { return static_cast<int64_t>(devices_.size()); }
  CpuDevice& device(int64_t i) { return *devices_[i]; }
  InProcessCollectiveGroup& group() { return *group_; }

  // Runs `exe` on every shard with inputs[shard] (one f32 vector per parameter); returns every
  // shard's outputs, or the first shard error. `fail_shard` >= 0 makes that shard fail before
  // it reaches the executable, aborting the group as the runtime does.
  absl::StatusOr<std::vector<std::vector<std::vector<float>>>> Run(
      const CpuExecutable& exe, const std::vector<std::vector<std::vector<float>>>& inputs,
      int64_t fail_shard = -1) {
    struct Shard {
      std::vector<DeviceBuffer> args, outs;
      DeviceBuffer scratch;
      std::unique_ptr<Communicator> comm;
      EventRef done;
    };
    std::vector<Shard> shards(size());
    for (int64_t s = 0; s < size(); ++s) {
      Shard& sh = shards[s];
      for (size_t p = 0; p < exe.parameter_types().size(); ++p) {
        PW_ASSIGN_OR_RETURN(DeviceBuffer b, device(s).Allocate(exe.parameter_types()[p].byte_size()));
        std::memcpy(b.data(), inputs[s][p].data(), inputs[s][p].size() * sizeof(float));
        sh.args.push_back(std::move(b));
      }
      for (const ir::TensorType& t : exe.output_types()) {
        PW_ASSIGN_OR_RETURN(DeviceBuffer b, device(s).Allocate(t.byte_size()));
        sh.outs.push_back(std::move(b));
      }
      PW_ASSIGN_OR_RETURN(sh.scratch, device(s).Allocate(exe.scratch_bytes()));
      PW_ASSIGN_OR_RETURN(sh.comm, group_->CommunicatorForRank(s));
    }
    for (int64_t s = 0; s < size(); ++s) {
      Shard& sh = shards[s];
      sh.done = device(s).Enqueue(StreamWork{
          .name = absl::StrCat("shard ", s),
          .wait_for = {},
          .fn = [&sh, &exe, s, fail_shard, this]() -> absl::Status {
            if (s == fail_shard) {
              absl::Status err = absl::ResourceExhaustedError(absl::StrCat("shard ", s, " ran out of memory"));
              group_->Abort(err);
              return err;
            }
            std::vector<const void*> args;
            std::vector<void*> outs;
            for (auto& b : sh.args) args.push_back(b.data());
            for (auto& b : sh.outs) outs.push_back(b.data());
            return exe.Execute(args, outs, sh.scratch.data(), ExecuteContext{.communicator = sh.comm.get()});
          }});
    }
    absl::Status first;
    for (Shard& sh : shards) {
      absl::Status st = sh.done->Await();
      if (first.ok()) first = st;
    }
    if (!first.ok()) return first;
    std::vector<std::vector<std::vector<float>>> results(size());
    for (int64_t s = 0; s < size(); ++s) {
      for (size_t o = 0; o < exe.output_types().size(); ++o) {
        const float* p = static_cast<const float*>(shards[s].outs[o].data());
        results[s].emplace_back(p, p + exe.output_types()[o].num_elements());
      }
    }
    return results;
  }

 private:
  std::vector<std::unique_ptr<CpuDevice>> devices_;
  std::shared_ptr<InProcessCollectiveGroup> group_;
};

float Input(int64_t shard, int64_t i) { return static_cast<float>(shard * 100 + i); }

TEST(GangExecutionTest, EveryCollectiveAcrossEightDevices) {
  constexpr int64_t n = 8, rows = 2, cols = 8;  // per-shard x: f32[2,8]
  ir::FunctionBuilder b("collectives", {.num_shards = n});
  ir::Value x = b.Parameter({ir::DType::kF32, {rows, cols}}, "x");
  ir::Value sum = b.AllReduce(x, ir::ReduceKind::kSum);
  ir::Value max = b.AllReduce(x, ir::ReduceKind::kMax);
  ir::Value gathered = b.AllGather(x, 1);                              // f32[2,64]
  ir::Value scattered = b.ReduceScatter(x, 1, ir::ReduceKind::kSum);   // f32[2,1]
  ir::Value a2a = b.AllToAll(x, 1, 0);                                 // f32[16,1]
  std::vector<std::pair<int64_t, int64_t>> ring;
  for (int64_t i = 0; i < n; ++i) ring.emplace_back(i, (i + 1) % n);
  ir::Value permuted = b.CollectivePermute(x, ring);
  ir::Value shard = b.Convert(b.ShardIndex(), ir::DType::kF32);
  auto f = b.Build({sum, max, gathered, scattered, a2a, permuted, shard});
  ASSERT_TRUE(f.ok()) << f.status();
  auto exe = CpuExecutable::Compile(*f);
  ASSERT_TRUE(exe.ok()) << exe.status();

  Gang gang(n);
  std::vector<std::vector<std::vector<float>>> inputs(n);
  for (int64_t s = 0; s < n; ++s) {
    std::vector<float> v(rows * cols);
    for (int64_t i = 0; i < rows * cols; ++i) v[i] = Input(s, i);
    inputs[s] = {v};
  }
  auto out = gang.Run(**exe, inputs);
  ASSERT_TRUE(out.ok()) << out.status();
  for (int64_t s = 0; s < n; ++s) {
    const auto& o = (*out)[s];
    for (int64_t i = 0; i < rows * cols; ++i) {
      float expect_sum = 0, expect_max = -1e30f;
      for (int64_t r = 0; r < n; ++r) {
        expect_sum += Input(r, i);
        expect_max = std::max(expect_max, Input(r, i));
      }
      ASSERT_EQ(o[0][i], expect_sum) << "all_reduce sum, shard " << s << " element " << i;
      ASSERT_EQ(o[1][i], expect_max) << "all_reduce max, shard " << s << " element " << i;
    }
    // all_gather along axis 1: row r holds every shard's row r, shard-major.
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t src = 0; src < n; ++src) {
        for (int64_t c = 0; c < cols; ++c) {
          ASSERT_EQ(o[2][r * n * cols + src * cols + c], Input(src, r * cols + c)) << "all_gather";
        }
      }
    }
    // reduce_scatter along axis 1: shard s keeps column s, summed over shards.
    for (int64_t r = 0; r < rows; ++r) {
      float expect = 0;
      for (int64_t src = 0; src < n; ++src) expect += Input(src, r * cols + s);
      ASSERT_EQ(o[3][r], expect) << "reduce_scatter";
    }
    // all_to_all split axis 1, concat axis 0: block j (rows 2j..2j+1) is shard j's column s.
    for (int64_t src = 0; src < n; ++src) {
      for (int64_t r = 0; r < rows; ++r) {
        ASSERT_EQ(o[4][src * rows + r], Input(src, r * cols + s)) << "all_to_all";
      }
    }
    // permute around the ring: shard s receives shard s-1's input.
    int64_t from = (s + n - 1) % n;
    for (int64_t i = 0; i < rows * cols; ++i) ASSERT_EQ(o[5][i], Input(from, i)) << "permute";
    EXPECT_EQ(o[6][0], static_cast<float>(s)) << "shard_index";
  }
}

TEST(GangExecutionTest, ManyGangsBackToBackStayMatched) {
  constexpr int64_t n = 4;
  ir::FunctionBuilder b("step", {.num_shards = n});
  ir::Value x = b.Parameter({ir::DType::kF32, {}}, "x");
  auto f = b.Build({b.Add(b.AllReduce(x, ir::ReduceKind::kSum), b.ConstantScalar(1.0f))});
  ASSERT_TRUE(f.ok()) << f.status();
  auto exe = CpuExecutable::Compile(*f);
  ASSERT_TRUE(exe.ok()) << exe.status();
  Gang gang(n);
  std::vector<std::vector<std::vector<float>>> inputs(n, {{1.0f}});
  for (int round = 0; round < 50; ++round) {
    auto out = gang.Run(**exe, inputs);
    ASSERT_TRUE(out.ok()) << out.status();
    for (int64_t s = 0; s < n; ++s) inputs[s][0][0] = (*out)[s][0][0];
  }
  // x -> 4x + 1 fifty times, identically on every shard.
  double expect = 1;
  for (int round = 0; round < 50; ++round) expect = static_cast<float>(4 * expect + 1);
  for (int64_t s = 0; s < n; ++s) EXPECT_FLOAT_EQ(inputs[s][0][0], static_cast<float>(expect));
}

TEST(GangExecutionTest, FailedShardAbortsTheGangInsteadOfHanging) {
  constexpr int64_t n = 4;
  ir::FunctionBuilder b("reduce", {.num_shards = n});
  ir::Value x = b.Parameter({ir::DType::kF32, {4}}, "x");
  auto f = b.Build({b.AllReduce(x, ir::ReduceKind::kSum)});
  ASSERT_TRUE(f.ok()) << f.status();
  auto exe = CpuExecutable::Compile(*f);
  ASSERT_TRUE(exe.ok()) << exe.status();
  Gang gang(n);
  std::vector<std::vector<std::vector<float>>> inputs(n, {{1, 2, 3, 4}});
  auto out = gang.Run(**exe, inputs, /*fail_shard=*/2);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("shard 2 ran out of memory"));
  EXPECT_TRUE(gang.group().broken());
}

TEST(GangExecutionTest, OutputLargerThanDeviceMemoryIsResourceExhausted) {
  ir::FunctionBuilder b("big");
  ir::Value x = b.Parameter({ir::DType::kF32, {1024}}, "x");
  auto f = b.Build({b.BroadcastInDim(x, {1024, 1024}, {1})});  // 4 MiB output
  ASSERT_TRUE(f.ok()) << f.status();
  auto exe = CpuExecutable::Compile(*f);
  ASSERT_TRUE(exe.ok()) << exe.status();
  CpuDevice device({.id = DeviceId(0), .host = HostId(0), .memory_capacity_bytes = 1 << 20});
  absl::StatusOr<DeviceBuffer> in = device.Allocate(4096);
  ASSERT_TRUE(in.ok());
  absl::StatusOr<DeviceBuffer> out = device.Allocate((*exe)->output_types()[0].byte_size());
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status(), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("device:0"));
  EXPECT_EQ(device.memory().bytes_in_use(), 4096);
}

}  // namespace
}  // namespace pw
