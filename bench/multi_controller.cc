// The multi-controller Figure 5 loop: one process's devices, compiled functions and Gloo gang.
#include "bench/multi_controller.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "pathways/base/clock.h"
#include "pathways/base/status.h"
#include "pathways/base/trace.h"
#include "pathways/collectives/gloo/gloo_collective_groups.h"
#include "pathways/device/cpu/cpu_device.h"
#include "pathways/ir/builder.h"
#include "pathways/kernels/cpu_executable.h"

namespace pw::bench {
namespace {

// The same function dispatch_bench hands to Client::Pmap: `repeats` times all-reduce then +1.
absl::StatusOr<std::shared_ptr<const CpuExecutable>> CompileSteps(int64_t repeats,
                                                                  int64_t num_shards) {
  ir::FunctionBuilder b(repeats == 1 ? "step" : "fused", {.num_shards = num_shards});
  ir::Value v = b.Parameter({ir::DType::kF32, {}}, "arg0");
  for (int64_t i = 0; i < repeats; ++i) {
    v = b.Add(b.AllReduce(v, ir::ReduceKind::kSum), b.ConstantScalar(1.0f));
  }
  PW_ASSIGN_OR_RETURN(ir::Function f, b.Build({v}));
  return CpuExecutable::Compile(f);
}

// One device of this process with its rank of the gang. Each item gets a fresh output buffer
// from the device's pool and drops its input when done, as a runtime allocating per call does.
struct DeviceRank {
  std::unique_ptr<CpuDevice> device;
  std::unique_ptr<Communicator> communicator;
  DeviceBuffer scratch;
  std::shared_ptr<DeviceBuffer> value;
};

class Process {
 public:
  Process(const MultiControllerProcessOptions& options, RendezvousStore& store)
      : options_(options), store_(store) {}

  absl::Status Run();

 private:
  std::string Describe() const {
    return absl::StrCat("multi-controller process ", options_.process, "/", options_.processes);
  }
  absl::Status Setup();
  EventRef Enqueue(DeviceRank& d, const CpuExecutable& exe);
  // kRound computations in the options' mode. OpByOp returns once this process's devices are
  // done; Chained and Fused keep one round queued ahead (as asynchronous dispatch does): they
  // return once the PREVIOUS round is done. Drain() waits for the last one.
  absl::Status RunRound();
  absl::Status Drain();
  absl::StatusOr<int64_t> AgreeOnRounds(int64_t round_nanos);
  // Mean nanoseconds per sample of (join + connect + one computation, destroy).
  absl::StatusOr<std::pair<int64_t, int64_t>> MeasureFreshGangs();
  int64_t BusyNanos() const {
    int64_t busy = 0;
    for (const DeviceRank& d : devices_) busy += d.device->busy_nanos();
    return busy;
  }

