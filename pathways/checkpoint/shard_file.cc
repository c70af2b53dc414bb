// Shard files: raw bytes written through a temporary file and a rename; read back checked.
#include "pathways/checkpoint/shard_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "pathways/base/status.h"

namespace pw::checkpoint {
namespace {

absl::Status Errno(const std::string& what, const std::string& path, int err) {
  const std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(message);
  if (err == ENOSPC || err == EDQUOT) return absl::ResourceExhaustedError(message);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(message);
  return absl::InternalError(message);
}

// Closes the descriptor on every path out of a function.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now, reporting the error close(2) gives (a write-back failure on some filesystems).
  int Close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd);
  }

 private:
  int fd_;
};

absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("writing", path, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadAll(const std::string& path, int64_t expected_max) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Errno("opening", path, errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Errno("reading the size of", path, errno);
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a regular file"));
  }
  if (st.st_size > expected_max) {
    return absl::DataLossError(absl::StrCat(path, " holds ", st.st_size, " bytes; at most ",
                                            expected_max, " were expected"));
  }
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::read(fd.get(), data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("reading", path, errno);
    }
    if (n == 0) break;  // the file shrank under us: the size check below reports it
    done += static_cast<size_t>(n);
  }
  data.resize(done);
  return data;
}

}  // namespace

absl::Status CheckPath(std::string_view path, std::string_view what) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(what), " \"",
                                                   std::string(path.substr(0, 200)),
                                                   path.size() > 200 ? "..." : "", "\" ", why));
  };
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(std::string(what), " is empty"));
  if (static_cast<int64_t>(path.size()) > kMaxPathLength) {
    return bad(absl::StrCat("is longer than ", kMaxPathLength, " bytes"));
  }
  if (path.find('\0') != std::string_view::npos) return bad("contains a NUL byte");
  if (path.front() != '/') return bad("is not an absolute path");
  for (absl::string_view part : absl::StrSplit(std::string(path), '/')) {
    if (part == "." || part == "..") return bad("has a \".\" or \"..\" component");
  }
  return absl::OkStatus();
}

absl::Status CheckFileName(std::string_view name, std::string_view what) {
  if (name.empty() || name.size() > 255 || name == "." || name == ".." ||
      name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(what), " \"", std::string(name.substr(0, 200)), "\" is not a plain file name (1 to 255 bytes, no '/', "
        "not \".\" or \"..\")"));
  }
  return absl::OkStatus();
}

uint32_t Crc32(std::string_view data) {
  uLong crc = ::crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed large buffers in pieces.
  while (!data.empty()) {
    const size_t n = std::min<size_t>(data.size(), size_t{1} << 30);
    crc = ::crc32(crc, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(n));
    data.remove_prefix(n);
  }
  return static_cast<uint32_t>(crc);
}

namespace {
// A temporary name no other writer in any process uses at the same time.
std::string TempName(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return absl::StrCat(path, ".tmp.", ::getpid(), ".", counter.fetch_add(1, std::memory_order_relaxed));
}
}  // namespace

absl::Status WriteFileAtomically(const std::string& path, std::string_view contents,
                                 bool replace) {
  PW_RETURN_IF_ERROR(CheckPath(path, "file path"));
  const std::string tmp = TempName(path);
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) return Errno("creating", tmp, errno);
  absl::Status written = WriteAll(fd.get(), contents, tmp);
  if (written.ok() && ::fsync(fd.get()) != 0) written = Errno("flushing", tmp, errno);
  if (fd.Close() != 0 && written.ok()) written = Errno("closing", tmp, errno);
  if (written.ok() && replace && ::rename(tmp.c_str(), path.c_str()) != 0) {
    written = Errno(absl::StrCat("renaming ", tmp, " to"), path, errno);
  }
  if (written.ok() && !replace) {
    // link(2) fails if `path` exists: two writers of one path cannot both succeed.
    if (::link(tmp.c_str(), path.c_str()) != 0) {
      written = errno == EEXIST
                    ? absl::AlreadyExistsError(absl::StrCat(path, " exists already"))
                    : Errno(absl::StrCat("linking ", tmp, " to"), path, errno);
    }
    ::unlink(tmp.c_str());
    return written;
  }
  if (!written.ok()) ::unlink(tmp.c_str());
  return written;
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, int64_t max_bytes) {
  PW_RETURN_IF_ERROR(CheckPath(path, "file path"));
  absl::StatusOr<std::string> data = ReadAll(path, max_bytes);
  if (!data.ok() && absl::IsDataLoss(data.status())) {
    return absl::InvalidArgumentError(data.status().message());
  }
  return data;
}

absl::StatusOr<ShardFile> WriteShardFile(const std::string& path, const ir::Literal& data) {
  PW_RETURN_IF_ERROR(CheckPath(path, "shard file path"));
  PW_RETURN_IF_ERROR(WriteFileAtomically(path, data.bytes()));
  return ShardFile{path, data.type(), data.byte_size(), Crc32(data.bytes())};
}

absl::StatusOr<ir::Literal> ReadShardFile(const ShardFile& file) {
  PW_RETURN_IF_ERROR(CheckPath(file.path, "shard file path"));
  if (!file.type.IsValid()) {
    return absl::InvalidArgumentError(
        absl::StrCat("shard file ", file.path, ": invalid type ", file.type.DebugString()));
  }
  if (file.bytes != file.type.byte_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "shard file ", file.path, ": recorded as ", file.bytes, " bytes but a ",
        file.type.DebugString(), " shard is ", file.type.byte_size(), " bytes"));
  }
  PW_ASSIGN_OR_RETURN(std::string bytes, ReadAll(file.path, file.bytes));
  if (static_cast<int64_t>(bytes.size()) != file.bytes) {
    return absl::DataLossError(absl::StrCat("shard file ", file.path, " holds ", bytes.size(),
                                            " bytes; ", file.bytes, " were written"));
  }
  const uint32_t crc = Crc32(bytes);
  if (crc != file.crc32) {
    return absl::DataLossError(absl::StrCat("shard file ", file.path, " has CRC-32 ", crc,
                                            "; ", file.crc32, " was written (the file changed)"));
  }
  return ir::Literal::FromBytes(file.type, std::move(bytes));
}

}  // namespace pw::checkpoint
