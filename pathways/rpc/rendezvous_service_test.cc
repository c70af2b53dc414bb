// Tests for the rendezvous store over gRPC: the RendezvousStore conformance suite against
// GrpcRendezvousStore -> Rendezvous service -> InMemoryRendezvousStore, a lost store named by its
// address, and a blocked Wait released by the service's Shutdown.
#include "pathways/rpc/rendezvous_service.h"

#include <memory>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/logging.h"
#include "pathways/base/status_matchers.h"
#include "pathways/collectives/in_process/in_memory_rendezvous_store.h"
#include "pathways/collectives/rendezvous_store_conformance.h"
#include "pathways/rpc/grpc_common.h"

namespace pw::conformance {
namespace {

using ::testing::HasSubstr;

// An in-memory store served over loopback gRPC, and a client store talking to it.
class ServedStore {
 public:
  ServedStore() {
    grpc::ServerBuilder builder;
    int port = 0;
    grpc_transport::ConfigureServer(builder, "127.0.0.1:0", &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    PW_CHECK(server_ != nullptr && port != 0);
    address_ = absl::StrCat("127.0.0.1:", port);
    auto client = GrpcRendezvousStore::Create(address_);
    PW_CHECK(client.ok()) << client.status();
    client_ = *std::move(client);
  }
  ~ServedStore() { StopServer(); }

  void StopServer() {
    if (server_ == nullptr) return;
    service_.Shutdown();
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Milliseconds(200)));
    server_->Wait();
    server_.reset();
  }

  RendezvousStore& store() { return *client_; }
  RendezvousServiceImpl& service() { return service_; }
  const std::string& address() const { return address_; }

 private:
  InMemoryRendezvousStore backing_;
  RendezvousServiceImpl service_{&backing_};
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::unique_ptr<GrpcRendezvousStore> client_;
};

INSTANTIATE_TYPED_TEST_SUITE_P(Grpc, RendezvousStoreConformanceTest, ServedStore);

TEST(GrpcRendezvousStoreTest, LostStoreIsUnavailableNamingItsAddress) {
  ServedStore served;
  ASSERT_TRUE(served.store().Set("a", "1").ok());
  served.StopServer();
  for (absl::Status s : {served.store().Set("a", "2"), served.store().Get("a").status(),
                         served.store().Wait({"a"}, absl::Seconds(1), ""),
                         served.store().DeletePrefix("a").status()}) {
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable));
    EXPECT_THAT(std::string(s.message()), HasSubstr(served.address()));
  }
  EXPECT_THAT(GrpcRendezvousStore::Create("").status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(GrpcRendezvousStoreTest, ServiceShutdownReleasesABlockedWait) {
  ServedStore served;
  absl::Status waited;
  std::thread waiter([&] { waited = served.store().Wait({"never"}, absl::Seconds(60), ""); });
  // Whether the wait reached the server yet or not, it must end well before its 60 s.
  served.service().Shutdown();
  waiter.join();
  EXPECT_THAT(waited, StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace pw::conformance
