// Runs the CollectiveGroups conformance suite against InProcessCollectiveGroups.
#include <memory>

#include "pathways/collectives/collectives_conformance.h"
#include "pathways/collectives/in_process/in_process_collective_groups.h"

namespace pw::conformance {
namespace {

struct InProcessFactory {
  static std::unique_ptr<CollectiveGroups> Make(absl::Duration timeout) {
    InProcessCollectiveGroupsOptions options;
    options.group.timeout = timeout;
    return std::make_unique<InProcessCollectiveGroups>(std::move(options));
  }
};

INSTANTIATE_TYPED_TEST_SUITE_P(InProcess, CollectivesConformanceTest, InProcessFactory);

}  // namespace
}  // namespace pw::conformance
