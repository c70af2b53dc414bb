// Slurm's compressed host lists ("node[01-04,07],gpu-a[1-2]", what SLURM_JOB_NODELIST holds),
// expanded into host names in order.
//
// Syntax: entries separated by top-level commas; an entry is host-name text with any number of
// bracket groups, each a comma-separated list of numbers and ranges LO-HI (LO <= HI), and
// expands to the cartesian product in order ("r[1-2]n[1-2]": r1n1, r1n2, r2n1, r2n2). A number
// written with leading zeros sets the width every number of its range is padded to ("[08-10]":
// 08, 09, 10); without, numbers are written plainly ("[9-10]": 9, 10). Host-name text is
// letters, digits, '-', '_' and '.'.
//
// Errors: INVALID_ARGUMENT naming `variable` and what is wrong (empty entry, unbalanced or
// nested brackets, LO > HI, a non-digit in a range, a character not allowed in host names,
// more than `max_hosts` hosts, a host name over 253 characters, a number over 9 digits, an
// input over 64 KiB). Pure function: thread-safe, no allocation beyond the result.
#ifndef PATHWAYS_LAUNCH_HOSTLIST_H_
#define PATHWAYS_LAUNCH_HOSTLIST_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pw::launch {

inline constexpr int64_t kMaxHostlistHosts = 65536;

absl::StatusOr<std::vector<std::string>> ExpandHostlist(absl::string_view list,
                                                        absl::string_view variable,
                                                        int64_t max_hosts = kMaxHostlistHosts);

}  // namespace pw::launch

#endif  // PATHWAYS_LAUNCH_HOSTLIST_H_
