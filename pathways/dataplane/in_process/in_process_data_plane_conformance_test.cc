// The DataPlane conformance suite over InProcessDataPlane.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "pathways/dataplane/data_plane_conformance.h"
#include "pathways/dataplane/in_process/in_process_data_plane.h"

namespace pw::data_plane_testing {
namespace {

class InProcessHarness final : public DataPlaneHarness {
 public:
  ~InProcessHarness() override {
    for (HostId host : hosts_) plane_.Unregister(host);
  }
  void AddHost(HostId host, ShardReceiver* receiver) override {
    ASSERT_TRUE(plane_.Register(host, receiver).ok());
    hosts_.push_back(host);
  }
  void KillHost(HostId host) override { plane_.Unregister(host); }
  std::string Address(HostId) override { return ""; }
  DataPlane& plane() override { return plane_; }
  void ShutdownPlane() override {}
  bool crosses_processes() const override { return false; }

 private:
  InProcessDataPlane plane_;
  std::vector<HostId> hosts_;
};

INSTANTIATE_TEST_SUITE_P(InProcess, DataPlaneConformanceTest,
                         ::testing::Values(HarnessFactory{"InProcess", [] { return std::make_unique<InProcessHarness>(); }}),
                         HarnessName);

}  // namespace
}  // namespace pw::data_plane_testing
