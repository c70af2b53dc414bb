// Runs HostExecutors on nothing but what crossed the wire: functions, host programs, HostRuns and
// HostRunResults all serialized and parsed, so the wire carries everything an executor reads.
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/collectives/in_process/in_process_collective_groups.h"
#include "pathways/device/cpu/cpu_device.h"
#include "pathways/ir/builder.h"
#include "pathways/ir/ir.pb.h"
#include "pathways/ir/serialization.h"
#include "pathways/wire/wire_convert.h"
#include "pathways/wire/wire_test_util.h"
#include "pathways/worker/host_executor.h"
#include "pathways/dataplane/in_process/in_process_data_plane.h"

namespace pw::wire {
namespace {

using ::pw::wire::testing::F32;
using ::pw::wire::testing::ThroughBytes;
using ::pw::wire::testing::WireHostRunTest;
using ::testing::ElementsAre;

// Collects results as the controller would receive them: through a RunDoneReport on the wire.
class WireObserver final : public RunObserver {
 public:
  void OnHostRunDone(HostRunResult result) override {
    const HostRunResult batch[] = {std::move(result)};
    absl::StatusOr<std::vector<HostRunResult>> got = FromProto(ThroughBytes(ToRunDoneReport(batch)));
    absl::MutexLock lock(&mu_);
    if (!got.ok()) {
      decode_errors_.push_back(got.status());
      return;
    }
    for (HostRunResult& r : *got) results_.push_back(std::move(r));
  }
  std::vector<HostRunResult> WaitFor(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return results_.size() + decode_errors_.size() >= n;
    };
    mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(20));
    EXPECT_TRUE(decode_errors_.empty()) << decode_errors_.front();
    return results_;
  }

 private:
  absl::Mutex mu_;
  std::vector<HostRunResult> results_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Status> decode_errors_ ABSL_GUARDED_BY(mu_);
};

ir::Function Build(ir::FunctionBuilder& b, std::vector<ir::Value> outputs) {
  auto f = b.Build(outputs);
  PW_CHECK(f.ok()) << f.status();
  return *f;
}

class WireExecutorTest : public WireHostRunTest {
 protected:
  WireExecutorTest() {
    for (int64_t d = 0; d < 4; ++d) {
      devices_.push_back(std::make_unique<CpuDevice>(
          CpuDeviceOptions{.id = DeviceId(d), .host = HostId(d / 2), .memory_capacity_bytes = 1 << 20}));
    }
    for (int64_t h = 0; h < 2; ++h) {
      HostExecutorOptions options;
      options.host = HostId(h);
      options.devices = {devices_[2 * h].get(), devices_[2 * h + 1].get()};
      options.data_plane = &data_plane_;
      options.collectives = &groups_;
      options.observer = &observer_;
      hosts_.push_back(std::make_unique<HostExecutor>(std::move(options)));
      PW_CHECK(data_plane_.Register(HostId(h), hosts_.back().get()).ok());
    }
    // fa(x) = (2x, x + 1); fb(a, x) = a + x.
    ir::FunctionBuilder fa("fa", {.num_shards = 2});
    ir::Value x = fa.Parameter(F32({4}), "x");
    SendFunction(FunctionId(7), Build(fa, {fa.Add(x, x), fa.Add(x, fa.ConstantScalar(1.0f))}));
    ir::FunctionBuilder fb("fb", {.num_shards = 2});
    ir::Value a = fb.Parameter(F32({4}), "a");
    ir::Value y = fb.Parameter(F32({4}), "x");
    SendFunction(FunctionId(8), Build(fb, {fb.Add(a, y)}));
  }

  ~WireExecutorTest() override {
    for (int64_t h = 0; h < 2; ++h) data_plane_.Unregister(HostId(h));
    hosts_.clear();
  }

  void SendFunction(FunctionId id, const ir::Function& f) {
    pathways::wire::WorkerRegisterFunctionRequest request;
    request.set_version(kWireVersion);
    request.set_id(id.value());
    *request.mutable_function() = ir::ToProto(f);
    const auto got = ThroughBytes(request);
    ASSERT_TRUE(CheckVersion(got).ok());
    absl::StatusOr<ir::Function> function = ir::FromProto(got.function());
    ASSERT_TRUE(function.ok()) << function.status();
    for (auto& host : hosts_) ASSERT_TRUE(host->RegisterFunction(FunctionId(got.id()), *function).ok());
  }

