// Tests for the C++ client on an in-process cluster: slices, Put / PutGlobal, op-by-op pmap
// with its trace cache, traced programs and their sticky errors, Array futures, releases.
#include "pathways/client/client.h"

#include <memory>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/cluster/local_cluster.h"

namespace pw {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ir::FunctionBuilder;
using ir::Value;

std::vector<float> Floats(const ir::Literal& literal) {
  auto data = literal.data<float>();
  return std::vector<float>(data.begin(), data.end());
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<LocalCluster>> cluster =
        LocalCluster::Start({.hosts_per_island = 2, .devices_per_host = 2,
                             .memory_per_device_bytes = int64_t{64} << 20});
    ASSERT_THAT(cluster.status(), IsOk());
    cluster_ = *std::move(cluster);
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(cluster_->controller(), "test");
    ASSERT_THAT(client.status(), IsOk());
    client_ = *std::move(client);
  }
  void TearDown() override {
    client_.reset();
    cluster_.reset();
  }

  PmapFunction Scale(const VirtualSlice& slice, float by) {
    return client_->Pmap("scale", slice, [by](FunctionBuilder& b, absl::Span<const Value> x) {
      return std::vector<Value>{b.Multiply(x[0], b.ScalarLike(b.TypeOf(x[0]).dtype, by))};
    });
  }

  std::unique_ptr<LocalCluster> cluster_;
  std::unique_ptr<Client> client_;
};

