#include "s2d/model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "s2d/util/json.h"

namespace fs = std::filesystem;

namespace s2d {

size_t st_dtype_size(StDtype d) { return d == StDtype::F32 ? 4 : 2; }
const char* st_dtype_name(StDtype d) {
  switch (d) {
    case StDtype::F32: return "F32";
    case StDtype::F16: return "F16";
    case StDtype::BF16: return "BF16";
  }
  return "?";
}

namespace {

StTensorView parse_entry(const std::string& path, const std::string& name, const nlohmann::json& e, uint64_t data_size,
                         const uint8_t* data_base) {
  auto bad = [&](const std::string& what, const std::string& expected, const std::string& found) {
    throw_input(what, {.file = path, .field = "tensor " + name, .expected = expected, .found = found});
  };
  if (!e.is_object()) bad("bad header entry", "an object", printable_excerpt(e.dump()));
  StTensorView v;
  v.name = name;
  const auto dt = e.find("dtype");
  if (dt == e.end() || !dt->is_string()) bad("missing dtype", "dtype string", printable_excerpt(e.dump()));
  const std::string d = dt->get<std::string>();
  if (d == "F32")
    v.dtype = StDtype::F32;
  else if (d == "F16")
    v.dtype = StDtype::F16;
  else if (d == "BF16")
    v.dtype = StDtype::BF16;
  else
    bad("unsupported dtype", "BF16, F16 or F32", printable_excerpt(d));

  const auto sh = e.find("shape");
  if (sh == e.end() || !sh->is_array()) bad("missing shape", "an array of sizes", printable_excerpt(e.dump()));
  uint64_t numel = 1;
  for (const auto& s : *sh) {
    if (!s.is_number_unsigned()) bad("bad shape", "non-negative integers", printable_excerpt(sh->dump()));
    const uint64_t dim = s.get<uint64_t>();
    if (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / dim)
      bad("shape overflows", "a sane shape", printable_excerpt(sh->dump()));
    numel *= dim;
    v.shape.push_back(static_cast<int64_t>(dim));
  }
  const auto off = e.find("data_offsets");
  if (off == e.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned()) {
    bad("bad data_offsets", "[begin, end]", off == e.end() ? "nothing" : printable_excerpt(off->dump()));
  }
  const uint64_t begin = (*off)[0].get<uint64_t>(), end = (*off)[1].get<uint64_t>();
  if (begin > end || end > data_size) {
    bad("data offsets past the end of the file (truncated?)",
        "[begin, end] within " + std::to_string(data_size) + " data bytes", off->dump());
  }
  const uint64_t want = numel * st_dtype_size(v.dtype);
  if (end - begin != want) {
    bad("byte count does not match shape and dtype", std::to_string(want) + " bytes",
        std::to_string(end - begin) + " bytes");
  }
  v.data = data_base + begin;
  v.nbytes = static_cast<size_t>(want);
  return v;
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path), map_(path) {
  const size_t size = map_.size();
  if (size < 8) {
    throw_input("truncated safetensors file",
                {.file = path, .expected = ">= 8 bytes", .found = std::to_string(size) + " bytes"});
  }
  const uint8_t* bytes = map_.data();
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];  // little-endian u64
  if (n > kMaxHeaderBytes) {
    throw_input("safetensors header too large",
                {.file = path, .expected = "<= 100 MB", .found = std::to_string(n) + " bytes"});
  }
  if (n > size - 8) {
    throw_input("truncated safetensors file: header runs past the end",
                {.file = path,
                 .expected = std::to_string(n) + " header bytes",
                 .found = std::to_string(size - 8) + " bytes after the length"});
  }
  const nlohmann::json header =
      parse_json({reinterpret_cast<const char*>(bytes) + 8, static_cast<size_t>(n)}, {.file = path, .field = "header"});
  if (!header.is_object()) {
    throw_input("safetensors header is not a JSON object", {.file = path, .found = std::string(header.type_name())});
  }
  const uint64_t data_size = size - 8 - n;
  const uint8_t* data_base = bytes + 8 + n;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (it->is_object())
        for (auto m = it->begin(); m != it->end(); ++m)
          if (m->is_string()) metadata_[m.key()] = m->get<std::string>();
      continue;
    }
    tensors_.emplace(it.key(), parse_entry(path, it.key(), *it, data_size, data_base));
  }
}

