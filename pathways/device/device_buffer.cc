// DeviceBuffer implementation.
#include "pathways/device/device_buffer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "pathways/device/memory_pool.h"

namespace pw {

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    Reset();
    pool_ = std::exchange(other.pool_, nullptr);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void DeviceBuffer::Reset() {
  if (pool_ == nullptr) return;
  pool_->Release(data_, size_);
  pool_ = nullptr;
  data_ = nullptr;
  size_ = 0;
}

bool DeviceBuffer::host_backed() const { return pool_ != nullptr && pool_->host_backed(); }

std::string DeviceBuffer::DebugString() const {
  if (pool_ == nullptr) return "DeviceBuffer(empty)";
  return absl::StrCat("DeviceBuffer(", size_, " bytes at ",
                      absl::Hex(reinterpret_cast<uintptr_t>(data_)), " in ", pool_->name(), ")");
}

}  // namespace pw
