// The conformance suite's shared clusters and helpers (cluster_conformance.h).
#include "tests/cluster_conformance.h"

#include <map>

namespace pw {
namespace {

using testing_util::ClusterKind;
using testing_util::TestCluster;
using testing_util::Unwrap;

// One cluster per kind, shared by the suite's tests (starting processes costs ~1 s) and
// stopped when the test program ends (ClusterEnvironment). Each test uses its own client, so
// tests do not see each other's objects.
std::map<ClusterKind, std::unique_ptr<TestCluster>>& Clusters() {
  static auto* clusters = new std::map<ClusterKind, std::unique_ptr<TestCluster>>();
  return *clusters;
}
class ClusterEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { Clusters().clear(); }
};
const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new ClusterEnvironment);

}  // namespace

TestCluster& ClusterOf(ClusterKind kind) {
  auto& clusters = Clusters();
  auto it = clusters.find(kind);
  if (it == clusters.end()) {
    it = clusters
             .emplace(kind,
                      Unwrap(TestCluster::Start(kind, {.hosts = 2,
                                                       .devices_per_host = 2,
                                                       .memory_per_device_bytes = kDeviceMemory})))
             .first;
  }
  return *it->second;
}

std::vector<ir::Value> Scale(ir::FunctionBuilder& b, absl::Span<const ir::Value> x, double by) {
  return {b.Multiply(x[0], b.ScalarLike(b.TypeOf(x[0]).dtype, by))};
}

}  // namespace pw
