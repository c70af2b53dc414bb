// LoweredProgram::DebugString: the graph and every host's steps, for logs and test failures;
// gang member keys.
#include "pathways/dataflow/lowered_program.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace pw {
namespace {

// SplitMix64's finalizer over a running hash: fixed constants, so every process agrees.
uint64_t MixInto(uint64_t h, uint64_t v) {
  uint64_t x = h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

template <typename T>
std::string IdList(const std::vector<T>& ids) {
  return absl::StrCat(
      "[", absl::StrJoin(ids, ",", [](std::string* out, const T& id) {
        absl::StrAppend(out, id.DebugString());
      }),
      "]");
}

std::string SlotList(const std::vector<int32_t>& slots) {
  return absl::StrCat("[", absl::StrJoin(slots, ","), "]");
}

void AppendStep(std::string& out, const HostStep& step) {
  absl::StrAppend(&out, "    ", StepKindName(step.kind), " node ", step.node, " shard ",
                  step.shard, " ", step.device.DebugString());
  switch (step.kind) {
    case StepKind::kCompute:
      absl::StrAppend(&out, " ", step.function.DebugString(), " x", step.num_shards, " in ",
                      SlotList(step.inputs), " out ", SlotList(step.outputs));
      break;
    case StepKind::kCopy:
      absl::StrAppend(&out, " ", step.src_value, ".", step.src_shard(), "->", step.dst_value,
                      " from ", step.peer_device.DebugString());
      break;
    case StepKind::kSend:
      absl::StrAppend(&out, " ", step.src_value, "->", step.dst_value, ".", step.dst_shard(),
                      " to ", step.peer_host.DebugString(), " ", step.peer_device.DebugString());
      break;
    case StepKind::kAssemble:
      absl::StrAppend(&out, " ->", step.dst_value, " from");
      for (const Region& r : step.regions) {
        absl::StrAppend(&out, " ", r.src_value, ".", r.src_shard, "[",
                        absl::StrJoin(r.src_offset, ","), "+", absl::StrJoin(r.extent, ","),
                        "]@[", absl::StrJoin(r.dst_offset, ","), "]");
      }
      break;
    case StepKind::kRecv:
      absl::StrAppend(&out, " ", step.src_value, "->", step.dst_value, " from ",
                      step.peer_host.DebugString(), " ", step.peer_device.DebugString());
      break;
  }
  absl::StrAppend(&out, "\n");
}

void AppendHostPart(std::string& out, const LoweredHostProgram& part) {
  absl::StrAppend(&out, "  ", part.host.DebugString(), ": ", part.steps.size(),
                  " steps, functions ", IdList(part.functions), ", temporaries ",
                  SlotList(part.temporaries), "\n");
  for (const HostStep& step : part.steps) AppendStep(out, step);
}

}  // namespace

std::string LoweredProgram::DebugString() const {
  std::string out = absl::StrCat("LoweredProgram '", name, "': ", values.size(), " values, ",
                                 nodes.size(), " nodes, ", hosts.size(), " hosts, ",
                                 stages.size(), " stages, islands ", IdList(islands),
                                 ", outputs ", SlotList(output_values), "\n");
  for (size_t v = 0; v < values.size(); ++v) {
    const ValueInfo& value = values[v];
    absl::StrAppend(&out, "  value ", v, " '", value.name, "' ", value.shard_type.DebugString(),
                    " on ", IdList(value.devices), value.is_program_input ? " input" : "",
                    value.is_program_output ? " output" : "", "\n");
  }
  for (size_t n = 0; n < nodes.size(); ++n) {
    const GraphNode& node = nodes[n];
    absl::StrAppend(&out, "  node ", n, " ", NodeKindName(node.kind), " '", node.name, "' x",
                    node.num_shards);
    if (node.kind == NodeKind::kCompute) {
      absl::StrAppend(&out, " call ", node.call, " ", node.function.DebugString());
    }
    absl::StrAppend(&out, " in ", SlotList(node.inputs), " out ", SlotList(node.outputs),
                    " after ", SlotList(node.predecessors), "\n");
  }
  for (const auto& [host, part] : hosts) AppendHostPart(out, *part);
  return out;
}

uint64_t GangMemberKey(absl::Span<const DeviceId> devices) {
  uint64_t h = MixInto(0x70776d656d626572ULL, devices.size());  // "pwmember"
  for (DeviceId d : devices) h = MixInto(h, static_cast<uint64_t>(d.value()));
  return h == 0 ? 1 : h;
}

}  // namespace pw