  // Sends `run` to its host as bytes: the host program with the first run, the key after.
  void Send(const HostRun& run) {
    const HostId host = run.program->host;
    const bool first = !received_[host.value()].lowered;
    auto proto = ToProto(run, HostRunWireOptions{Key(host), first ? ProgramPayload::kWithProgram
                                                                  : ProgramPayload::kKeyOnly});
    ASSERT_TRUE(proto.ok()) << proto.status();
    const pathways::wire::HostRunProto wire = ThroughBytes(*proto);
    if (wire.has_program()) {
      absl::StatusOr<ReceivedHostProgram> program = FromProto(wire.program());
      ASSERT_TRUE(program.ok()) << program.status();
      received_[host.value()] = *std::move(program);
    }
    absl::StatusOr<HostRun> got = FromProto(wire, received_[host.value()]);
    ASSERT_TRUE(got.ok()) << got.status();
    hosts_[host.value()]->Run(*std::move(got));
  }

  std::vector<float> Fetch(int64_t host, ArrayId array, int32_t shard) {
    absl::StatusOr<ir::Literal> lit = hosts_[host]->FetchShard(array, shard)->AwaitValue();
    EXPECT_TRUE(lit.ok()) << lit.status();
    if (!lit.ok()) return {};
    // Host data comes back to a client through the wire too.
    absl::StatusOr<ir::Literal> back = FromProto(ThroughBytes(ToProto(*lit)));
    EXPECT_TRUE(back.ok()) << back.status();
    auto data = back->data<float>();
    return std::vector<float>(data.begin(), data.end());
  }

  void PutInputs() {
    for (int32_t s = 0; s < 2; ++s) {
      const ir::Literal x = ir::Literal::Create<float>(ir::Shape{4}, {1.f + s, 2.f, 3.f, 4.f});
      absl::StatusOr<ir::Literal> wire = FromProto(ThroughBytes(ToProto(x)));
      ASSERT_TRUE(wire.ok());
      ASSERT_TRUE(hosts_[1]->PutShard(ArrayId(1000), s, DeviceId(2 + s), *wire).ok());
    }
  }

  void ExpectOutputs(const std::vector<HostRunResult>& results) {
    for (const HostRunResult& r : results) {
      EXPECT_TRUE(r.status.ok()) << r.status;
      for (const auto& o : r.outputs) EXPECT_TRUE(o.status.ok()) << o.status;
    }
    const ArrayId b(1000 + lowered_->output_values[0]);
    const ArrayId a0(1000 + lowered_->output_values[1]);
    EXPECT_THAT(Fetch(1, b, 0), ElementsAre(3, 6, 9, 12));
    EXPECT_THAT(Fetch(1, b, 1), ElementsAre(6, 6, 9, 12));
    EXPECT_THAT(Fetch(0, a0, 0), ElementsAre(2, 4, 6, 8));
    EXPECT_THAT(Fetch(0, a0, 1), ElementsAre(4, 4, 6, 8));
  }

  WireObserver observer_;
  InProcessDataPlane data_plane_;
  InProcessCollectiveGroups groups_;
  std::vector<std::unique_ptr<CpuDevice>> devices_;
  std::vector<std::unique_ptr<HostExecutor>> hosts_;
  ReceivedHostProgram received_[2];
};

TEST_F(WireExecutorTest, ParallelRunFromTheWireComputesEveryOutput) {
  PutInputs();
  Send(MakeRun(HostId(0), DispatchMode::kParallel, -1));
  Send(MakeRun(HostId(1), DispatchMode::kParallel, -1));
  const std::vector<HostRunResult> results = observer_.WaitFor(2);
  ASSERT_EQ(results.size(), 2u);
  ExpectOutputs(results);
}

TEST_F(WireExecutorTest, SequentialStagesFromTheWireReuseTheCachedProgram) {
  PutInputs();
  size_t expected = 0;
  for (int64_t stage = 0; stage < 2; ++stage) {
    for (HostId host : {HostId(0), HostId(1)}) {
      if (!lowered_->stages[stage].contains(host)) continue;
      Send(MakeRun(host, DispatchMode::kSequential, stage));
      ++expected;
    }
    ASSERT_EQ(observer_.WaitFor(expected).size(), expected);  // stage k-1 done before stage k
  }
  ExpectOutputs(observer_.WaitFor(expected));
}

}  // namespace
}  // namespace pw::wire
