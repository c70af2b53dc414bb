// TCP data plane specifics (the shared contract is in data_plane_conformance.h): handshakes of a
// wrong magic or version refused with a clear message on both sides, pushes to one host kept in
// order, a connection re-opened (and the host re-resolved) after a failure, no user-space copy.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/dataplane/data_plane_conformance.h"
#include "pathways/dataplane/tcp/tcp_data_plane.h"
#include "pathways/dataplane/tcp/tcp_frames.h"
#include "pathways/dataplane/tcp/tcp_shard_listener.h"
#include "pathways/wire/wire.pb.h"
#include "pathways/wire/wire_convert.h"

namespace pw {
namespace {

using ::pw::data_plane_testing::RecordingReceiver;
using ::testing::HasSubstr;

ir::TensorType Bytes(int64_t n) { return ir::TensorType{ir::DType::kBool, ir::Shape({n})}; }

// A blocking client socket connected to `address` ("127.0.0.1:port").
int Dial(const std::string& address) {
  absl::StatusOr<int> fd = tcp_transport::StartConnect(address);
  EXPECT_TRUE(fd.ok()) << fd.status();
  if (!fd.ok()) return -1;
  // Back to blocking: the test reads synchronously.
  for (int i = 0; i < 1000 && tcp_transport::SocketError(*fd) == 0; ++i) {
    pollfd p{*fd, POLLOUT, 0};
    if (poll(&p, 1, 10) > 0) break;
  }
  return *fd;
}

// Everything the peer sends until it closes the connection (bounded by 10 s).
std::string ReadToEnd(int fd) {
  std::string got;
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (absl::Now() < give_up) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buffer[4096];
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    got.append(buffer, static_cast<size_t>(n));
  }
  return got;
}

// The listener's answer to a handshake: its own hello, then a verdict for push 0.
absl::Status RefusalIn(const std::string& bytes) {
  if (bytes.size() < tcp_transport::kHelloBytes + tcp_transport::kPrefixBytes) {
    return absl::DataLossError(absl::StrCat("only ", bytes.size(), " bytes back"));
  }
  EXPECT_TRUE(tcp_transport::CheckHello(tcp_transport::DecodeHello(bytes.data()), "listener").ok());
  absl::StatusOr<tcp_transport::Prefix> prefix =
      tcp_transport::DecodePrefix(bytes.data() + tcp_transport::kHelloBytes, "listener");
  EXPECT_TRUE(prefix.ok()) << prefix.status();
  EXPECT_EQ(prefix->kind, tcp_transport::FrameKind::kVerdict);
  EXPECT_EQ(prefix->push_id, 0u);
  pathways::wire::StatusProto proto;
  EXPECT_TRUE(proto.ParseFromArray(
      bytes.data() + tcp_transport::kHelloBytes + tcp_transport::kPrefixBytes,
      static_cast<int>(prefix->meta_bytes)));
  return wire::FromProto(proto)->status;
}

TEST(TcpShardListenerTest, HandshakeOfAnotherMagicOrVersionIsRefusedAndDisconnected) {
  RecordingReceiver receiver;
  auto listener = TcpShardListener::Start({.name = "host:1"});
  ASSERT_TRUE(listener.ok()) << listener.status();
  (*listener)->SetReceiver(&receiver, "host:1", HostId(1));

  int fd = Dial((*listener)->address());
  const std::string http = "GET / HTTP/1.1\r\n\r\n";  // not a data plane at all
  ASSERT_EQ(send(fd, http.data(), http.size(), 0), static_cast<ssize_t>(http.size()));
  absl::Status refused = RefusalIn(ReadToEnd(fd));
  close(fd);
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(refused.message()), HasSubstr("not a Pathways TCP data plane peer"));
  EXPECT_THAT(std::string(refused.message()), HasSubstr("magic"));

  fd = Dial((*listener)->address());
  const std::string future = tcp_transport::EncodeHello({tcp_transport::kMagic, 99, 5});
  ASSERT_EQ(send(fd, future.data(), future.size(), 0), static_cast<ssize_t>(future.size()));
  refused = RefusalIn(ReadToEnd(fd));
  close(fd);
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(refused.message()), HasSubstr("wire version 99"));
  EXPECT_EQ((*listener)->stats().refused, 2);
}

TEST(TcpDataPlanePeerTest, PeerThatIsNoDataPlaneFailsThePushNamingIt) {
  // Something else listens at the address: it answers with bytes that are no handshake.
  std::string address;
  absl::StatusOr<int> server = tcp_transport::Listen("127.0.0.1:0", &address);
  ASSERT_TRUE(server.ok()) << server.status();
  std::thread impostor([fd = *server] {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 10000) <= 0) return;
    const int conn = accept(fd, nullptr, nullptr);
    const std::string junk = "SSH-2.0-OpenSSH_9.2\r\n";
    (void)!send(conn, junk.data(), junk.size(), MSG_NOSIGNAL);
    (void)ReadToEnd(conn);
    close(conn);
  });
  TcpDataPlane plane({.name = "host:0", .host = HostId(0),
                      .resolve = [&](HostId) -> absl::StatusOr<std::string> { return address; }});
  const std::string data(16, 'x');
  const absl::Status got =
      plane.Push(HostId(1), ArrayId(1), 0, DeviceId(2), Bytes(16), data.data(), 16)->Await();
  EXPECT_THAT(got, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(got.message()), HasSubstr("host:1 at " + address));
  EXPECT_THAT(std::string(got.message()), HasSubstr("not a Pathways TCP data plane peer"));
  plane.Shutdown();
  impostor.join();
  close(*server);
}

