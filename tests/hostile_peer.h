// The fixture of the hostile-peer tests (hostile_peer_test.cc, hostile_client_test.cc): a
// controller and two workers in this process over real sockets (LoopbackClusterTest), and what a
// hand-written peer needs to reach them.
#ifndef TESTS_HOSTILE_PEER_H_
#define TESTS_HOSTILE_PEER_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/client/client.h"
#include "pathways/rpc/services.grpc.pb.h"
#include "pathways/wire/wire_convert.h"
#include "tests/loopback_cluster.h"
#include "tests/test_util.h"

namespace pw {

// Connects over a raw stub, as a hand-written peer would: (its client id, its session token).
inline std::pair<int64_t, std::string> RawSession(pathways::wire::ControllerApi::Stub& stub,
                                                 const std::string& cluster_token) {
  pathways::wire::ConnectRequest request;
  request.set_version(wire::kWireVersion);
  request.set_cluster_token(cluster_token);
  pathways::wire::ConnectResponse response;
  grpc::ClientContext context;
  const grpc::Status s = stub.Connect(&context, request, &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.status().code(), 0) << response.status().message();
  return {response.client(), response.session()};
}

class HostilePeerTest : public LoopbackClusterTest {
 protected:
  std::string ClientName() const override { return "hostile"; }

  // A program over both workers' devices still gives the right answer.
  void ExpectTheClusterStillWorks() {
    VirtualSlice s = testing_util::Unwrap(client_->GetDevices(4));
    PmapFunction f =
        client_->Pmap("twice", s, [](ir::FunctionBuilder& b, absl::Span<const ir::Value> x) {
          return std::vector<ir::Value>{b.Add(x[0], x[0])};
        });
    Array x = testing_util::Unwrap(client_->PutGlobal(s, ir::Literal::Create<float>({4}, {1, 2, 3, 4})));
    std::vector<Array> out = testing_util::Unwrap(f({x}));
    EXPECT_THAT(testing_util::Unwrap(out[0].ToLiteral()).data<float>(), ::testing::ElementsAre(2, 4, 6, 8));
  }
};


}  // namespace pw

#endif  // TESTS_HOSTILE_PEER_H_
