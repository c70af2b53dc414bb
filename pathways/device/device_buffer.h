// DeviceBuffer: move-only owner of one allocation from a MemoryPool, returned to it on destruction.
#ifndef PATHWAYS_DEVICE_DEVICE_BUFFER_H_
#define PATHWAYS_DEVICE_DEVICE_BUFFER_H_

#include <cstdint>
#include <string>

namespace pw {

class MemoryPool;

// Owns `size()` bytes at `data()` (64-byte aligned) of a MemoryPool's capacity. The pool must
// outlive every buffer it handed out (a device owns its pool and outlives its buffers, as CUDA
// memory outlives nothing past its context). Not thread-safe itself; moving hands ownership on.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { Reset(); }

  void* data() const { return data_; }
  int64_t size() const { return size_; }
  // The pool this buffer returns to; null for an empty (default or moved-from) buffer.
  MemoryPool* pool() const { return pool_; }
  bool has_value() const { return pool_ != nullptr; }
  // Whether the bytes are the buffer's own (false: an unbacked pool's stand-in memory, whose
  // contents are undefined and shared; writers may skip filling it). False when empty.
  bool host_backed() const;

  // Returns the memory to its pool now; the buffer becomes empty.
  void Reset();

  std::string DebugString() const;

 private:
  friend class MemoryPool;
  DeviceBuffer(MemoryPool* pool, void* data, int64_t size)
      : pool_(pool), data_(data), size_(size) {}

  MemoryPool* pool_ = nullptr;
  void* data_ = nullptr;
  int64_t size_ = 0;
};

}  // namespace pw

#endif  // PATHWAYS_DEVICE_DEVICE_BUFFER_H_
