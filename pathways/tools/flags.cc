// FlagParser and byte sizes.
#include "pathways/tools/flags.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace pw {

absl::StatusOr<int64_t> ParseByteSize(const std::string& text, const std::string& what) {
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": expected a size like 512M, 2G or a number of bytes, got '", text, "'"));
  };
  std::string s = absl::AsciiStrToUpper(text);
  if (s.size() > 2 && s.substr(s.size() - 2) == "IB") s.resize(s.size() - 2);
  else if (s.size() > 1 && s.back() == 'B') s.pop_back();
  double scale = 1;
  if (!s.empty()) {
    switch (s.back()) {
      case 'K': scale = 1024.0; break;
      case 'M': scale = 1024.0 * 1024; break;
      case 'G': scale = 1024.0 * 1024 * 1024; break;
      case 'T': scale = 1024.0 * 1024 * 1024 * 1024; break;
      default: break;
    }
    if (scale != 1) s.pop_back();
  }
  double number = 0;
  if (s.empty() || !absl::SimpleAtod(s, &number) || !std::isfinite(number)) return bad();
  const double bytes = std::floor(number * scale);
  if (bytes < 1 || bytes > 9.0e18) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": size must be at least 1 byte, got '", text, "'"));
  }
  return static_cast<int64_t>(bytes);
}

void FlagParser::String(const std::string& name, std::string* value) {
  flags_[name] = {false, [value](const std::string& v) {
                    *value = v;
                    return absl::OkStatus();
                  }};
}

void FlagParser::Int(const std::string& name, int64_t* value) {
  flags_[name] = {false, [this, name, value](const std::string& v) {
                    if (!absl::SimpleAtoi(v, value)) {
                      return absl::InvalidArgumentError(
                          absl::StrCat(command_, ": ", name, ": expected an integer, got '", v, "'"));
                    }
                    return absl::OkStatus();
                  }};
}

void FlagParser::Double(const std::string& name, double* value) {
  flags_[name] = {false, [this, name, value](const std::string& v) {
                    if (!absl::SimpleAtod(v, value)) {
                      return absl::InvalidArgumentError(
                          absl::StrCat(command_, ": ", name, ": expected a number, got '", v, "'"));
                    }
                    return absl::OkStatus();
                  }};
}

void FlagParser::ByteSize(const std::string& name, int64_t* value) {
  flags_[name] = {false, [this, name, value](const std::string& v) -> absl::Status {
                    absl::StatusOr<int64_t> bytes = ParseByteSize(v, absl::StrCat(command_, ": ", name));
                    if (!bytes.ok()) return bytes.status();
                    *value = *bytes;
                    return absl::OkStatus();
                  }};
}

void FlagParser::Bool(const std::string& name, bool* value) {
  flags_[name] = {true, [this, name, value](const std::string& v) {
                    if (v.empty() || v == "true" || v == "1") {
                      *value = true;
                    } else if (v == "false" || v == "0") {
                      *value = false;
                    } else {
                      return absl::InvalidArgumentError(
                          absl::StrCat(command_, ": ", name, ": expected true or false, got '", v, "'"));
                    }
                    return absl::OkStatus();
                  }};
}

absl::Status FlagParser::Parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      positional_.insert(positional_.end(), args.begin() + i + 1, args.end());
      return absl::OkStatus();
    }
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
      if (stop_at_positional_) {
        positional_.insert(positional_.end(), args.begin() + i, args.end());
        return absl::OkStatus();
      }
      positional_.push_back(arg);
      continue;
    }
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    auto it = flags_.find(name);
    if (it == flags_.end()) {
      return absl::InvalidArgumentError(absl::StrCat(command_, ": unknown flag '", name, "' (see --help)"));
    }
    std::string value;
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else if (!it->second.is_bool) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat(command_, ": ", name, " needs a value"));
      }
      value = args[++i];
    }
    absl::Status s = it->second.set(value);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace pw
