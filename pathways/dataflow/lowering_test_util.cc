// Invariant checks shared by the lowering tests.
#include "pathways/dataflow/lowering_test_util.h"

#include <algorithm>
#include <set>
#include <tuple>

namespace pw::testing {
namespace {

using StepKey = std::tuple<int, int32_t, int32_t, int64_t>;  // kind, node, shard, device

StepKey KeyOf(const HostStep& step) {
  return {static_cast<int>(step.kind), step.node, step.shard, step.device.value()};
}

std::vector<int32_t> Reads(const HostStep& step) {
  if (step.kind == StepKind::kCompute) return step.inputs;
  if (step.kind == StepKind::kRecv) return {};
  return {step.src_value};
}

std::vector<int32_t> Writes(const HostStep& step) {
  if (step.kind == StepKind::kCompute) return step.outputs;
  if (step.kind == StepKind::kSend) return {};
  return {step.dst_value};
}

}  // namespace

void ExpectConsistent(const LoweredProgram& lowered) {
  const int32_t num_values = static_cast<int32_t>(lowered.values.size());
  for (size_t n = 0; n < lowered.nodes.size(); ++n) {
    for (int32_t p : lowered.nodes[n].predecessors) {
      EXPECT_LT(p, static_cast<int32_t>(n)) << "node " << n << " is not in topological order";
    }
  }
  for (const auto& [host, part] : lowered.hosts) {
    SCOPED_TRACE(host.DebugString());
    EXPECT_EQ(part->host, host);
    // Stages partition the host's steps in order.
    std::vector<StepKey> whole, staged;
    for (const HostStep& step : part->steps) whole.push_back(KeyOf(step));
    std::multiset<int32_t> stage_temporaries;
    std::vector<int> freed_in_stage(num_values, -1);
    for (size_t k = 0; k < lowered.stages.size(); ++k) {
      auto it = lowered.stages[k].find(host);
      if (it == lowered.stages[k].end()) continue;
      EXPECT_EQ(it->second->host, host);
      for (const HostStep& step : it->second->steps) {
        staged.push_back(KeyOf(step));
        for (int32_t slot : Reads(step)) {
          ASSERT_TRUE(slot >= 0 && slot < num_values) << slot;
          EXPECT_EQ(freed_in_stage[slot], -1)
              << "slot " << slot << " read in stage " << k << " after it was freed";
        }
      }
      for (int32_t slot : it->second->temporaries) {
        stage_temporaries.insert(slot);
        freed_in_stage[slot] = static_cast<int>(k);
      }
    }
    EXPECT_EQ(staged, whole) << "stages do not partition the host's steps";
    // Each temporary freed exactly once in both modes, and only where the host holds a shard.
    std::set<int32_t> written;
    for (const HostStep& step : part->steps) {
      for (int32_t slot : Writes(step)) written.insert(slot);
    }
    std::set<int32_t> expected;
    for (int32_t slot : written) {
      if (!lowered.values[slot].is_program_input && !lowered.values[slot].is_program_output) {
        expected.insert(slot);
      }
    }
    std::vector<int32_t> temporaries = part->temporaries;
    EXPECT_TRUE(std::is_sorted(temporaries.begin(), temporaries.end()));
    EXPECT_EQ(std::set<int32_t>(temporaries.begin(), temporaries.end()), expected);
    EXPECT_EQ(temporaries.size(), expected.size()) << "a temporary is listed twice";
    EXPECT_EQ(std::multiset<int32_t>(expected.begin(), expected.end()), stage_temporaries)
        << "sequential mode does not free each temporary exactly once";
  }
  for (const auto& stage : lowered.stages) {
    for (const auto& [host, part] : stage) {
      EXPECT_TRUE(lowered.hosts.contains(host)) << host;
    }
  }
}

}  // namespace pw::testing
