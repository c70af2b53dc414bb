// ClusterCredentials: the secrets a client or an operator tool presents to a controller, and
// where they are found.
#ifndef PATHWAYS_RPC_CLUSTER_CREDENTIALS_H_
#define PATHWAYS_RPC_CLUSTER_CREDENTIALS_H_

#include <string>

#include "absl/status/status.h"

namespace pw {

struct ClusterCredentials {
  // What a client presents to Connect.
  std::string cluster_token;
  // What Shutdown, the trace and every client's status need ("pw-operator" metadata).
  std::string operator_token;
};

// The folder where `pw up` records its cluster: $PATHWAYS_STATE_DIR, else ~/.pathways.
std::string PathwaysStateDir();

// The credentials for the controller at `address`, each from the first place that has it:
//  1. $PATHWAYS_TOKEN and $PATHWAYS_OPERATOR_TOKEN;
//  2. what a cluster started in this process recorded for `address` (RememberClusterCredentials:
//     ProcessCluster does, so its tests and benchmarks connect with no setup);
//  3. the state folder, when the cluster `pw up` started there is at `address`
//     (<state>/credentials, written by `pw up` readable by its user only).
// Missing ones are empty (the controller then refuses what needs them, saying so).
ClusterCredentials FindClusterCredentials(const std::string& address);

// Records the credentials of a cluster at `address` for FindClusterCredentials. Thread-safe.
void RememberClusterCredentials(const std::string& address, const ClusterCredentials& credentials);

// Writes `path` (mode 0600, through a temporary file and a rename) in the form the state folder
// holds: "cluster_token=..." and "operator_token=..." lines.
absl::Status WriteCredentialsFile(const std::string& path, const ClusterCredentials& credentials);

}  // namespace pw

#endif  // PATHWAYS_RPC_CLUSTER_CREDENTIALS_H_
