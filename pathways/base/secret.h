// Secrets: random tokens and their comparison, for the cluster's credentials and sessions.
#ifndef PATHWAYS_BASE_SECRET_H_
#define PATHWAYS_BASE_SECRET_H_

#include <string>

#include "absl/status/statusor.h"

namespace pw {

// 128 random bits from the kernel's generator (getrandom), as 32 hex digits. UNAVAILABLE if the
// kernel gives none. The one source of the cluster's secrets: session, cluster and operator
// tokens.
absl::StatusOr<std::string> RandomToken();

// Whether two secrets are equal, in time independent of where they differ.
bool SameSecret(const std::string& a, const std::string& b);

}  // namespace pw

#endif  // PATHWAYS_BASE_SECRET_H_
