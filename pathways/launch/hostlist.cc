// ExpandHostlist: a one-pass scanner splitting entries at top-level commas, then each entry
// into text pieces and bracket groups, expanded as a cartesian product under a host budget.
#include "pathways/launch/hostlist.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace pw::launch {
namespace {

constexpr size_t kMaxInputBytes = 64 * 1024;
constexpr size_t kMaxHostNameBytes = 253;
constexpr size_t kMaxDigits = 9;

bool IsHostNameChar(char c) { return absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.'; }

// Errors of one expansion: every message names the variable and shows (the start of) the list.
class Errors {
 public:
  Errors(absl::string_view variable, absl::string_view list) : variable_(variable), list_(list) {}
  absl::Status operator()(absl::string_view what) const {
    const absl::string_view shown = list_.substr(0, 80);
    return absl::InvalidArgumentError(absl::StrCat(variable_, ": ", what, " in host list '", shown,
                                                   shown.size() < list_.size() ? "...'" : "'"));
  }

 private:
  absl::string_view variable_;
  absl::string_view list_;
};

absl::StatusOr<int64_t> ParseNumber(absl::string_view text, absl::string_view range, const Errors& err) {
  int64_t value = 0;
  if (text.empty() || text.size() > kMaxDigits ||
      !std::all_of(text.begin(), text.end(), [](char c) { return absl::ascii_isdigit(c); }) ||
      !absl::SimpleAtoi(text, &value)) {
    return err(absl::StrCat("'", range, "' is not a number or a range LO-HI of numbers of at most ",
                            kMaxDigits, " digits"));
  }
  return value;
}

// The values of one bracket group ("01-04,07"), formatted, at most `budget` of them.
absl::StatusOr<std::vector<std::string>> ExpandGroup(absl::string_view group, int64_t budget,
                                                     const Errors& err) {
  std::vector<std::string> values;
  for (absl::string_view range : absl::StrSplit(group, ',')) {
    if (range.empty()) return err(absl::StrCat("empty range in '[", group, "]'"));
    std::pair<absl::string_view, absl::string_view> bounds = absl::StrSplit(range, absl::MaxSplits('-', 1));
    const bool is_range = range.find('-') != absl::string_view::npos;
    absl::string_view lo_text = bounds.first;
    absl::string_view hi_text = is_range ? bounds.second : bounds.first;
    auto lo = ParseNumber(lo_text, range, err);
    if (!lo.ok()) return lo.status();
    auto hi = ParseNumber(hi_text, range, err);
    if (!hi.ok()) return hi.status();
    if (*lo > *hi) return err(absl::StrCat("range '", range, "' runs backwards"));
    const bool padded = lo_text.size() > 1 && lo_text[0] == '0';
    if (hi_text.size() > 1 && hi_text[0] == '0' && hi_text.size() != lo_text.size()) {
      return err(absl::StrCat("range '", range, "' pads its bounds to different widths"));
    }
    if (*hi - *lo + 1 > budget - static_cast<int64_t>(values.size())) {
      return err(absl::StrCat("more than the limit of hosts (range '", range, "')"));
    }
    const int width = padded ? static_cast<int>(lo_text.size()) : 0;
    for (int64_t v = *lo; v <= *hi; ++v) values.push_back(absl::StrFormat("%0*d", width, v));
  }
  return values;
}

// Appends the hosts of one entry ("rack[1-2]-n[01-02]") to `hosts`.
absl::Status ExpandEntry(absl::string_view entry, int64_t max_hosts, const Errors& err,
                         std::vector<std::string>& hosts) {
  if (entry.empty()) return err("empty entry");
  // Each piece is a list of alternatives: text is one, a bracket group its values.
  std::vector<std::vector<std::string>> pieces;
  const int64_t budget = max_hosts - static_cast<int64_t>(hosts.size());
  // Names the entry makes so far: each group may expand to at most what the budget leaves for
  // it, so the groups of one entry never hold more than the budget together.
  int64_t product = 1;
  size_t i = 0;
  while (i < entry.size()) {
    if (entry[i] == '[') {
      const size_t close = entry.find(']', i);
      if (close == absl::string_view::npos) return err("'[' without ']'");
      absl::string_view group = entry.substr(i + 1, close - i - 1);
      if (group.find('[') != absl::string_view::npos) return err("nested '['");
      if (group.empty()) return err("empty '[]'");
      auto values = ExpandGroup(group, budget / product, err);
      if (!values.ok()) return values.status();
      product *= static_cast<int64_t>(values->size());
      pieces.push_back(*std::move(values));
      i = close + 1;
    } else if (entry[i] == ']') {
      return err("']' without '['");
    } else {
      const size_t start = i;
      while (i < entry.size() && entry[i] != '[' && entry[i] != ']') {
        if (!IsHostNameChar(entry[i])) {
          return err(absl::StrCat("character '", absl::CHexEscape(entry.substr(i, 1)),
                                  "' is not allowed in a host name"));
        }
        ++i;
      }
      pieces.push_back({std::string(entry.substr(start, i - start))});
    }
  }
  int64_t count = 1;
  size_t length = 0;
  for (const std::vector<std::string>& p : pieces) {
    if (count > budget / static_cast<int64_t>(p.size())) return err("more than the limit of hosts");
    count *= static_cast<int64_t>(p.size());
    size_t longest = 0;
    for (const std::string& s : p) longest = std::max(longest, s.size());
    length += longest;
  }
  if (count > budget) return err("more than the limit of hosts");
  if (length > kMaxHostNameBytes) {
    return err(absl::StrCat("a host name longer than ", kMaxHostNameBytes, " characters"));
  }
  // Odometer over the pieces, the last one turning fastest.
  std::vector<size_t> index(pieces.size(), 0);
  for (int64_t n = 0; n < count; ++n) {
    std::string name;
    for (size_t k = 0; k < pieces.size(); ++k) name += pieces[k][index[k]];
    hosts.push_back(std::move(name));
    for (size_t k = pieces.size(); k-- > 0;) {
      if (++index[k] < pieces[k].size()) break;
      index[k] = 0;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ExpandHostlist(absl::string_view list,
                                                        absl::string_view variable,
                                                        int64_t max_hosts) {
  const Errors err(variable, list);
  if (list.size() > kMaxInputBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(variable, ": host list of ", list.size(), " bytes (at most ", kMaxInputBytes, ")"));
  }
  if (list.empty()) return err("no hosts");
  std::vector<std::string> hosts;
  size_t start = 0;
  int depth = 0;
  for (size_t i = 0; i <= list.size(); ++i) {
    if (i < list.size() && list[i] == '[') ++depth;
    if (i < list.size() && list[i] == ']') --depth;
    if (depth < 0) return err("']' without '['");
    if (i == list.size() || (list[i] == ',' && depth == 0)) {
      if (absl::Status s = ExpandEntry(list.substr(start, i - start), max_hosts, err, hosts); !s.ok()) {
        return s;
      }
      start = i + 1;
    }
  }
  return hosts;
}

}  // namespace pw::launch
