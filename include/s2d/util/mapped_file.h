// A whole regular file mapped read-only: for formats read in place (safetensors, GGUF).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace s2d {

class MappedFile {
 public:
  MappedFile() = default;
  // InputError naming the file when it cannot be opened or is not a regular file; an empty file
  // maps to size() 0 with data() null.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return static_cast<const uint8_t*>(map_); }
  size_t size() const { return size_; }

 private:
  void* map_ = nullptr;
  size_t size_ = 0;
};

}  // namespace s2d
