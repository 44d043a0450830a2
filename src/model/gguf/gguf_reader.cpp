#include <cstring>
#include <limits>

#include "s2d/model/gguf.h"
#include "s2d/util/error.h"
#include "s2d/util/json.h"

namespace s2d {

namespace {

// Bounds for counts read from the file, far beyond any real model, so that a hostile header
// cannot make the reader allocate without limit (each entry also needs bytes in the file).
constexpr uint64_t kMaxTensors = 1u << 20, kMaxKeys = 1u << 20, kMaxDims = 4;

enum ValueType : uint32_t { U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 };

// A cursor over the mapped header; every read checks the bytes are there.
class Cursor {
 public:
  Cursor(const uint8_t* p, size_t n, const std::string& file) : p_(p), n_(n), file_(file) {}
  size_t pos() const { return at_; }
  size_t left() const { return n_ - at_; }

  template <typename T>
  T read(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, p_ + at_, sizeof(T));  // GGUF is little-endian, as every host s2d builds for
    at_ += sizeof(T);
    return v;
  }
  std::string string(const std::string& what) {
    const uint64_t len = read<uint64_t>(what);
    need(len, what);
    std::string s(reinterpret_cast<const char*>(p_ + at_), static_cast<size_t>(len));
    at_ += static_cast<size_t>(len);
    return s;
  }
  void need(uint64_t bytes, const std::string& what) const {
    if (bytes > left()) {
      throw_input("truncated GGUF file", {.file = file_,
                                          .field = what,
                                          .expected = std::to_string(bytes) + " more bytes",
                                          .found = std::to_string(left())});
    }
  }

 private:
  const uint8_t* p_;
  size_t n_, at_ = 0;
  const std::string& file_;
};

nlohmann::json read_scalar(Cursor& c, uint32_t type, const std::string& key, const std::string& file) {
  switch (type) {
    case U8: return c.read<uint8_t>(key);
    case I8: return c.read<int8_t>(key);
    case U16: return c.read<uint16_t>(key);
    case I16: return c.read<int16_t>(key);
    case U32: return c.read<uint32_t>(key);
    case I32: return c.read<int32_t>(key);
    case F32: return c.read<float>(key);
    case BOOL: return c.read<uint8_t>(key) != 0;
    case STRING: return c.string(key);
    case U64: return c.read<uint64_t>(key);
    case I64: return c.read<int64_t>(key);
    case F64: return c.read<double>(key);
    default:
      throw_input("unknown GGUF value type",
                  {.file = file, .field = key, .expected = "0..12", .found = std::to_string(type)});
  }
}

nlohmann::json read_value(Cursor& c, uint32_t type, const std::string& key, const std::string& file) {
  if (type != ARRAY) return read_scalar(c, type, key, file);
  const uint32_t elem = c.read<uint32_t>(key);
  const uint64_t n = c.read<uint64_t>(key);
  if (elem == ARRAY) throw_input("nested GGUF arrays are not supported", {.file = file, .field = key});
  if (n > c.left()) {  // every element takes at least one byte
    throw_input("GGUF array longer than the file",
                {.file = file, .field = key, .expected = "<= " + std::to_string(c.left()), .found = std::to_string(n)});
  }
  nlohmann::json a = nlohmann::json::array();
  for (uint64_t i = 0; i < n; ++i) a.push_back(read_scalar(c, elem, key, file));
  return a;
}

}  // namespace

std::string ggml_type_name(uint32_t type) {
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::F32: return "F32";
    case GgmlType::F16: return "F16";
    case GgmlType::Q4_0: return "Q4_0";
    case GgmlType::Q4_1: return "Q4_1";
    case GgmlType::Q5_0: return "Q5_0";
    case GgmlType::Q5_1: return "Q5_1";
    case GgmlType::Q8_0: return "Q8_0";
    case GgmlType::Q8_1: return "Q8_1";
    case GgmlType::Q2_K: return "Q2_K";
    case GgmlType::Q3_K: return "Q3_K";
    case GgmlType::Q4_K: return "Q4_K";
    case GgmlType::Q5_K: return "Q5_K";
    case GgmlType::Q6_K: return "Q6_K";
    case GgmlType::Q8_K: return "Q8_K";
    case GgmlType::BF16: return "BF16";
  }
  return "type " + std::to_string(type);
}

bool ggml_block_layout(uint32_t type, int64_t& values, int64_t& bytes) {
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::F32: values = 1, bytes = 4; return true;
    case GgmlType::F16: values = 1, bytes = 2; return true;
    case GgmlType::BF16: values = 1, bytes = 2; return true;
    case GgmlType::Q4_0: values = 32, bytes = 2 + 16; return true;
    case GgmlType::Q4_1: values = 32, bytes = 2 + 2 + 16; return true;
    case GgmlType::Q5_0: values = 32, bytes = 2 + 4 + 16; return true;
    case GgmlType::Q5_1: values = 32, bytes = 2 + 2 + 4 + 16; return true;
    case GgmlType::Q8_0: values = 32, bytes = 2 + 32; return true;
    case GgmlType::Q4_K: values = 256, bytes = 2 + 2 + 12 + 128; return true;
    case GgmlType::Q5_K: values = 256, bytes = 2 + 2 + 12 + 32 + 128; return true;
    case GgmlType::Q6_K: values = 256, bytes = 128 + 64 + 16 + 2; return true;
    default: return false;
  }
}

