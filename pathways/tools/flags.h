// FlagParser: the command-line flags of pw, pw-controller and pw-worker. Debian's Abseil flags
// register globally per binary; these tools need per-command flag sets with errors returned as
// a Status naming the flag, which a few lines here give.
#ifndef PATHWAYS_TOOLS_FLAGS_H_
#define PATHWAYS_TOOLS_FLAGS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pw {

// Parses "512M", "2G", "1.5G", "64K", "4096" (binary units; a trailing "B"/"iB" is allowed)
// into bytes. INVALID_ARGUMENT naming `what` for anything else or a value < 1.
absl::StatusOr<int64_t> ParseByteSize(const std::string& text, const std::string& what);

// Flags are "--name VALUE" or "--name=VALUE"; booleans are "--name" (or "--name=true|false").
// Anything not starting with "--" is positional; "--" ends the flags.
class FlagParser {
 public:
  // `command` names the tool in errors ("pw up: --hosts: expected an integer, got 'x'").
  explicit FlagParser(std::string command) : command_(std::move(command)) {}

  void String(const std::string& name, std::string* value);
  void Int(const std::string& name, int64_t* value);
  void Double(const std::string& name, double* value);
  void ByteSize(const std::string& name, int64_t* value);
  void Bool(const std::string& name, bool* value);
  // Every argument from the first positional one on is positional (pw run PROGRAM ARGS...).
  void StopAtPositional() { stop_at_positional_ = true; }

  // INVALID_ARGUMENT naming the flag: unknown flag, missing or malformed value.
  absl::Status Parse(const std::vector<std::string>& args);
  absl::Status Parse(int argc, char** argv) {
    return Parse(std::vector<std::string>(argv + 1, argv + argc));
  }
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  struct Flag {
    bool is_bool = false;
    std::function<absl::Status(const std::string&)> set;
  };
  std::string command_;
  std::map<std::string, Flag> flags_;
  std::vector<std::string> positional_;
  bool stop_at_positional_ = false;
};

}  // namespace pw

#endif  // PATHWAYS_TOOLS_FLAGS_H_
