// Helpers for tests that start pw-controller and pw-worker themselves: stopping them, a client
// once the workers joined, and a small program proving the cluster runs one.
#ifndef PATHWAYS_TESTS_PROCESS_CLIENT_H_
#define PATHWAYS_TESTS_PROCESS_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "pathways/client/client.h"
#include "pathways/cluster/process_cluster.h"
#include "tests/test_util.h"

namespace pw::testing_util {

// Stops those of `pids` still alive (SIGTERM, SIGKILL after 2 s): a test's own processes.
inline void StopAlive(const std::vector<pid_t>& pids) {
  std::vector<pid_t> live;
  for (pid_t p : pids) {
    if (ProcessAlive(p)) live.push_back(p);
  }
  (void)StopProcesses(live, absl::Seconds(2));
}

// A client of the controller at `address`, once `hosts` hosts have joined it (a test failure
// after 30 s otherwise). The controller's credentials must be known (RememberClusterCredentials).
inline std::unique_ptr<Client> ClientWithHosts(const std::string& address, int64_t hosts, const std::string& name) {
  std::unique_ptr<Client> client = Unwrap(Client::ConnectTo(address, name, absl::Seconds(10)));
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (static_cast<int64_t>(client->controller().Status().hosts.size()) < hosts && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(static_cast<int64_t>(client->controller().Status().hosts.size()), hosts);
  return client;
}

// x + x on a new 2-device slice for x = [1.5, -2]: [3, -4] from a working cluster.
inline std::vector<float> TwiceOnTwoDevices(Client& client) {
  VirtualSlice s = Unwrap(client.GetDevices(2));
  PmapFunction f = client.Pmap("twice", s, [](ir::FunctionBuilder& b, absl::Span<const ir::Value> x) {
    return std::vector<ir::Value>{b.Add(x[0], x[0])};
  });
  Array x = Unwrap(client.PutGlobal(s, ir::Literal::Create<float>({2}, {1.5f, -2.0f})));
  ir::Literal y = Unwrap(Unwrap(f({x}))[0].ToLiteral());
  auto d = y.data<float>();
  return {d.begin(), d.end()};
}

}  // namespace pw::testing_util

#endif  // PATHWAYS_TESTS_PROCESS_CLIENT_H_