int64_t GgufTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

std::vector<int64_t> GgufTensor::torch_shape() const { return {ne.rbegin(), ne.rend()}; }

GgufFile::GgufFile(const std::string& path) : path_(path), map_(path) {
  Cursor c(map_.data(), map_.size(), path_);
  c.need(4, "magic");
  if (std::memcmp(map_.data(), "GGUF", 4) != 0) {
    throw_input("not a GGUF file",
                {.file = path_,
                 .field = "magic",
                 .expected = "\"GGUF\"",
                 .found = printable_excerpt(std::string(reinterpret_cast<const char*>(map_.data()), 4), 8)});
  }
  c.read<uint32_t>("magic");
  version_ = c.read<uint32_t>("version");
  if (version_ != 2 && version_ != 3)
    throw_input("unsupported GGUF version",
                {.file = path_, .field = "version", .expected = "2 or 3", .found = std::to_string(version_)});
  const uint64_t n_tensors = c.read<uint64_t>("tensor_count"), n_kv = c.read<uint64_t>("kv_count");
  if (n_tensors > kMaxTensors)
    throw_input("too many tensors", {.file = path_,
                                     .field = "tensor_count",
                                     .expected = "<= " + std::to_string(kMaxTensors),
                                     .found = std::to_string(n_tensors)});
  if (n_kv > kMaxKeys)
    throw_input("too many metadata keys", {.file = path_,
                                           .field = "kv_count",
                                           .expected = "<= " + std::to_string(kMaxKeys),
                                           .found = std::to_string(n_kv)});

  for (uint64_t i = 0; i < n_kv; ++i) {
    const std::string key = c.string("metadata key " + std::to_string(i));
    const uint32_t type = c.read<uint32_t>(key);
    metadata_[key] = read_value(c, type, key, path_);
  }
  uint64_t alignment = 32;
  if (auto it = metadata_.find("general.alignment"); it != metadata_.end()) {
    if (!it->is_number_unsigned() || it->get<uint64_t>() == 0 || it->get<uint64_t>() > 65536 ||
        (it->get<uint64_t>() & (it->get<uint64_t>() - 1)) != 0)
      throw_input("bad alignment", {.file = path_,
                                    .field = "general.alignment",
                                    .expected = "a power of two <= 65536",
                                    .found = json_excerpt(*it, 40)});
    alignment = it->get<uint64_t>();
  }

  struct Pending {
    uint64_t offset;
  };
  std::vector<Pending> offsets;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensor t;
    t.name = c.string("tensor " + std::to_string(i) + " name");
    const uint32_t n_dims = c.read<uint32_t>(t.name);
    if (n_dims == 0 || n_dims > kMaxDims)
      throw_input("bad tensor rank", {.file = path_,
                                      .field = "tensor " + t.name,
                                      .expected = "1.." + std::to_string(kMaxDims),
                                      .found = std::to_string(n_dims)});
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t ne = c.read<uint64_t>(t.name);
      if (ne == 0 || ne > (uint64_t{1} << 40))
        throw_input("bad tensor dimension",
                    {.file = path_, .field = "tensor " + t.name, .expected = "1..2^40", .found = std::to_string(ne)});
      t.ne.push_back(static_cast<int64_t>(ne));
    }
    t.type = c.read<uint32_t>(t.name);
    offsets.push_back({c.read<uint64_t>(t.name)});
    tensors_.push_back(std::move(t));
  }
  const uint64_t data_start = (c.pos() + alignment - 1) / alignment * alignment;
  const uint64_t data_size = map_.size() >= data_start ? map_.size() - data_start : 0;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    GgufTensor& t = tensors_[i];
    int64_t values = 0, bytes = 0;
    if (!ggml_block_layout(t.type, values, bytes)) {
      throw_input("unsupported tensor type",
                  {.file = path_,
                   .field = "tensor " + t.name,
                   .expected = "F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K or Q6_K",
                   .found = ggml_type_name(t.type)});
    }
    long double n = 1;
    for (int64_t d : t.ne) n *= static_cast<long double>(d);
    if (n > static_cast<long double>(int64_t{1} << 40))
      throw_input("tensor too large", {.file = path_, .field = "tensor " + t.name, .expected = "<= 2^40 values"});
    if (t.ne[0] % values != 0) {
      throw_input("row length is not a whole number of blocks", {.file = path_,
                                                                 .field = "tensor " + t.name,
                                                                 .expected = "a multiple of " + std::to_string(values),
                                                                 .found = std::to_string(t.ne[0])});
    }
    t.nbytes = static_cast<uint64_t>(t.numel() / values * bytes);
    const uint64_t off = offsets[i].offset;
    if (off > data_size || t.nbytes > data_size - off) {
      throw_input("tensor data past the end of the file",
                  {.file = path_,
                   .field = "tensor " + t.name,
                   .expected = "offset + " + std::to_string(t.nbytes) + " bytes <= " + std::to_string(data_size),
                   .found = "offset " + std::to_string(off)});
    }
    t.data = map_.data() + data_start + off;
  }
}

const GgufTensor* GgufFile::find(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace s2d
