// GGUF (llama.cpp's single-file format), without torch: read the header, the metadata and the
// tensor table of a file (mmap'd), and dequantise its tensors to fp32.
//
//   "GGUF" u32 version(2|3) u64 n_tensors u64 n_kv
//   n_kv x   (string key, u32 type, value)        strings: u64 length + bytes; arrays: u32 type, u64 n, values
//   n_tensors x (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset)
//   padding to general.alignment (32), then the tensor data; offsets are relative to it.
// ne[0] is the fastest-moving dimension: a PyTorch weight [out, in] is stored as ne = {in, out}.
//
// Every defect (bad magic or version, a truncated header, counts or lengths past the file, an
// unknown value or tensor type, data past the end, a size that overflows) is an InputError naming
// the file and the key or tensor. Nothing here aborts or reads out of bounds.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "s2d/util/mapped_file.h"

namespace s2d {

// ggml's tensor types (the values stored in the file).
enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  BF16 = 30,
};
// "Q4_K", or "type 17" for one s2d does not know.
std::string ggml_type_name(uint32_t type);
// Values per block and bytes per block; false for a type s2d cannot dequantise.
bool ggml_block_layout(uint32_t type, int64_t& block_values, int64_t& block_bytes);

struct GgufTensor {
  std::string name;
  std::vector<int64_t> ne;  // ne[0] fastest
  uint32_t type = 0;
  const uint8_t* data = nullptr;  // inside the mapping
  uint64_t nbytes = 0;
  int64_t numel() const;
  std::vector<int64_t> torch_shape() const;  // ne reversed: [out, in] for a weight
};

class GgufFile {
 public:
  explicit GgufFile(const std::string& path);
  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  // Metadata keys -> values (numbers, bools, strings, arrays of them).
  const nlohmann::json& metadata() const { return metadata_; }
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* find(const std::string& name) const;

 private:
  std::string path_;
  MappedFile map_;
  uint32_t version_ = 0;
  nlohmann::json metadata_ = nlohmann::json::object();
  std::vector<GgufTensor> tensors_;
};

// The tensor's values in fp32, as the gguf package's dequantize computes them (bit for bit).
// InputError naming the tensor for a type s2d does not dequantise.
std::vector<float> dequantize(const GgufTensor& t, const std::string& file);

}  // namespace s2d