TEST(TcpDataPlanePeerTest, PlaneWithoutResolverFailsPushesInsteadOfCrashing) {
  TcpDataPlane plane({.name = "host:0", .host = HostId(0)});
  const std::string data(16, 'x');
  const absl::Status got =
      plane.Push(HostId(1), ArrayId(1), 0, DeviceId(2), Bytes(16), data.data(), 16)->Await();
  EXPECT_THAT(got, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(got.message()), HasSubstr("TcpDataPlaneOptions.resolve is required"));
  plane.Shutdown();
}

// One listener per test, and a plane resolving host 1 to it.
class TcpDataPlaneTest : public ::testing::Test {
 protected:
  void SetUp() override { Restart(""); }
  void Restart(const std::string& address) {
    if (listener_ != nullptr) listener_->Shutdown();
    receivers_.push_back(std::make_unique<RecordingReceiver>());
    auto listener = TcpShardListener::Start(
        {.name = "host:1", .listen_address = address.empty() ? "127.0.0.1:0" : address});
    ASSERT_TRUE(listener.ok()) << listener.status();
    listener_ = *std::move(listener);
    listener_->SetReceiver(receivers_.back().get(), "host:1", HostId(1));
    absl::MutexLock lock(&mu_);
    address_ = listener_->address();
  }
  RecordingReceiver& receiver() { return *receivers_.back(); }

  std::vector<std::unique_ptr<RecordingReceiver>> receivers_;
  std::unique_ptr<TcpShardListener> listener_;
  absl::Mutex mu_;
  std::string address_ ABSL_GUARDED_BY(mu_);  // where the resolver sends host 1
  int resolutions_ ABSL_GUARDED_BY(mu_) = 0;
  TcpDataPlane plane_{TcpDataPlaneOptions{
      .name = "host:0", .host = HostId(0),
      .resolve = [this](HostId) -> absl::StatusOr<std::string> {
        absl::MutexLock lock(&mu_);
        ++resolutions_;
        return address_;
      }}};
};

TEST_F(TcpDataPlaneTest, PushesToOneHostArriveAndAreAnsweredInOrder) {
  constexpr int kPushes = 300;
  std::vector<std::string> data;
  for (int i = 0; i < kPushes; ++i) data.push_back(std::string(1 + (i * 7919) % 20000, 'a' + i % 26));
  absl::Mutex mu;
  std::vector<int> answered;
  std::vector<EventRef> events;
  for (int i = 0; i < kPushes; ++i) {
    const int64_t n = static_cast<int64_t>(data[i].size());
    receiver().Preallocate(ArrayId(i), 0);
    events.push_back(plane_.Push(HostId(1), ArrayId(i), 0, DeviceId(2), Bytes(n), data[i].data(), n));
    events.back()->AndThen([&mu, &answered, i](const absl::Status&) {
      absl::MutexLock lock(&mu);
      answered.push_back(i);
    });
  }
  for (int i = 0; i < kPushes; ++i) ASSERT_TRUE(events[i]->Await().ok()) << events[i]->status();
  std::vector<RecordingReceiver::Key> order = receiver().Order();
  ASSERT_EQ(order.size(), static_cast<size_t>(kPushes));
  for (int i = 0; i < kPushes; ++i) {
    EXPECT_EQ(order[i].first, i);
    EXPECT_TRUE(receiver().Bytes(ArrayId(i), 0) == data[i]);
  }
  absl::MutexLock lock(&mu);
  for (int i = 0; i < kPushes; ++i) EXPECT_EQ(answered[i], i);
  const TcpDataPlane::Stats stats = plane_.stats();
  EXPECT_EQ(stats.connects, 1);  // one persistent connection
  EXPECT_EQ(stats.copied_bytes, 0);
  EXPECT_EQ(listener_->stats().received_bytes, stats.payload_bytes);
}

TEST_F(TcpDataPlaneTest, ConnectionIsReopenedAndTheHostReResolvedAfterAFailure) {
  const std::string data(64, 'z');
  ASSERT_TRUE(plane_.Push(HostId(1), ArrayId(1), 0, DeviceId(2), Bytes(64), data.data(), 64)
                  ->Await()
                  .ok());
  const std::string address = listener_->address();
  listener_->Shutdown();  // the peer goes away
  const absl::Status lost =
      plane_.Push(HostId(1), ArrayId(2), 0, DeviceId(2), Bytes(64), data.data(), 64)->Await();
  EXPECT_THAT(lost, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(lost.message()), HasSubstr("host:1 at " + address));
  Restart("127.0.0.1:0");  // back, at another port
  const absl::Status back =
      plane_.Push(HostId(1), ArrayId(3), 0, DeviceId(2), Bytes(64), data.data(), 64)->Await();
  EXPECT_TRUE(back.ok()) << back;
  EXPECT_TRUE(receiver().Await(ArrayId(3), 0).ok());
  absl::MutexLock lock(&mu_);
  EXPECT_GE(resolutions_, 2);
}

TEST_F(TcpDataPlaneTest, WrongByteCountIsRefusedAtOnce) {
  const std::string data(10, 'q');
  const absl::Status got =
      plane_.Push(HostId(1), ArrayId(1), 0, DeviceId(2), Bytes(16), data.data(), 10)->Await();
  EXPECT_THAT(got, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(got.message()), HasSubstr("10 bytes"));
}

}  // namespace
}  // namespace pw
