// Test helpers for the host executor.
#include "pathways/worker/host_executor_test_util.h"

#include <utility>

#include "pathways/base/logging.h"

namespace pw::worker_testing {

void RecordingObserver::OnHostRunDone(HostRunResult result) {
  absl::MutexLock lock(&mu_);
  results_.push_back(std::move(result));
}

std::vector<HostRunResult> RecordingObserver::WaitFor(size_t n, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return results_.size() >= n; };
  mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  return results_;
}

size_t RecordingObserver::count() const {
  absl::MutexLock lock(&mu_);
  return results_.size();
}

Cluster::Cluster(std::vector<int64_t> device_capacities, TraceRecorder* trace)
    : groups_({.group = {.timeout = absl::Seconds(20)}}) {
  device_capacities.resize(kDevices, 0);
  for (int64_t d = 0; d < kDevices; ++d) {
    devices_.push_back(std::make_unique<CpuDevice>(CpuDeviceOptions{
        .id = DeviceId(d),
        .host = HostOf(d),
        .memory_capacity_bytes = device_capacities[d] > 0 ? device_capacities[d] : 16 << 20,
        .trace = trace}));
  }
  for (int64_t h = 0; h < kHosts; ++h) {
    HostExecutorOptions options;
    options.host = HostId(h);
    options.devices = {devices_[2 * h].get(), devices_[2 * h + 1].get()};
    options.data_plane = &data_plane_;
    options.collectives = &groups_;
    options.observer = &observer_;
    options.trace = trace;
    hosts_.push_back(std::make_unique<HostExecutor>(std::move(options)));
    PW_CHECK(data_plane_.Register(HostId(h), hosts_.back().get()).ok());
  }
}

Cluster::~Cluster() {
  for (int64_t h = 0; h < kHosts; ++h) DestroyHost(h);
}

void Cluster::DestroyHost(int64_t h) {
  if (hosts_[h] == nullptr) return;
  data_plane_.Unregister(HostId(h));
  hosts_[h].reset();
}

void Cluster::Register(FunctionId id, const ir::Function& function) {
  for (auto& host : hosts_) {
    absl::Status s = host->RegisterFunction(id, function);
    PW_CHECK(s.ok()) << s;
  }
}

LoweredProgramBuilder::LoweredProgramBuilder(std::string name) { program_.name = std::move(name); }

int32_t LoweredProgramBuilder::AddValue(std::string name, ir::TensorType shard_type,
                                        std::vector<DeviceId> devices, bool is_input,
                                        bool is_output) {
  ValueInfo v;
  v.name = std::move(name);
  v.shard_type = std::move(shard_type);
  v.devices = std::move(devices);
  v.num_shards = static_cast<int32_t>(v.devices.size());
  v.is_program_input = is_input;
  v.is_program_output = is_output;
  program_.values.push_back(std::move(v));
  const auto slot = static_cast<int32_t>(program_.values.size() - 1);
  if (is_input) ++program_.num_inputs;
  if (is_output) program_.output_values.push_back(slot);
  return slot;
}

int32_t LoweredProgramBuilder::AddNode(std::string name, NodeKind kind, FunctionId function,
                                       int64_t num_shards, std::vector<int32_t> inputs,
                                       std::vector<int32_t> outputs) {
  GraphNode n;
  n.kind = kind;
  n.name = std::move(name);
  n.function = function;
  n.num_shards = num_shards;
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  program_.nodes.push_back(std::move(n));
  return static_cast<int32_t>(program_.nodes.size() - 1);
}

void LoweredProgramBuilder::Compute(HostId host, int32_t node, FunctionId function,
                                    int64_t num_shards, int32_t shard, DeviceId device,
                                    std::vector<int32_t> inputs, std::vector<int32_t> outputs) {
  HostStep s;
  s.kind = StepKind::kCompute;
  s.node = node;
  s.shard = shard;
  s.device = device;
  s.function = function;
  s.num_shards = num_shards;
  s.inputs = std::move(inputs);
  s.outputs = std::move(outputs);
  LoweredHostProgram& h = hosts_[host];
  h.host = host;
  bool known = false;
  for (FunctionId f : h.functions) known = known || f == function;
  if (!known) h.functions.push_back(function);
  h.steps.push_back(std::move(s));
}

void LoweredProgramBuilder::Send(HostId host, int32_t node, int32_t shard, DeviceId device,
                                 int32_t src_value, int32_t dst_value, HostId peer_host,
                                 DeviceId peer_device) {
  HostStep s;
  s.kind = StepKind::kSend;
  s.node = node;
  s.shard = shard;
  s.device = device;
  s.src_value = src_value;
  s.dst_value = dst_value;
  s.peer_host = peer_host;
  s.peer_device = peer_device;
  hosts_[host].host = host;
  hosts_[host].steps.push_back(std::move(s));
}

void LoweredProgramBuilder::Recv(HostId host, int32_t node, int32_t shard, DeviceId device,
                                 int32_t dst_value, HostId peer_host, DeviceId peer_device) {
  HostStep s;
  s.kind = StepKind::kRecv;
  s.node = node;
  s.shard = shard;
  s.device = device;
  s.dst_value = dst_value;
  s.peer_host = peer_host;
  s.peer_device = peer_device;
  hosts_[host].host = host;
  hosts_[host].steps.push_back(std::move(s));
}

void LoweredProgramBuilder::Copy(HostId host, int32_t node, int32_t shard, DeviceId src_device,
                                 DeviceId device, int32_t src_value, int32_t dst_value) {
  HostStep s;
  s.kind = StepKind::kCopy;
  s.node = node;
  s.shard = shard;
  s.device = device;
  s.peer_device = src_device;
  s.src_value = src_value;
  s.dst_value = dst_value;
  hosts_[host].host = host;
  hosts_[host].steps.push_back(std::move(s));
}

void LoweredProgramBuilder::Temporary(HostId host, int32_t value) {
  hosts_[host].host = host;
  hosts_[host].temporaries.push_back(value);
}

std::shared_ptr<const LoweredProgram> LoweredProgramBuilder::Build() {
  auto program = std::make_shared<LoweredProgram>(program_);
  for (auto& [host, part] : hosts_) {
    LoweredHostProgram indexed = part;
    std::sort(indexed.temporaries.begin(), indexed.temporaries.end());
    IndexTemporaryUses(indexed);
    program->hosts[host] = std::make_shared<const LoweredHostProgram>(std::move(indexed));
  }
  return program;
}

HostRun MakeRun(const std::shared_ptr<const LoweredProgram>& program, HostId host, RunId run,
                std::vector<ArrayId> arrays, int64_t gang_base, DispatchMode mode,
                int64_t stage) {
  HostRun r;
  r.run = run;
  r.client = ClientId(0);
  r.program = program->hosts.at(host);
  r.lowered = program;
  r.value_arrays = std::make_shared<const std::vector<ArrayId>>(std::move(arrays));
  r.gang_base = gang_base;
  r.mode = mode;
  r.stage = stage;
  return r;
}

void RunOnAllHosts(Cluster& cluster, const std::shared_ptr<const LoweredProgram>& program,
                   RunId run, const std::vector<ArrayId>& arrays, int64_t gang_base) {
  for (const auto& [host, part] : program->hosts) {
    cluster.host(host.value()).Run(MakeRun(program, host, run, arrays, gang_base));
  }
}

}  // namespace pw::worker_testing
