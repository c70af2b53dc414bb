// FindClusterCredentials: environment, this process's clusters, the state folder of `pw up`.
#include "pathways/rpc/cluster_credentials.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"

namespace pw {
namespace {

struct Remembered {
  absl::Mutex mu;
  absl::flat_hash_map<std::string, ClusterCredentials> by_address ABSL_GUARDED_BY(mu);
};

Remembered& Registry() {
  static Remembered* registry = new Remembered;  // never destroyed: used until exit
  return *registry;
}

// key=value lines of a state file; empty when it cannot be read.
absl::flat_hash_map<std::string, std::string> ReadKeyValues(const std::string& path) {
  absl::flat_hash_map<std::string, std::string> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    out[kv.first] = kv.second;
  }
  return out;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}

}  // namespace

std::string PathwaysStateDir() {
  if (std::string d = Env("PATHWAYS_STATE_DIR"); !d.empty()) return d;
  const std::string home = Env("HOME");
  return absl::StrCat(home.empty() ? "/tmp" : home, "/.pathways");
}

void RememberClusterCredentials(const std::string& address, const ClusterCredentials& credentials) {
  Remembered& r = Registry();
  absl::MutexLock lock(&r.mu);
  r.by_address[address] = credentials;
}

ClusterCredentials FindClusterCredentials(const std::string& address) {
  ClusterCredentials found{Env("PATHWAYS_TOKEN"), Env("PATHWAYS_OPERATOR_TOKEN")};
  auto fill = [&found](const ClusterCredentials& c) {
    if (found.cluster_token.empty()) found.cluster_token = c.cluster_token;
    if (found.operator_token.empty()) found.operator_token = c.operator_token;
  };
  {
    Remembered& r = Registry();
    absl::MutexLock lock(&r.mu);
    if (auto it = r.by_address.find(address); it != r.by_address.end()) fill(it->second);
  }
  if (found.cluster_token.empty() || found.operator_token.empty()) {
    const std::string dir = PathwaysStateDir();
    if (ReadKeyValues(dir + "/cluster")["address"] == address) {
      absl::flat_hash_map<std::string, std::string> kv = ReadKeyValues(dir + "/credentials");
      fill({kv["cluster_token"], kv["operator_token"]});
    }
  }
  return found;
}

absl::Status WriteCredentialsFile(const std::string& path, const ClusterCredentials& credentials) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot write ", tmp, ": ", std::strerror(errno)));
  const std::string text = absl::StrCat("cluster_token=", credentials.cluster_token, "\n",
                                        "operator_token=", credentials.operator_token, "\n");
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!written || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

}  // namespace pw
