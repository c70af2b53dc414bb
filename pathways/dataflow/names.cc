// Names of the dataflow enums, for traces, errors and DebugString.
#include "pathways/dataflow/host_run.h"
#include "pathways/dataflow/lowered_program.h"

namespace pw {

const char* NodeKindName(NodeKind kind) {
  switch (kind) {
    case NodeKind::kArg: return "arg";
    case NodeKind::kCompute: return "compute";
    case NodeKind::kTransfer: return "transfer";
    case NodeKind::kResult: return "result";
  }
  return "invalid";
}

const char* StepKindName(StepKind kind) {
  switch (kind) {
    case StepKind::kCompute: return "compute";
    case StepKind::kCopy: return "copy";
    case StepKind::kSend: return "send";
    case StepKind::kRecv: return "recv";
    case StepKind::kAssemble: return "assemble";
  }
  return "invalid";
}

const char* DispatchModeName(DispatchMode mode) {
  switch (mode) {
    case DispatchMode::kParallel: return "parallel";
    case DispatchMode::kSequential: return "sequential";
  }
  return "invalid";
}

}  // namespace pw
