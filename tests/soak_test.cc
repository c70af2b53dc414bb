// A bounded soak under faults: 6 clients running programs of random sizes on a cluster of
// processes for 4 s, while a worker is killed (SIGKILL) and a replacement joins every second,
// three times. Every future resolves — a correct value, or an error naming what was lost — nothing
// hangs, the controller survives, device memory goes back to zero once the clients leave, and
// this process's threads and file descriptors return to their level before the soak.
#include <dirent.h>
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status.h"
#include "pathways/client/client.h"
#include "pathways/cluster/process_cluster.h"
#include "pathways/rpc/grpc_controller_client.h"
#include "tests/test_util.h"

namespace pw {
namespace {

using testing_util::Unwrap;

// The size of the soak: $PW_SOAK_CLIENTS clients (default 6), $PW_SOAK_KILLS kills one second
// apart (default 3), and at least $PW_SOAK_PROGRAMS programs per client (default 0: as many as
// fit while the kills go on). bench/soak.sh runs 32 clients x 1,000 programs.
int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoll(v) : fallback;
}

int64_t CountEntries(const char* dir) {
  int64_t n = 0;
  if (DIR* d = opendir(dir)) {
    while (readdir(d) != nullptr) ++n;
    closedir(d);
  }
  return n;
}

struct Outcomes {
  absl::Mutex mu;
  int64_t ok = 0;
  std::vector<absl::Status> errors;
};

// One client's loop until `stop`: a slice of 2 devices (acquired again when it fails), a
// program per iteration on a random size, its result checked.
void ClientLoop(const std::string& address, int index, const std::atomic<bool>& stop,
                int64_t min_programs, Outcomes& outcomes) {
  std::unique_ptr<Client> client = Unwrap(Client::ConnectTo(address, absl::StrCat("soak-", index)));
  std::mt19937 rng(index);
  std::optional<VirtualSlice> slice;
  for (int64_t p = 0; !stop.load() || p < min_programs; ++p) {
    absl::Status status;
    if (!slice.has_value()) {
      absl::StatusOr<VirtualSlice> s = client->GetDevices(2);
      if (s.ok()) slice = *s;
      status = s.status();
    }
    if (slice.has_value()) {
      const int64_t n = std::uniform_int_distribution<int64_t>(1, 4096)(rng);
      std::vector<float> values(2 * n);
      for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 97);
      PmapFunction f = client->Pmap("affine", *slice, [](ir::FunctionBuilder& b, absl::Span<const ir::Value> x) {
        return std::vector<ir::Value>{b.Add(b.Multiply(x[0], b.ConstantScalar(3.0f)), b.ConstantScalar(1.0f))};
      });
      absl::StatusOr<ir::Literal> out = [&]() -> absl::StatusOr<ir::Literal> {
        PW_ASSIGN_OR_RETURN(ir::Literal in, ir::Literal::Create<float>({2, n}, absl::MakeConstSpan(values)));
        PW_ASSIGN_OR_RETURN(Array x, client->PutGlobal(*slice, in));
        PW_ASSIGN_OR_RETURN(std::vector<Array> y, f({x}));
        return y[0].ToLiteral();
      }();
      status = out.status();
      if (out.ok()) {
        auto d = out->data<float>();
        for (size_t i = 0; i < values.size() && status.ok(); ++i) {
          if (d[i] != values[i] * 3.0f + 1.0f) status = absl::InternalError(absl::StrCat("wrong value at ", i));
        }
      } else if (!absl::IsInvalidArgument(status)) {
        slice.reset();  // its devices may be gone: acquire a slice again
      }
    }
    absl::MutexLock lock(&outcomes.mu);
    if (status.ok()) {
      ++outcomes.ok;
    } else {
      outcomes.errors.push_back(status);
    }
  }
}

TEST(SoakTest, ClientsRunThroughKilledAndReplacedWorkers) {
  const int64_t fds_before = CountEntries("/proc/self/fd");
  auto cluster = Unwrap(ProcessCluster::Start({.hosts_per_island = 3, .devices_per_host = 2,
                                               .memory_per_device_bytes = int64_t{64} << 20,
                                               .heartbeat_timeout = absl::Milliseconds(1500)}));
  const int64_t threads_before = CountEntries("/proc/self/task");
  {
    // A first client alone, so the channel pools gRPC keeps per process exist before counting.
    auto warm = Unwrap(Client::ConnectTo(cluster->address(), "warm"));
    Unwrap(warm->GetDevices(1));
  }
  const int64_t threads_warm = CountEntries("/proc/self/task");
  const int64_t fds_warm = CountEntries("/proc/self/fd");
  Outcomes outcomes;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  const int64_t num_clients = EnvInt("PW_SOAK_CLIENTS", 6);
  const int64_t num_kills = EnvInt("PW_SOAK_KILLS", 3);
  const int64_t min_programs = EnvInt("PW_SOAK_PROGRAMS", 0);
  for (int c = 0; c < num_clients; ++c) {
    clients.emplace_back([&, c] { ClientLoop(cluster->address(), c, stop, min_programs, outcomes); });
  }
  std::mt19937 rng(7);
  int kills = 0;
  for (; kills < num_kills; ++kills) {
    absl::SleepFor(absl::Seconds(1));
    std::vector<int64_t> live;
    for (size_t i = 0; i < cluster->worker_pids().size(); ++i) {
      if (cluster->worker_pids()[i] > 0 && ProcessAlive(cluster->worker_pids()[i])) live.push_back(i);
    }
    const int64_t victim = live[std::uniform_int_distribution<size_t>(0, live.size() - 1)(rng)];
    ASSERT_TRUE(cluster->SignalWorker(victim, SIGKILL).ok());
    ASSERT_TRUE(cluster->AddWorker().ok());
  }
  absl::SleepFor(absl::Seconds(1));  // the clients run on the repaired cluster too
  stop = true;
  for (std::thread& t : clients) t.join();
  EXPECT_TRUE(ProcessAlive(cluster->controller_pid())) << "the controller died";
  {
    absl::MutexLock lock(&outcomes.mu);
    EXPECT_GT(outcomes.ok, 0);
    for (const absl::Status& e : outcomes.errors) {
      // What was lost is named: a host, its devices' slice, or the gang it broke.
      EXPECT_TRUE(absl::IsUnavailable(e) || absl::IsFailedPrecondition(e) || absl::IsAborted(e) ||
                  absl::IsNotFound(e) || absl::IsResourceExhausted(e)) << e;
      EXPECT_FALSE(absl::IsInternal(e)) << e;
    }
    std::printf("soak: %lld programs ok, %zu failed by the %d losses\n",
                static_cast<long long>(outcomes.ok), outcomes.errors.size(), kills);
  }
  // Every client left: the live hosts hold no arrays.
  auto stub = Unwrap(GrpcControllerClient::Connect(cluster->address()));
  const absl::Time deadline = absl::Now() + absl::Seconds(15);
  int64_t in_use = -1;
  while (absl::Now() < deadline) {
    in_use = 0;
    for (const HostStatus& h : stub->Status().hosts) {
      for (const DeviceStatus& d : h.devices) in_use += d.memory_in_use_bytes - d.scratch_bytes;
    }
    if (in_use == 0) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(in_use, 0) << "device memory not back to its baseline";
  stub.reset();
  // Nothing leaked in this process (a little slack for gRPC's own pools).
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_LE(CountEntries("/proc/self/task"), threads_warm + 4) << "threads before: " << threads_before;
  EXPECT_LE(CountEntries("/proc/self/fd"), fds_warm + 4) << "fds before the cluster: " << fds_before;
}

}  // namespace
}  // namespace pw
