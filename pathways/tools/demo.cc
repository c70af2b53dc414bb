// pw-demo: compiles one function and runs it as a gang on several CPU devices (what `make run` shows).
//
// Each shard doubles its slice of the input, the shards all-reduce, and each adds 1 — the shape of
// the paper's Figure 2 functions plus a collective. Usage: pw-demo [--devices N] [--trace FILE]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pathways/base/clock.h"
#include "pathways/base/status.h"
#include "pathways/base/trace.h"
#include "pathways/collectives/in_process/in_process_collectives.h"
#include "pathways/device/cpu/cpu_device.h"
#include "pathways/ir/builder.h"
#include "pathways/kernels/cpu_executable.h"

namespace pw {
namespace {

struct DemoOptions {
  int64_t devices = 4;
  std::string trace_path;
};

absl::StatusOr<DemoOptions> ParseArgs(int argc, char** argv) {
  DemoOptions o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--devices" && i + 1 < argc) {
      o.devices = std::atoll(argv[++i]);
      if (o.devices < 1 || o.devices > 64) {
        return absl::InvalidArgumentError(absl::StrCat("--devices must be in [1, 64], got ", argv[i]));
      }
    } else if (arg == "--trace" && i + 1 < argc) {
      o.trace_path = argv[++i];
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown argument '", arg, "'; usage: pw-demo [--devices N] [--trace FILE]"));
    }
  }
  return o;
}

// f(x) = all_reduce_sum(x * 2) + 1 on every shard of a gang of `n`.
absl::StatusOr<ir::Function> BuildFunction(int64_t n, int64_t shard_len) {
  ir::FunctionBuilder b("double_allreduce_inc", {.num_shards = n});
  ir::Value x = b.Parameter({ir::DType::kF32, {shard_len}}, "x");
  ir::Value doubled = b.Multiply(x, b.ConstantScalar(2.0f));
  ir::Value summed = b.AllReduce(doubled, ir::ReduceKind::kSum);
  ir::Value out = b.Add(summed, b.ConstantScalar(1.0f));
  return b.Build({out});
}

absl::Status Run(const DemoOptions& opts) {
  const int64_t n = opts.devices, shard_len = 2;
  TraceRecorder trace;
  if (!opts.trace_path.empty()) trace.Start();

  std::vector<std::unique_ptr<CpuDevice>> devices;
  for (int64_t i = 0; i < n; ++i) {
    devices.push_back(std::make_unique<CpuDevice>(CpuDeviceOptions{
        .id = DeviceId(i), .host = HostId(0), .memory_capacity_bytes = 64 << 20, .trace = &trace}));
  }
  PW_ASSIGN_OR_RETURN(ir::Function function, BuildFunction(n, shard_len));
  std::printf("%s\n", function.ToString().c_str());
  PW_ASSIGN_OR_RETURN(std::shared_ptr<const CpuExecutable> exe, CpuExecutable::Compile(function));
  PW_ASSIGN_OR_RETURN(std::shared_ptr<InProcessCollectiveGroup> group,
                      InProcessCollectiveGroup::Create(n));

  // Per shard: input, output and scratch live in the device's memory; the shard's work runs on
  // the device's stream thread, and the shards meet inside the all-reduce.
  struct Shard {
    DeviceBuffer in, out, scratch;
    std::unique_ptr<Communicator> comm;
    EventRef done;
  };
  std::vector<Shard> shards(n);
  const int64_t bytes = shard_len * sizeof(float);
  for (int64_t i = 0; i < n; ++i) {
    Shard& s = shards[i];
    PW_ASSIGN_OR_RETURN(s.in, devices[i]->Allocate(bytes));
    PW_ASSIGN_OR_RETURN(s.out, devices[i]->Allocate(bytes));
    PW_ASSIGN_OR_RETURN(s.scratch, devices[i]->Allocate(std::max<int64_t>(exe->scratch_bytes(), 64)));
    PW_ASSIGN_OR_RETURN(s.comm, group->CommunicatorForRank(i));
    float* in = static_cast<float*>(s.in.data());
    for (int64_t k = 0; k < shard_len; ++k) in[k] = static_cast<float>(i * shard_len + k + 1);
  }
  const int64_t start = MonotonicNanos();
  for (int64_t i = 0; i < n; ++i) {
    Shard& s = shards[i];
    s.done = devices[i]->Enqueue(StreamWork{
        .name = absl::StrCat(function.name, " shard ", i),
        .wait_for = {},
        .fn = [&s, exe]() -> absl::Status {
          const void* args[] = {s.in.data()};
          void* outs[] = {s.out.data()};
          return exe->Execute(args, outs, s.scratch.data(), ExecuteContext{.communicator = s.comm.get()});
        }});
  }
  for (int64_t i = 0; i < n; ++i) PW_RETURN_IF_ERROR(Annotate(shards[i].done->Await(), devices[i]->DebugString()));
  const int64_t wall = MonotonicNanos() - start;

  for (int64_t i = 0; i < n; ++i) {
    const float* in = static_cast<const float*>(shards[i].in.data());
    const float* out = static_cast<const float*>(shards[i].out.data());
    std::printf("%s: x = [%s] -> f(x) = [%s]\n", devices[i]->id().DebugString().c_str(),
                absl::StrJoin(in, in + shard_len, ", ").c_str(),
                absl::StrJoin(out, out + shard_len, ", ").c_str());
  }
  int64_t busy = 0;
  for (const auto& d : devices) busy += d->busy_nanos();
  std::printf("gang of %lld devices ran in %.1f us; device utilization %.0f%%\n",
              static_cast<long long>(n), wall / 1e3, 100.0 * busy / (static_cast<double>(wall) * n));
  if (!opts.trace_path.empty()) {
    PW_RETURN_IF_ERROR(trace.WriteJson(opts.trace_path));
    std::printf("trace written to %s (open it in https://ui.perfetto.dev)\n", opts.trace_path.c_str());
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace pw

int main(int argc, char** argv) {
  absl::StatusOr<pw::DemoOptions> opts = pw::ParseArgs(argc, argv);
  absl::Status status = opts.ok() ? pw::Run(*opts) : opts.status();
  if (!status.ok()) {
    std::fprintf(stderr, "pw-demo: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
