// The paper's Figure 2 program in C++ on a running cluster (`pw up`), reached over gRPC at
// $PATHWAYS_ADDRESS or the address given as the one argument. It links the client library
// only: no controller, executor, kernels or collectives (see figure2_program.h).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "examples/figure2_program.h"
#include "pathways/base/status.h"
#include "pathways/client/client.h"

namespace {

absl::Status Main(int argc, char** argv) {
  std::string address;
  if (argc == 2) {
    address = argv[1];
  } else if (const char* env = std::getenv("PATHWAYS_ADDRESS"); argc == 1 && env != nullptr) {
    address = env;
  } else {
    return absl::InvalidArgumentError(
        "usage: figure2_remote [ADDRESS]  (default: $PATHWAYS_ADDRESS, as `pw up` prints it)");
  }
  PW_ASSIGN_OR_RETURN(auto client, pw::Client::ConnectTo(address, "figure2_remote", absl::Seconds(10)));
  PW_ASSIGN_OR_RETURN(std::string result, pw::examples::RunFigure2(*client));
  std::printf("%s\n", result.c_str());
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::Status s = Main(argc, argv);
  if (!s.ok()) {
    std::fprintf(stderr, "figure2_remote: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
