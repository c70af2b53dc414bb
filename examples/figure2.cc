// The paper's Figure 2 program in C++ on the embedded local cluster (2 hosts of 2 devices in
// this process): see figure2_program.h.
#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "examples/figure2_program.h"
#include "pathways/base/status.h"
#include "pathways/client/client.h"
#include "pathways/cluster/local_cluster.h"

namespace {

absl::Status Main() {
  PW_ASSIGN_OR_RETURN(auto cluster, pw::LocalCluster::Start({.hosts_per_island = 2, .devices_per_host = 2}));
  PW_ASSIGN_OR_RETURN(auto client, pw::Client::Connect(cluster->controller(), "figure2"));
  PW_ASSIGN_OR_RETURN(std::string result, pw::examples::RunFigure2(*client));
  std::printf("%s\n", result.c_str());
  return absl::OkStatus();
}

}  // namespace

int main() {
  absl::Status s = Main();
  if (!s.ok()) {
    std::fprintf(stderr, "figure2: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
