// TcpCopy: the plain-socket reference for data-plane bandwidth — a connected TCP pair over
// 127.0.0.1 whose receiving thread reads each transfer straight into a preallocated buffer and
// acknowledges it with one byte, so a transfer is timed until the bytes are in place, as a
// data-plane push is timed until the receiver answers.
#ifndef BENCH_TCP_COPY_H_
#define BENCH_TCP_COPY_H_

#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pw::bench {

class TcpCopy {
 public:
  // Connects the pair and starts the receiving thread, which holds a buffer of
  // `max_bytes`. Errors: UNAVAILABLE naming the socket call that failed.
  static absl::StatusOr<std::unique_ptr<TcpCopy>> Create(int64_t max_bytes);
  // Closes the sender, which ends the receiving thread, and joins it.
  ~TcpCopy();
  TcpCopy(const TcpCopy&) = delete;
  TcpCopy& operator=(const TcpCopy&) = delete;

  // Sends `bytes` (<= max_bytes) from `data` and returns once the receiver has them all in its
  // buffer. Not thread-safe (one transfer at a time).
  absl::Status Send(const void* data, int64_t bytes);

  // The receiver's buffer (what the last transfer wrote).
  const char* received() const { return buffer_.data(); }

 private:
  TcpCopy(int sender, int receiver, int64_t max_bytes);
  void Receive();

  const int sender_;
  const int receiver_;
  std::vector<char> buffer_;
  std::thread thread_;
};

}  // namespace pw::bench

#endif  // BENCH_TCP_COPY_H_
