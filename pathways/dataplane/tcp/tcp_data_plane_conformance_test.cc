// The DataPlane conformance suite over TcpDataPlane and TcpShardListener.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "pathways/dataplane/data_plane_conformance.h"
#include "pathways/dataplane/tcp/tcp_data_plane.h"
#include "pathways/dataplane/tcp/tcp_shard_listener.h"

namespace pw::data_plane_testing {
namespace {

class TcpHarness final : public DataPlaneHarness {
 public:
  TcpHarness()
      : plane_(TcpDataPlaneOptions{
            .name = "sender", .host = HostId(99), .resolve = directory_.resolver()}) {}
  ~TcpHarness() override {
    plane_.Shutdown();
    listeners_.clear();
  }
  void AddHost(HostId host, ShardReceiver* receiver) override {
    absl::StatusOr<std::unique_ptr<TcpShardListener>> listener =
        TcpShardListener::Start({.name = host.DebugString()});
    ASSERT_TRUE(listener.ok()) << listener.status();
    (*listener)->SetReceiver(receiver, host.DebugString(), host);
    directory_.Set(host, (*listener)->address());
    listeners_[host] = *std::move(listener);
  }
  void KillHost(HostId host) override { listeners_[host]->Shutdown(); }
  std::string Address(HostId host) override { return directory_.Get(host); }
  DataPlane& plane() override { return plane_; }
  void ShutdownPlane() override { plane_.Shutdown(); }
  bool crosses_processes() const override { return true; }

 private:
  HostDirectory directory_;
  TcpDataPlane plane_;
  absl::flat_hash_map<HostId, std::unique_ptr<TcpShardListener>> listeners_;
};

INSTANTIATE_TEST_SUITE_P(Tcp, DataPlaneConformanceTest,
                         ::testing::Values(HarnessFactory{"Tcp", [] { return std::make_unique<TcpHarness>(); }}),
                         HarnessName);

}  // namespace
}  // namespace pw::data_plane_testing