  const MultiControllerProcessOptions& options_;
  RendezvousStore& store_;
  std::shared_ptr<const CpuExecutable> step_, fused_;
  std::unique_ptr<GlooCollectiveGroups> groups_;
  TraceRecorder trace_;  // outlives the devices, which record into it
  std::vector<DeviceRank> devices_;
  std::vector<EventRef> queued_;  // the round queued ahead (Chained, Fused)
};

absl::Status Process::Setup() {
  const int64_t gang_size = options_.processes * options_.devices_per_process;
  PW_ASSIGN_OR_RETURN(step_, CompileSteps(1, gang_size));
  PW_ASSIGN_OR_RETURN(fused_, CompileSteps(kRound, gang_size));
  PW_ASSIGN_OR_RETURN(groups_, GlooCollectiveGroups::Create(
                                   &store_, {.name = Describe(),
                                             .timeout = options_.timeout,
                                             .key_prefix = options_.key_prefix + "gloo/"}));
  if (!options_.trace_path.empty()) trace_.Start();
  const int64_t scratch = std::max(step_->scratch_bytes(), fused_->scratch_bytes());
  devices_.resize(options_.devices_per_process);
  for (int64_t i = 0; i < options_.devices_per_process; ++i) {
    const int64_t rank = options_.process * options_.devices_per_process + i;
    DeviceRank& d = devices_[i];
    d.device = std::make_unique<CpuDevice>(CpuDeviceOptions{
        .id = DeviceId(rank),
        .host = HostId(options_.process),
        .memory_capacity_bytes = 64 << 20,
        .trace = options_.trace_path.empty() ? nullptr : &trace_});
    // One gang for the whole loop, as a multi-controller program creates its communicator once.
    PW_ASSIGN_OR_RETURN(d.communicator, groups_->Join(GangId(1), gang_size, rank));
    PW_ASSIGN_OR_RETURN(d.scratch, d.device->Allocate(scratch));
    PW_ASSIGN_OR_RETURN(DeviceBuffer value, d.device->Allocate(sizeof(float)));
    *static_cast<float*>(value.data()) = 0.0f;
    d.value = std::make_shared<DeviceBuffer>(std::move(value));
  }
  return absl::OkStatus();
}

EventRef Process::Enqueue(DeviceRank& d, const CpuExecutable& exe) {
  absl::StatusOr<DeviceBuffer> out = d.device->Allocate(sizeof(float));
  if (!out.ok()) return AsyncEvent::CreateError(out.status());
  auto output = std::make_shared<DeviceBuffer>(*std::move(out));
  std::shared_ptr<DeviceBuffer> input = std::exchange(d.value, output);
  return d.device->Enqueue(
      {.name = exe.function().name,
       .fn = [&exe, &d, input = std::move(input), output = std::move(output)] {
         const void* args[] = {input->data()};
         void* outs[] = {output->data()};
         return exe.Execute(args, outs, d.scratch.data(),
                            ExecuteContext{.communicator = d.communicator.get()});
       }});
}

absl::Status Process::RunRound() {
  std::vector<EventRef> done(devices_.size());
  switch (options_.mode) {
    case Fig5Mode::kOpByOp:
      for (int64_t i = 0; i < kRound; ++i) {
        for (size_t k = 0; k < devices_.size(); ++k) done[k] = Enqueue(devices_[k], *step_);
        for (const EventRef& e : done) PW_RETURN_IF_ERROR(e->Await());
      }
      return absl::OkStatus();
    case Fig5Mode::kChained:
      // Device streams are in order, so each step finds its input written by the one before.
      for (int64_t i = 0; i < kRound; ++i) {
        for (size_t k = 0; k < devices_.size(); ++k) done[k] = Enqueue(devices_[k], *step_);
      }
      break;
    case Fig5Mode::kFused:
      for (size_t k = 0; k < devices_.size(); ++k) done[k] = Enqueue(devices_[k], *fused_);
      break;
  }
  std::swap(done, queued_);
  for (const EventRef& e : done) {
    if (e != nullptr) PW_RETURN_IF_ERROR(e->Await());
  }
  return absl::OkStatus();
}

absl::Status Process::Drain() {
  std::vector<EventRef> done;
  std::swap(done, queued_);
  for (const EventRef& e : done) {
    if (e != nullptr) PW_RETURN_IF_ERROR(e->Await());
  }
  return absl::OkStatus();
}

// Process 0 decides from its own timed round; the others wait for its answer.
absl::StatusOr<int64_t> Process::AgreeOnRounds(int64_t round_nanos) {
  const std::string key = options_.key_prefix + "rounds";
  if (options_.process == 0) {
    const double rounds = std::ceil(options_.target_seconds * 1e9 / std::max<int64_t>(round_nanos, 1));
    PW_RETURN_IF_ERROR(store_.Set(key, absl::StrCat(std::clamp<int64_t>(rounds, 1, 100'000))));
  }
  // The store's gRPC connection may drop while this process sits idle in a collective on a
  // loaded machine (keepalive); the key is still there, so ask again until the timeout.
  const absl::Time deadline = absl::Now() + options_.timeout;
  absl::StatusOr<std::string> value;
  for (;;) {
    absl::Status s = store_.Wait({key}, deadline - absl::Now(), "");
    if (s.ok()) value = store_.Get(key);
    if (s.ok() && value.ok()) break;
    if (!s.ok() && !absl::IsUnavailable(s)) return s;
    if (s.ok() && !absl::IsUnavailable(value.status())) return value.status();
    if (absl::Now() > deadline) return s.ok() ? value.status() : s;
    absl::SleepFor(absl::Milliseconds(20));
  }
  int64_t rounds = 0;
  if (!absl::SimpleAtoi(*value, &rounds) || rounds < 1) {
    return absl::InternalError(absl::StrCat("bad round count '", *value, "' under ", key));
  }
  return rounds;
}

absl::StatusOr<std::pair<int64_t, int64_t>> Process::MeasureFreshGangs() {
  const int64_t gang_size = options_.processes * options_.devices_per_process;
  int64_t run = 0, destroy = 0;
  std::vector<std::unique_ptr<Communicator>> kept(devices_.size());
  std::vector<EventRef> done(devices_.size());
  for (int64_t k = 0; k < options_.fresh_gang_samples; ++k) {
    const int64_t t0 = MonotonicNanos();
    for (size_t i = 0; i < devices_.size(); ++i) {
      PW_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> fresh,
                          groups_->Join(GangId(1000 + k), gang_size,
                                        options_.process * options_.devices_per_process + i));
      kept[i] = std::exchange(devices_[i].communicator, std::move(fresh));
    }
    for (size_t i = 0; i < devices_.size(); ++i) done[i] = Enqueue(devices_[i], *step_);
    for (const EventRef& e : done) PW_RETURN_IF_ERROR(e->Await());
    const int64_t t1 = MonotonicNanos();
    for (size_t i = 0; i < devices_.size(); ++i) {
      devices_[i].communicator = std::move(kept[i]);  // drops the fresh one
    }
    run += t1 - t0;
    destroy += MonotonicNanos() - t1;
  }
  const int64_t n = std::max<int64_t>(options_.fresh_gang_samples, 1);
  return std::make_pair(run / n, destroy / n);
}

absl::Status Process::Run() {
  PW_RETURN_IF_ERROR(Setup());
  PW_RETURN_IF_ERROR(RunRound());  // connects the Gloo mesh
  PW_RETURN_IF_ERROR(Drain());
  int64_t t0 = MonotonicNanos();
  PW_RETURN_IF_ERROR(RunRound());
  PW_RETURN_IF_ERROR(Drain());
  PW_ASSIGN_OR_RETURN(const int64_t rounds, AgreeOnRounds(MonotonicNanos() - t0));
  const int64_t busy0 = BusyNanos();
  t0 = MonotonicNanos();
  for (int64_t r = 0; r < rounds; ++r) PW_RETURN_IF_ERROR(RunRound());
  PW_RETURN_IF_ERROR(Drain());
  const int64_t elapsed = MonotonicNanos() - t0;
  // With a gang of one each computation adds 1, so the value counts the computations run (with
  // more ranks it grows as size^n and overflows to inf, as in dispatch_bench).
  const float got = *static_cast<const float*>(devices_[0].value->data());
  const float expected = static_cast<float>(kRound * (rounds + 2));
  if (options_.processes * options_.devices_per_process == 1 && got != expected) {
    return absl::InternalError(absl::StrCat("value ", got, " after ", rounds + 2,
                                            " rounds, expected ", expected));
  }
  const int64_t busy = BusyNanos() - busy0;
  if (!options_.trace_path.empty()) PW_RETURN_IF_ERROR(trace_.WriteJson(options_.trace_path));
  std::pair<int64_t, int64_t> fresh = {0, 0};
  if (options_.fresh_gang_samples > 0) {
    PW_ASSIGN_OR_RETURN(fresh, MeasureFreshGangs());
  }
  return store_.Set(absl::StrCat(options_.key_prefix, "result/", options_.process),
                    absl::StrCat(rounds * kRound, " ", elapsed, " ", busy, " ", devices_.size(),
                                 " ", fresh.first, " ", fresh.second));
}

}  // namespace

std::string_view Fig5ModeName(Fig5Mode mode) {
  switch (mode) {
    case Fig5Mode::kOpByOp:
      return "OpByOp";
    case Fig5Mode::kChained:
      return "Chained";
    case Fig5Mode::kFused:
      return "Fused";
  }
  return "?";
}

absl::StatusOr<Fig5Mode> ParseFig5Mode(std::string_view name) {
  for (Fig5Mode m : {Fig5Mode::kOpByOp, Fig5Mode::kChained, Fig5Mode::kFused}) {
    if (Fig5ModeName(m) == name) return m;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown Figure 5 mode '", ToAbsl(name), "' (OpByOp, Chained or Fused)"));
}

absl::Status RunMultiControllerProcess(const MultiControllerProcessOptions& options,
                                       RendezvousStore& store) {
  if (options.processes < 1 || options.process < 0 || options.process >= options.processes ||
      options.devices_per_process < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "multi-controller process ", options.process, " of ", options.processes, " with ",
        options.devices_per_process, " devices: need 0 <= process < processes and devices >= 1"));
  }
  Process process(options, store);
  absl::Status s = process.Run();
  if (!s.ok()) {
    return absl::Status(s.code(), absl::StrCat("multi-controller process ", options.process, "/",
                                               options.processes, ": ", s.message()));
  }
  return s;
}

absl::StatusOr<MultiControllerResult> CollectMultiControllerResults(RendezvousStore& store,
                                                                    const std::string& key_prefix,
                                                                    int64_t processes,
                                                                    absl::Duration timeout) {
  std::vector<std::string> keys;
  for (int64_t p = 0; p < processes; ++p) keys.push_back(absl::StrCat(key_prefix, "result/", p));
  PW_RETURN_IF_ERROR(store.Wait(keys, timeout, ""));
  MultiControllerResult result;
  double busy = 0, device_nanos = 0;
  for (const std::string& key : keys) {
    PW_ASSIGN_OR_RETURN(std::string value, store.Get(key));
    // A process that failed reports "error: <status>".
    if (absl::StartsWith(value, "error: ")) return absl::InternalError(value.substr(7));
    std::vector<std::string> parts = absl::StrSplit(value, ' ');
    int64_t computations = 0, elapsed = 0, busy_nanos = 0, devices = 0, fresh_run = 0,
            fresh_destroy = 0;
    if (parts.size() != 6 || !absl::SimpleAtoi(parts[0], &computations) ||
        !absl::SimpleAtoi(parts[1], &elapsed) || !absl::SimpleAtoi(parts[2], &busy_nanos) ||
        !absl::SimpleAtoi(parts[3], &devices) || !absl::SimpleAtoi(parts[4], &fresh_run) ||
        !absl::SimpleAtoi(parts[5], &fresh_destroy)) {
      return absl::InternalError(absl::StrCat("malformed result '", value, "' under ", key));
    }
    result.fresh_gang_run_nanos = std::max<double>(result.fresh_gang_run_nanos, fresh_run);
    result.fresh_gang_destroy_nanos =
        std::max<double>(result.fresh_gang_destroy_nanos, fresh_destroy);
    result.computations = computations;
    result.elapsed_nanos = std::max(result.elapsed_nanos, elapsed);
    busy += static_cast<double>(busy_nanos);
    device_nanos += static_cast<double>(elapsed) * static_cast<double>(devices);
  }
  result.utilization = device_nanos > 0 ? busy / device_nanos : 0;
  return result;
}

}  // namespace pw::bench