SafetensorsFile::~SafetensorsFile() = default;

void write_safetensors(const std::string& path, const std::vector<StTensorView>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::map<std::string, const StTensorView*> sorted;
  for (const auto& t : tensors) {
    if (!sorted.emplace(t.name, &t).second) throw_runtime("duplicate tensor name", {.file = path, .field = t.name});
  }
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : sorted) {
    header[name] = {
        {"dtype", st_dtype_name(t->dtype)}, {"shape", t->shape}, {"data_offsets", {offset, offset + t->nbytes}}};
    offset += t->nbytes;
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // pad so tensor data starts 8-byte aligned
  std::string out;
  out.reserve(8 + h.size() + offset);
  const uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += h;
  for (const auto& [name, t] : sorted) out.append(reinterpret_cast<const char*>(t->data), t->nbytes);
  write_file_atomic(path, out);
}

std::vector<std::string> write_safetensors_sharded(const std::string& dir, const std::vector<StTensorView>& tensors,
                                                   uint64_t max_shard_bytes) {
  uint64_t total = 0;
  for (const auto& t : tensors) total += t.nbytes;
  if (total <= max_shard_bytes) {
    write_safetensors(dir + "/model.safetensors", tensors);
    return {"model.safetensors"};
  }
  // Greedy packing in name order, as HF does: a new shard starts when the next tensor would overflow.
  std::map<std::string, const StTensorView*> sorted;
  for (const auto& t : tensors) sorted.emplace(t.name, &t);
  std::vector<std::vector<StTensorView>> shards(1);
  uint64_t cur = 0;
  for (const auto& [name, t] : sorted) {
    if (cur > 0 && cur + t->nbytes > max_shard_bytes) {
      shards.emplace_back();
      cur = 0;
    }
    shards.back().push_back(*t);
    cur += t->nbytes;
  }
  std::vector<std::string> names;
  nlohmann::json weight_map = nlohmann::json::object();
  char buf[64];
  for (size_t i = 0; i < shards.size(); ++i) {
    std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    write_safetensors(dir + "/" + buf, shards[i]);
    for (const auto& t : shards[i]) weight_map[t.name] = buf;
    names.emplace_back(buf);
  }
  nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  write_file_atomic(dir + "/model.safetensors.index.json", index.dump(2) + "\n");
  names.emplace_back("model.safetensors.index.json");
  return names;
}

StFileSet find_safetensors(const std::string& dir) {
  StFileSet set;
  const fs::path d(dir);
  const fs::path index = d / "model.safetensors.index.json";
  if (fs::exists(index)) {
    const nlohmann::json j = read_json_file(index.string());
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
      throw_input("bad safetensors index", {.file = index.string(), .expected = "{\"weight_map\": {...}}"});
    }
    std::set<std::string> files;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it->is_string()) throw_input("bad weight_map entry", {.file = index.string(), .field = it.key()});
      // A shard is a file name inside the model directory: never an absolute path, "..", or a
      // folder, so an index cannot make s2d open files elsewhere.
      const std::string& shard = it->get_ref<const std::string&>();
      const fs::path sp(shard);
      if (shard.empty() || sp.is_absolute() || sp.has_parent_path() || shard == "." || shard == ".." ||
          shard.find('\0') != std::string::npos) {
        throw_input("shard path leaves the model directory",
                    {.file = index.string(),
                     .field = "weight_map." + printable_excerpt(it.key()),
                     .expected = "a file name such as model-00001-of-00002.safetensors",
                     .found = printable_excerpt(shard)});
      }
      set.index_weight_map[it.key()] = it->get<std::string>();
      files.insert(it->get<std::string>());
    }
    for (const auto& f : files) set.files.push_back((d / f).string());
    return set;
  }
  if (fs::exists(d / "model.safetensors")) {
    set.files.push_back((d / "model.safetensors").string());
    return set;
  }
  throw_input("no weights found", {.file = dir,
                                   .expected = "model.safetensors or model.safetensors.index.json",
                                   .found = "neither",
                                   .hint = "s2d reads Hugging Face safetensors checkpoints"});
}

}  // namespace s2d