TEST_F(ClientTest, GetDevicesHandsOutDistinctDevicesUntilTheIslandIsFull) {
  absl::StatusOr<VirtualSlice> a = client_->GetDevices(2);
  absl::StatusOr<VirtualSlice> b = client_->GetDevices(2);
  ASSERT_THAT(a.status(), IsOk());
  ASSERT_THAT(b.status(), IsOk());
  EXPECT_EQ(a->devices.size(), 2u);
  EXPECT_NE(a->id, b->id);
  EXPECT_THAT(client_->GetDevices(0), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(client_->GetDevices(5), StatusIs(absl::StatusCode::kResourceExhausted));
}

TEST_F(ClientTest, PutGlobalSplitsTheLeadingAxisAndToLiteralJoinsIt) {
  VirtualSlice slice = *client_->GetDevices(2);
  absl::StatusOr<Array> x =
      client_->PutGlobal(slice, ir::Literal::Create<float>({2, 3}, {1, 2, 3, 4, 5, 6}));
  ASSERT_THAT(x.status(), IsOk());
  EXPECT_EQ(x->num_shards(), 2);
  EXPECT_EQ(x->devices(), slice.devices);
  absl::StatusOr<std::vector<ir::Literal>> shards = x->FetchShards();
  ASSERT_THAT(shards.status(), IsOk());
  ASSERT_EQ(shards->size(), 2u);
  EXPECT_THAT(Floats((*shards)[1]), ElementsAre(4, 5, 6));
  absl::StatusOr<ir::Literal> global = x->ToLiteral();
  ASSERT_THAT(global.status(), IsOk());
  EXPECT_THAT(Floats(*global), ElementsAre(1, 2, 3, 4, 5, 6));
}

TEST_F(ClientTest, PutRefusesShardsThatDoNotFitTheSlice) {
  VirtualSlice slice = *client_->GetDevices(2);
  // Three rows do not split over two devices; one literal for a slice of two.
  EXPECT_THAT(client_->PutGlobal(slice, ir::Literal::Create<float>({3}, {1, 2, 3})),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(client_->Put(slice, {ir::Literal::Create<float>({1}, {1})}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(ClientTest, OpByOpPmapRunsAndTracesOncePerSignature) {
  VirtualSlice slice = *client_->GetDevices(2);
  PmapFunction twice = Scale(slice, 2);
  Array x = *client_->PutGlobal(slice, ir::Literal::Create<float>({2}, {1, 2}));
  absl::StatusOr<std::vector<Array>> y = twice({x});
  ASSERT_THAT(y.status(), IsOk());
  EXPECT_THAT(Floats(*(*y)[0].ToLiteral()), ElementsAre(2, 4));
  // The same signature reuses the traced function; another one traces anew.
  absl::StatusOr<FunctionId> f1 = twice.FunctionFor({x.shard_type()});
  absl::StatusOr<FunctionId> f2 = twice.FunctionFor({x.shard_type()});
  ASSERT_THAT(f1.status(), IsOk());
  EXPECT_THAT(f2, IsOkAndHolds(*f1));
  absl::StatusOr<FunctionId> f3 = twice.FunctionFor({ir::TensorType{ir::DType::kF32, ir::Shape({4})}});
  ASSERT_THAT(f3.status(), IsOk());
  EXPECT_NE(*f3, *f1);
}

TEST_F(ClientTest, PmapOnAnArrayOfAnotherSliceMovesItFirst) {
  VirtualSlice a = *client_->GetDevices(2);
  VirtualSlice b = *client_->GetDevices(2);
  Array x = *client_->PutGlobal(a, ir::Literal::Create<float>({2}, {3, 4}));
  absl::StatusOr<std::vector<Array>> y = Scale(b, 10)({x});
  ASSERT_THAT(y.status(), IsOk());
  EXPECT_EQ((*y)[0].devices(), b.devices);
  EXPECT_THAT(Floats(*(*y)[0].ToLiteral()), ElementsAre(30, 40));
}

TEST_F(ClientTest, TracedProgramRunsAsOneSubmission) {
  VirtualSlice slice = *client_->GetDevices(2);
  PmapFunction twice = Scale(slice, 2);
  PmapFunction thrice = Scale(slice, 3);
  ProgramTracer t(*client_, "six_times");
  Traced v = t.Input({{ir::DType::kF32, {}}, slice.id});
  Traced out = thrice(t, twice(t, {v}))[0];
  absl::StatusOr<Program> program = t.Build({out});
  ASSERT_THAT(program.status(), IsOk());
  EXPECT_EQ(program->def().calls.size(), 2u);
  Array x = *client_->PutGlobal(slice, ir::Literal::Create<float>({2}, {1, 2}));
  for (DispatchMode mode : {DispatchMode::kParallel, DispatchMode::kSequential}) {
    absl::StatusOr<std::vector<Array>> y = program->Run({x}, RunOptions{mode});
    ASSERT_THAT(y.status(), IsOk());
    EXPECT_THAT(Floats(*(*y)[0].ToLiteral()), ElementsAre(6, 12));
  }
}

TEST_F(ClientTest, TracerErrorsAreStickyAndBuildReturnsTheFirst) {
  VirtualSlice slice = *client_->GetDevices(2);
  PmapFunction add = client_->Pmap("add", slice, [](FunctionBuilder& b, absl::Span<const Value> x) {
    return std::vector<Value>{b.Add(x[0], x[1])};
  });
  ProgramTracer t(*client_, "bad");
  Traced v = t.Input({{ir::DType::kF32, {3}}, slice.id});
  Traced w = t.Input({{ir::DType::kF32, {2}}, slice.id});
  add(t, {v, w});  // f32[3] + f32[2]: the body does not build
  EXPECT_THAT(t.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  const absl::Status first = t.status();
  std::vector<Traced> later = add(t, {v, v});  // fine on its own, but the tracer failed
  EXPECT_FALSE(later.empty()) << "a failed tracer still hands out placeholders";
  EXPECT_EQ(t.status(), first) << "the first error sticks";
  EXPECT_EQ(t.Build({v}).status(), first);
}

TEST_F(ClientTest, ErrorsOfARunReachEveryDependentArray) {
  VirtualSlice slice = *client_->GetDevices(2);
  // More than a device holds: the run's output allocation fails on the host.
  PmapFunction huge = client_->Pmap("huge", slice, [](FunctionBuilder& b, absl::Span<const Value> x) {
    return std::vector<Value>{b.BroadcastInDim(x[0], ir::Shape({int64_t{64} << 20}), {})};
  });
  Array x = *client_->PutGlobal(slice, ir::Literal::Create<float>({2}, {1, 2}));
  absl::StatusOr<std::vector<Array>> big = huge({x});
  ASSERT_THAT(big.status(), IsOk()) << "handles come back before anything runs";
  absl::StatusOr<std::vector<Array>> after = Scale(slice, 2)({(*big)[0]});
  ASSERT_THAT(after.status(), IsOk());
  EXPECT_THAT((*big)[0].Await(), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT((*after)[0].Await(), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT((*after)[0].ToLiteral(), StatusIs(absl::StatusCode::kResourceExhausted));
}

TEST_F(ClientTest, ReleasedArraysAndADisconnectedClientFreeDeviceMemory) {
  VirtualSlice slice = *client_->GetDevices(2);
  const std::vector<float> ones(2048, 1.0f);
  absl::StatusOr<ir::Literal> global =
      ir::Literal::Create<float>(ir::Shape({2, 1024}), absl::Span<const float>(ones));
  ASSERT_THAT(global.status(), IsOk());
  Array x = *client_->PutGlobal(slice, *global);
  Array y = (*Scale(slice, 2)({x}))[0];
  ASSERT_THAT(y.Await(), IsOk());
  EXPECT_GT(cluster_->controller().Status().clients[0].live_arrays, 0);
  x.Release();
  y.Release();
  cluster_->controller_impl().Quiesce();
  EXPECT_EQ(cluster_->controller().Status().clients[0].live_arrays, 0);
  Array z = *client_->PutGlobal(slice, ir::Literal::Create<float>({2}, {1, 2}));
  z.Release();
  client_.reset();  // disconnects
  EXPECT_TRUE(cluster_->controller().Status().clients.empty());
}

}  // namespace
}  // namespace pw
