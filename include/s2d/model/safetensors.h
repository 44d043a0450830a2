// The safetensors format, without torch: parse and validate a file (mmap'd), and write one.
//
//   [u64 little-endian N][N bytes of JSON header][raw tensor bytes]
//   header: {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {...}}
//   offsets are relative to the first byte after the header.
//
// Every defect (truncated file, non-JSON header, header over 100 MB, offsets past the end, an
// unknown dtype, a byte count that does not match the shape) is an InputError naming the file
// and tensor. Nothing here aborts or reads out of bounds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "s2d/util/mapped_file.h"

namespace s2d {

enum class StDtype { F32, F16, BF16 };
size_t st_dtype_size(StDtype d);
const char* st_dtype_name(StDtype d);

// A tensor's bytes: inside a mapped file (valid while the SafetensorsFile lives), or, when
// writing, `nbytes` contiguous little-endian bytes owned by the caller.
struct StTensorView {
  std::string name;
  StDtype dtype;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
};

class SafetensorsFile {
 public:
  static constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;
  explicit SafetensorsFile(const std::string& path);  // mmaps and validates the whole header
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, StTensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::string path_;
  MappedFile map_;
  std::map<std::string, StTensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Writes one file atomically (temp + rename). Tensors are laid out in name order, 8-byte aligned.
void write_safetensors(const std::string& path, const std::vector<StTensorView>& tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// Writes `model.safetensors`, or when the total exceeds `max_shard_bytes`,
// `model-0000i-of-0000n.safetensors` shards plus `model.safetensors.index.json`.
// Returns the file names written (relative to dir).
std::vector<std::string> write_safetensors_sharded(const std::string& dir, const std::vector<StTensorView>& tensors,
                                                   uint64_t max_shard_bytes);

// The weight files of a model directory: the index's shards, or the single model.safetensors.
// Also returns, for sharded models, which shard the index says each tensor lives in.
struct StFileSet {
  std::vector<std::string> files;                       // absolute or dir-relative paths
  std::map<std::string, std::string> index_weight_map;  // tensor -> file, empty when unsharded
};
StFileSet find_safetensors(const std::string& dir);

}  // namespace s2d
