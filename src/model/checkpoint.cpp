#include "s2d/model/checkpoint.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <set>

#include "s2d/model/device.h"
#include "s2d/model/safetensors.h"
#include "s2d/model/weight_names.h"
#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "s2d/util/log.h"

namespace fs = std::filesystem;

namespace s2d {

namespace {

at::ScalarType to_aten(StDtype d) {
  switch (d) {
    case StDtype::F32: return at::kFloat;
    case StDtype::F16: return at::kHalf;
    case StDtype::BF16: return at::kBFloat16;
  }
  return at::kFloat;
}

StDtype to_st(at::ScalarType t) {
  if (t == at::kFloat) return StDtype::F32;
  if (t == at::kHalf) return StDtype::F16;
  if (t == at::kBFloat16) return StDtype::BF16;
  throw_runtime("cannot save this dtype to safetensors", {.expected = "fp32|bf16|fp16", .found = c10::toString(t)});
}

}  // namespace

ModelBundle load_model(const std::string& dir, const LoadOptions& opts) {
  if (!fs::is_directory(dir)) throw_input("model directory not found", {.file = dir});
  ModelBundle b;
  b.dir = dir;
  b.config = load_model_config((fs::path(dir) / "config.json").string());
  const c10::Device device = resolve_device(opts.device);
  const c10::ScalarType dtype = resolve_dtype(opts.dtype, device);

  const std::string found = find_tokenizer_file(dir);
  const auto tok_path = found.empty() ? (fs::path(dir) / "tokenizer.model").string() : found;
  if (!found.empty()) {
    b.tokenizer = Tokenizer::load(tok_path);
    if (b.tokenizer->vocab_size() > b.config.vocab_size) {
      throw_input("tokenizer has more pieces than the model's vocabulary",
                  {.file = tok_path,
                   .field = "vocab_size",
                   .expected = "<= " + std::to_string(b.config.vocab_size),
                   .found = std::to_string(b.tokenizer->vocab_size())});
    }
  } else if (opts.require_tokenizer) {
    throw_input("model directory has no tokenizer", {.file = dir,
                                                     .expected = "tokenizer.model or tokenizer.json",
                                                     .found = "nothing",
                                                     .hint = "copy tokenizer.model from the base checkpoint"});
  }

  // Map every stored tensor to its file, then fill the weights by name through the one visitor.
  const auto expected = expected_weight_shapes(b.config);
  std::vector<std::unique_ptr<SafetensorsFile>> files;
  std::map<std::string, std::pair<const StTensorView*, std::string>> stored;  // name -> (view, file)
  for (const auto& path : find_safetensors(dir).files) {
    files.push_back(std::make_unique<SafetensorsFile>(path));
    for (const auto& [name, view] : files.back()->tensors()) {
      if (!stored.emplace(name, std::make_pair(&view, path)).second) {
        throw_input("tensor stored twice", {.file = path, .field = "tensor " + name});
      }
    }
  }
  for (const auto& [name, entry] : stored) {
    if (!expected.count(name) && !is_ignorable_extra_tensor(name) &&
        !(name == "lm_head.weight" && b.config.tie_word_embeddings)) {
      throw_input("unexpected tensor", {.file = entry.second,
                                        .field = "tensor " + name,
                                        .expected = "only tensors of a " + b.config.architecture,
                                        .hint = "check config.json matches these weights"});
    }
  }
  LlamaWeights w;
  for_each_weight(b.config, w, [&](const std::string& name, at::Tensor& t) {
    auto it = stored.find(name);
    if (it == stored.end()) {
      throw_input("missing tensor", {.file = dir, .field = "tensor " + name, .expected = "present", .found = "absent"});
    }
    const StTensorView& v = *it->second.first;
    const auto& want = expected.at(name);
    if (v.shape != want) {
      throw_input("wrong shape", {.file = it->second.second,
                                  .field = "tensor " + name,
                                  .expected = shape_str(want),
                                  .found = shape_str(v.shape)});
    }
    at::Tensor host = at::from_blob(const_cast<uint8_t*>(v.data), v.shape, at::TensorOptions().dtype(to_aten(v.dtype)));
    t = host.to(device, dtype, /*non_blocking=*/false, /*copy=*/true);  // owns its memory; the mmap can go
  });
  b.model = std::make_shared<LlamaModel>(b.config, std::move(w));
  log::debug(c10::str("loaded ", dir, " (", b.config.num_hidden_layers, " layers, ", b.config.num_parameters(),
                      " params) on ", device.str(), " as ", dtype_name(dtype)));
  return b;
}

void write_model_files(const std::string& dir, const LlamaModel& model, const SaveOptions& opts) {
  ModelConfig cfg = model.config();
  LlamaWeights w = model.weights();  // shallow: tensors are shared, not copied
  const at::ScalarType dtype = opts.dtype.value_or(w.embed.scalar_type());
  cfg.dtype = dtype == at::kFloat ? "float32" : dtype == at::kBFloat16 ? "bfloat16" : "float16";

  std::vector<at::Tensor> host;  // keeps the CPU copies alive while writing
  std::vector<StTensorView> out;
  for_each_weight(cfg, w, [&](const std::string& name, at::Tensor& t) {
    at::Tensor h = t.detach().to(at::kCPU, dtype).contiguous();
    host.push_back(h);
    out.push_back({name, to_st(dtype), h.sizes().vec(), static_cast<const uint8_t*>(h.data_ptr()),
                   static_cast<size_t>(h.nbytes())});
  });
  fs::create_directories(dir);
  write_safetensors_sharded(dir, out, opts.max_shard_bytes);
  write_file_atomic(dir + "/config.json", model_config_to_json(cfg).dump(2) + "\n");
  if (!opts.tokenizer_path.empty()) {
    // A sentencepiece model is tokenizer.model; a tokenizer.json travels with the files that
    // complete it (special tokens, chat template, end-of-turn ids), so the copy loads as the original.
    const fs::path src(opts.tokenizer_path);
    if (src.extension() == ".json") {
      write_file_atomic(dir + "/tokenizer.json", read_file(src.string()));
      for (const char* f :
           {"tokenizer_config.json", "chat_template.jinja", "generation_config.json", "special_tokens_map.json"})
        if (fs::exists(src.parent_path() / f) && !fs::exists(fs::path(dir) / f))
          write_file_atomic(dir + "/" + f, read_file((src.parent_path() / f).string()));
    } else {
      write_file_atomic(dir + "/tokenizer.model", read_file(src.string()));
    }
  }
}

void save_model(const std::string& dir, const LlamaModel& model, const SaveOptions& opts) {
  write_dir_atomic(dir, [&](const std::string& tmp) { write_model_files(tmp, model, opts); });
}

}  // namespace s2d
