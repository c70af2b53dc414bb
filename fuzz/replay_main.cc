// The fuzz targets without libFuzzer: a driver that feeds a target every input of its corpus
// directories, then deterministic mutants of each (bit flips, bytes set to 0x00/0xff, hostile
// 32-bit integers written over the input, truncations, a chunk repeated, a chunk removed), so the
// regular and the sanitizer builds run every target on thousands of inputs in `make test` with no
// Clang. A crash, an ASan or UBSan report, or a hang (CTest's timeout) fails the test; the input
// that caused it is printed before each run when PW_REPLAY_VERBOSE is set.
//
//   <target>_replay [--mutants=N] DIR...      (N mutants per input, default 16)
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// One mutant of `input`, chosen by `rng`: the kinds of damage a hostile or broken peer causes.
std::string Mutate(const std::string& input, std::mt19937_64& rng) {
  std::string out = input;
  if (out.empty()) return std::string(1, static_cast<char>(rng()));
  auto at = [&](size_t bound) { return static_cast<size_t>(rng() % bound); };
  switch (rng() % 6) {
    case 0:  // flip one bit
      out[at(out.size())] ^= static_cast<char>(1u << (rng() % 8));
      break;
    case 1:  // a byte set to an extreme
      out[at(out.size())] = (rng() & 1) ? '\xff' : '\0';
      break;
    case 2: {  // a hostile integer (little-endian) written over four bytes
      static constexpr uint32_t kValues[] = {0x7fffffffu, 0xffffffffu, 0x80000000u, 0x00010000u};
      const uint32_t v = kValues[rng() % 4];
      const size_t pos = at(out.size());
      for (size_t i = 0; i < 4 && pos + i < out.size(); ++i) out[pos + i] = static_cast<char>(v >> (8 * i));
      break;
    }
    case 3:  // truncated
      out.resize(at(out.size()));
      break;
    case 4: {  // a chunk repeated
      const size_t pos = at(out.size());
      const size_t len = 1 + at(std::min<size_t>(64, out.size() - pos));
      out.insert(pos, out.substr(pos, len));
      break;
    }
    default: {  // a chunk removed
      const size_t pos = at(out.size());
      out.erase(pos, 1 + at(std::min<size_t>(64, out.size() - pos)));
      break;
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  long mutants = 16;
  std::vector<fs::path> dirs;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--mutants=", 0) == 0) {
      char* end = nullptr;
      mutants = std::strtol(arg.c_str() + 10, &end, 10);
      if (*end != '\0' || mutants < 0 || mutants > 1000000) {
        std::fprintf(stderr, "replay: --mutants wants a count in [0, 1000000], got '%s'\n", arg.c_str() + 10);
        return 2;
      }
    } else {
      dirs.emplace_back(arg);
    }
  }
  if (dirs.empty()) {
    std::fprintf(stderr, "usage: %s [--mutants=N] CORPUS_DIR...\n", argv[0]);
    return 2;
  }
  const bool verbose = std::getenv("PW_REPLAY_VERBOSE") != nullptr;
  std::vector<fs::path> files;
  for (const fs::path& dir : dirs) {
    std::error_code error;
    if (!fs::is_directory(dir, error)) {
      std::fprintf(stderr, "replay: corpus directory %s does not exist\n", dir.c_str());
      return 2;
    }
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());  // the same order, so the same mutants, every run
  std::mt19937_64 rng(0x5eed);
  long executions = 0;
  for (const fs::path& file : files) {
    const std::string input = ReadFile(file);
    for (long m = 0; m <= mutants; ++m) {
      const std::string data = m == 0 ? input : Mutate(input, rng);
      if (verbose) std::fprintf(stderr, "replay: %s mutant %ld\n", file.c_str(), m);
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()), data.size());
      ++executions;
    }
  }
  std::printf("replay: %zu inputs, %ld executions, no crash\n", files.size(), executions);
  return files.empty() ? 1 : 0;
}
