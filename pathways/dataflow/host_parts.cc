// Groups lowered steps by host (whole part and per stage) and decides who frees temporaries.
#include "pathways/dataflow/host_parts.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "pathways/base/logging.h"

namespace pw::internal {
namespace {

// Calls f(slot) for every value slot `step` reads on its host.
template <typename F>
void ForEachRead(const HostStep& step, F&& f) {
  switch (step.kind) {
    case StepKind::kCompute:
      for (int32_t slot : step.inputs) f(slot);
      break;
    case StepKind::kCopy:
    case StepKind::kSend:
      f(step.src_value);
      break;
    case StepKind::kAssemble:
      for (const Region& r : step.regions) f(r.src_value);
      break;
    case StepKind::kRecv:
      break;
  }
}

// Calls f(slot) for every value slot `step` writes a shard of on its host.
template <typename F>
void ForEachWrite(const HostStep& step, F&& f) {
  switch (step.kind) {
    case StepKind::kCompute:
      for (int32_t slot : step.outputs) f(slot);
      break;
    case StepKind::kCopy:
    case StepKind::kRecv:
    case StepKind::kAssemble:
      f(step.dst_value);
      break;
    case StepKind::kSend:
      break;
  }
}

void AddFunctionOnce(std::vector<FunctionId>& functions, FunctionId function) {
  // A stage holds one compute node, so its per-host list has at most one entry: linear is fine.
  if (std::find(functions.begin(), functions.end(), function) == functions.end()) {
    functions.push_back(function);
  }
}

}  // namespace

}  // namespace pw::internal

namespace pw {

void IndexTemporaryUses(LoweredHostProgram& part) {
  part.temporary_uses.assign(part.temporaries.size(), 0);
  part.step_temporaries_begin.assign(1, 0);
  part.step_temporaries.clear();
  for (const HostStep& step : part.steps) {
    const size_t begin = part.step_temporaries.size();
    auto touch = [&](int32_t slot) {
      auto it = std::lower_bound(part.temporaries.begin(), part.temporaries.end(), slot);
      if (it == part.temporaries.end() || *it != slot) return;
      const auto index = static_cast<int32_t>(it - part.temporaries.begin());
      // Once per step, however many of its slots name the temporary.
      for (size_t k = begin; k < part.step_temporaries.size(); ++k) {
        if (part.step_temporaries[k] == index) return;
      }
      part.step_temporaries.push_back(index);
      ++part.temporary_uses[index];
    };
    internal::ForEachWrite(step, touch);
    internal::ForEachRead(step, touch);
    part.step_temporaries_begin.push_back(static_cast<int32_t>(part.step_temporaries.size()));
  }
}

}  // namespace pw

namespace pw::internal {

void BuildHostParts(const std::vector<NodeSteps>& node_steps, int64_t num_stages,
                    LoweredProgram& lowered) {
  PW_CHECK(node_steps.size() == lowered.nodes.size()) << node_steps.size();

  // Dense host indices keep the per-step work to array lookups.
  absl::flat_hash_map<HostId, int32_t> host_index;
  std::vector<LoweredHostProgram> parts;
  std::vector<absl::flat_hash_set<FunctionId>> part_functions;
  std::vector<absl::flat_hash_map<int32_t, LoweredHostProgram>> stage_parts(num_stages);
  // (slot, host index) -> the last stage touching that host's shards of the slot. Steps are
  // visited in stage order, so the final assignment is the last reader (or the producer when
  // nothing on that host reads it).
  absl::flat_hash_map<std::pair<int32_t, int32_t>, int32_t> last_stage;

  for (const NodeSteps& node : node_steps) {
    for (size_t i = 0; i < node.steps.size(); ++i) {
      const HostId host = node.hosts[i];
      const HostStep& step = node.steps[i];
      auto [it, inserted] = host_index.try_emplace(host, static_cast<int32_t>(parts.size()));
      const int32_t h = it->second;
      if (inserted) {
        parts.emplace_back().host = host;
        part_functions.emplace_back();
      }
      LoweredHostProgram& part = parts[h];
      part.steps.push_back(step);
      if (step.kind == StepKind::kCompute && part_functions[h].insert(step.function).second) {
        part.functions.push_back(step.function);
      }
      // Every step belongs to a stage: sequential dispatch must not drop any work.
      PW_CHECK(node.stage >= 0 && node.stage < num_stages) << node.stage;
      LoweredHostProgram& stage_part = stage_parts[node.stage][h];
      stage_part.host = host;
      stage_part.steps.push_back(step);
      if (step.kind == StepKind::kCompute) AddFunctionOnce(stage_part.functions, step.function);
      auto touch = [&](int32_t slot) { last_stage[{slot, h}] = node.stage; };
      ForEachWrite(step, touch);
      ForEachRead(step, touch);
    }
  }

  for (const auto& [key, stage] : last_stage) {
    const auto [slot, h] = key;
    const ValueInfo& value = lowered.values[slot];
    if (value.is_program_input || value.is_program_output) continue;
    parts[h].temporaries.push_back(slot);
    stage_parts[stage][h].temporaries.push_back(slot);
  }

  lowered.hosts.clear();
  for (LoweredHostProgram& part : parts) {
    std::sort(part.temporaries.begin(), part.temporaries.end());
    IndexTemporaryUses(part);
    const HostId host = part.host;
    lowered.hosts.emplace(host, std::make_shared<const LoweredHostProgram>(std::move(part)));
  }
  lowered.stages.assign(num_stages, {});
  for (int64_t k = 0; k < num_stages; ++k) {
    for (auto& [h, part] : stage_parts[k]) {
      std::sort(part.temporaries.begin(), part.temporaries.end());
      IndexTemporaryUses(part);
      const HostId host = part.host;
      lowered.stages[k].emplace(host, std::make_shared<const LoweredHostProgram>(std::move(part)));
    }
  }
}

}  // namespace pw::internal
