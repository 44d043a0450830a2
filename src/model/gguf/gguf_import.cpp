#include "s2d/model/gguf_import.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>

#include "s2d/model/config.h"
#include "s2d/model/gguf.h"
#include "s2d/model/safetensors.h"
#include "s2d/model/weight_names.h"
#include "s2d/text/gguf_tokenizer.h"
#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "s2d/util/json.h"
#include "s2d/util/memory.h"

namespace s2d {

namespace {

using json = nlohmann::json;

struct Arch {
  const char* hf_class;
  const char* model_type;
  bool permute_qk;  // llama.cpp's converter reorders Llama's Q/K rows for its rotary layout
};
const std::map<std::string, Arch>& architectures() {
  static const std::map<std::string, Arch> m = {{"llama", {"LlamaForCausalLM", "llama", true}},
                                                {"qwen2", {"Qwen2ForCausalLM", "qwen2", false}},
                                                {"qwen3", {"Qwen3ForCausalLM", "qwen3", false}}};
  return m;
}

const json* find_key(const json& md, const std::string& key) {
  auto it = md.find(key);
  return it == md.end() ? nullptr : &*it;
}

int64_t req_uint(const json& md, const std::string& key, const std::string& file) {
  const json* v = find_key(md, key);
  if (!v)
    throw_input("missing GGUF key", {.file = file, .field = key, .expected = "an unsigned integer", .found = "absent"});
  if (!v->is_number_unsigned())
    throw_input("wrong type",
                {.file = file, .field = key, .expected = "an unsigned integer", .found = json_excerpt(*v, 40)});
  return static_cast<int64_t>(std::min<uint64_t>(v->get<uint64_t>(), uint64_t{1} << 40));
}

double opt_float(const json& md, const std::string& key, double dflt, const std::string& file) {
  const json* v = find_key(md, key);
  if (!v) return dflt;
  if (!v->is_number())
    throw_input("wrong type", {.file = file, .field = key, .expected = "a number", .found = json_excerpt(*v, 40)});
  return v->get<double>();
}

// GGUF name -> HF name for one layer's tensor suffix ("attn_q.weight" -> "self_attn.q_proj.weight").
std::string hf_name(const std::string& g) {
  static const std::map<std::string, std::string> top = {{"token_embd.weight", "model.embed_tokens.weight"},
                                                         {"output_norm.weight", "model.norm.weight"},
                                                         {"output.weight", "lm_head.weight"}};
  static const std::map<std::string, std::string> layer = {{"attn_q.weight", "self_attn.q_proj.weight"},
                                                           {"attn_k.weight", "self_attn.k_proj.weight"},
                                                           {"attn_v.weight", "self_attn.v_proj.weight"},
                                                           {"attn_output.weight", "self_attn.o_proj.weight"},
                                                           {"attn_q.bias", "self_attn.q_proj.bias"},
                                                           {"attn_k.bias", "self_attn.k_proj.bias"},
                                                           {"attn_v.bias", "self_attn.v_proj.bias"},
                                                           {"attn_output.bias", "self_attn.o_proj.bias"},
                                                           {"attn_q_norm.weight", "self_attn.q_norm.weight"},
                                                           {"attn_k_norm.weight", "self_attn.k_norm.weight"},
                                                           {"ffn_gate.weight", "mlp.gate_proj.weight"},
                                                           {"ffn_up.weight", "mlp.up_proj.weight"},
                                                           {"ffn_down.weight", "mlp.down_proj.weight"},
                                                           {"attn_norm.weight", "input_layernorm.weight"},
                                                           {"ffn_norm.weight", "post_attention_layernorm.weight"}};
  if (auto it = top.find(g); it != top.end()) return it->second;
  if (g.rfind("blk.", 0) == 0) {
    const size_t dot = g.find('.', 4);
    if (dot != std::string::npos && dot > 4 && g.find_first_not_of("0123456789", 4) == dot) {
      if (auto it = layer.find(g.substr(dot + 1)); it != layer.end())
        return "model.layers." + g.substr(4, dot - 4) + "." + it->second;
    }
  }
  return "";
}

// Undoes llama.cpp's permute of a Q or K weight [heads * D, in] (or its bias): within each head,
// row 2 d + a (GGUF) goes back to row a (D / 2) + d (HF's rotate-half layout), a in {0, 1}.
std::vector<float> unpermute_rows(const std::vector<float>& w, int64_t heads, int64_t rows, int64_t cols) {
  std::vector<float> out(w.size());
  const int64_t half = rows / heads / 2;
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t d = 0; d < half; ++d)
      for (int64_t a = 0; a < 2; ++a) {
        const int64_t from = h * 2 * half + 2 * d + a, to = h * 2 * half + a * half + d;
        std::memcpy(&out[static_cast<size_t>(to * cols)], &w[static_cast<size_t>(from * cols)],
                    static_cast<size_t>(cols) * sizeof(float));
      }
  return out;
}

uint16_t to_bf16(float f) {  // round to nearest even, as torch's .to(bfloat16); NaN stays NaN
  uint32_t b;
  std::memcpy(&b, &f, 4);
  if (std::isnan(f)) return static_cast<uint16_t>((b >> 16) | 0x40);
  b += 0x7FFF + ((b >> 16) & 1);
  return static_cast<uint16_t>(b >> 16);
}

json config_from_gguf(const GgufFile& g, const Arch& arch, const std::string& a, bool tied, int64_t vocab) {
  const json& md = g.metadata();
  const std::string& f = g.path();
  json c = {{"architectures", {arch.hf_class}}, {"model_type", arch.model_type}, {"vocab_size", vocab}};
  c["hidden_size"] = req_uint(md, a + ".embedding_length", f);
  c["intermediate_size"] = req_uint(md, a + ".feed_forward_length", f);
  c["num_hidden_layers"] = req_uint(md, a + ".block_count", f);
  c["num_attention_heads"] = req_uint(md, a + ".attention.head_count", f);
  c["num_key_value_heads"] = find_key(md, a + ".attention.head_count_kv")
                                 ? req_uint(md, a + ".attention.head_count_kv", f)
                                 : c["num_attention_heads"].get<int64_t>();
  if (find_key(md, a + ".attention.key_length"))
    c["head_dim"] = req_uint(md, a + ".attention.key_length", f);
  else if (find_key(md, a + ".rope.dimension_count"))
    c["head_dim"] = req_uint(md, a + ".rope.dimension_count", f);
  c["max_position_embeddings"] = find_key(md, a + ".context_length") ? req_uint(md, a + ".context_length", f) : 2048;
  c["rms_norm_eps"] = opt_float(md, a + ".attention.layer_norm_rms_epsilon", 1e-6, f);
  c["rope_theta"] = opt_float(md, a + ".rope.freq_base", 10000.0, f);
  if (const json* s = find_key(md, a + ".rope.scaling.type"); s && s->is_string() && s->get<std::string>() != "none") {
    if (s->get<std::string>() != "linear")
      throw_input(
          "unsupported RoPE scaling",
          {.file = f, .field = a + ".rope.scaling.type", .expected = "none or linear", .found = s->get<std::string>()});
    c["rope_scaling"] = {{"rope_type", "linear"}, {"factor", opt_float(md, a + ".rope.scaling.factor", 1.0, f)}};
  }
  c["tie_word_embeddings"] = tied;
  c["hidden_act"] = "silu";
  if (arch.model_type == std::string("qwen3")) c["attention_bias"] = g.find("blk.0.attn_q.bias") != nullptr;
  for (const char* k : {"bos", "eos", "padding"}) {
    if (const json* v = find_key(md, std::string("tokenizer.ggml.") + k + "_token_id"); v && v->is_number_unsigned())
      c[std::string(k == std::string("padding") ? "pad" : k) + "_token_id"] = *v;
  }
  return c;
}

}  // namespace

GgufImportSummary import_gguf(const GgufImportOptions& o) {
  if (o.dtype != "fp32" && o.dtype != "bf16")
    throw_input("unsupported dtype", {.field = "--dtype", .expected = "fp32 or bf16", .found = o.dtype});
  if (std::filesystem::exists(o.out_dir) && !o.overwrite)
    throw_input("output directory already exists", {.file = o.out_dir, .hint = "pass --overwrite to replace it"});
  check_output_dir(o.out_dir, {o.gguf_path});
  GgufFile g(o.gguf_path);
  const json& md = g.metadata();
  const json* a = find_key(md, "general.architecture");
  if (!a || !a->is_string())
    throw_input("missing GGUF key", {.file = g.path(), .field = "general.architecture", .expected = "a string"});
  auto it = architectures().find(a->get<std::string>());
  if (it == architectures().end()) {
    throw_input("unsupported architecture", {.file = g.path(),
                                             .field = "general.architecture",
                                             .expected = "llama, qwen2 or qwen3",
                                             .found = printable_excerpt(a->get<std::string>(), 40)});
  }
  const Arch& arch = it->second;
  const GgufTensor* embed = g.find("token_embd.weight");
  if (!embed || embed->ne.size() != 2)
    throw_input("missing tensor", {.file = g.path(), .field = "tensor token_embd.weight", .expected = "a 2-D tensor"});
  const bool tied = g.find("output.weight") == nullptr;
  const json config_json = config_from_gguf(g, arch, a->get<std::string>(), tied, embed->ne[1]);
  const ModelConfig cfg = parse_model_config(config_json, g.path() + " (as config.json)");
  HfTokenizerFiles tok = hf_tokenizer_from_gguf(md, g.path());

  // Every tensor must be one the config expects, with its shape.
  const auto expected = expected_weight_shapes(cfg);
  std::map<std::string, const GgufTensor*> by_hf;
  std::map<std::string, int64_t> type_counts;
  for (const auto& t : g.tensors()) {
    const std::string name = hf_name(t.name);
    if (name.empty() || !expected.count(name)) {
      throw_input("unsupported tensor", {.file = g.path(),
                                         .field = "tensor " + t.name,
                                         .expected = "only tensors of a " + std::string(arch.hf_class),
                                         .hint = "s2d cannot import this model"});
    }
    if (t.torch_shape() != expected.at(name)) {
      throw_input("wrong shape", {.file = g.path(),
                                  .field = "tensor " + t.name,
                                  .expected = shape_str(expected.at(name)),
                                  .found = shape_str(t.torch_shape())});
    }
    by_hf[name] = &t;
    ++type_counts[ggml_type_name(t.type)];
  }
  for (const auto& [name, shape] : expected)
    if (!by_hf.count(name))
      throw_input("missing tensor",
                  {.file = g.path(), .field = "tensor " + name, .expected = "present", .found = "absent"});

  // Everything dequantised is held until written: refuse, before allocating, what cannot fit.
  const bool bf16 = o.dtype == "bf16";
  long double want = 0;
  for (const auto& [name, t] : by_hf) want += static_cast<long double>(t->numel()) * (bf16 ? 2 : 4);
  if (want > static_cast<long double>(available_host_memory())) {
    throw_input("the dequantised model does not fit in memory",
                {.file = g.path(),
                 .expected = "at most " + std::to_string(available_host_memory() >> 20) + " MiB (available now)",
                 .found = std::to_string(static_cast<uint64_t>(want) >> 20) + " MiB as " + o.dtype,
                 .hint = o.dtype == "fp32" ? "try --dtype bf16" : ""});
  }
  GgufImportSummary s;
  s.architecture = arch.hf_class;
  for (const auto& [type, n] : type_counts) s.types += (s.types.empty() ? "" : ", ") + type + " x" + std::to_string(n);
  std::vector<std::vector<float>> f32;
  std::vector<std::vector<uint16_t>> b16;
  std::vector<StTensorView> views;
  for (const auto& [name, t] : by_hf) {
    std::vector<float> v = dequantize(*t, g.path());
    const bool is_q = name.find(".q_proj.") != std::string::npos, is_k = name.find(".k_proj.") != std::string::npos;
    if (arch.permute_qk && (is_q || is_k)) {
      const int64_t heads = is_q ? cfg.num_attention_heads : cfg.num_key_value_heads;
      const auto shape = t->torch_shape();
      v = unpermute_rows(v, heads, shape[0], shape.size() > 1 ? shape[1] : 1);
    }
    s.parameters += t->numel();
    ++s.tensors;
    StTensorView view{name, bf16 ? StDtype::BF16 : StDtype::F32, t->torch_shape(), nullptr, 0};
    if (bf16) {
      std::vector<uint16_t> h(v.size());
      for (size_t i = 0; i < v.size(); ++i) h[i] = to_bf16(v[i]);
      b16.push_back(std::move(h));
      view.data = reinterpret_cast<const uint8_t*>(b16.back().data());
      view.nbytes = b16.back().size() * 2;
    } else {
      f32.push_back(std::move(v));
      view.data = reinterpret_cast<const uint8_t*>(f32.back().data());
      view.nbytes = f32.back().size() * 4;
    }
    views.push_back(std::move(view));
  }
  json config_out = model_config_to_json(cfg);
  config_out["torch_dtype"] = bf16 ? "bfloat16" : "float32";
  write_dir_atomic(o.out_dir, [&](const std::string& dir) {
    write_safetensors_sharded(dir, views, uint64_t{5} << 30);
    write_file_atomic(dir + "/config.json", config_out.dump(2) + "\n");
    write_file_atomic(dir + "/tokenizer.json",
                      tok.tokenizer.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
    write_file_atomic(dir + "/tokenizer_config.json",
                      tok.tokenizer_config.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
    write_file_atomic(dir + "/generation_config.json", tok.generation_config.dump(2) + "\n");
    if (!tok.chat_template.empty()) write_file_atomic(dir + "/chat_template.jinja", tok.chat_template);
  });
  return s;
}

}  // namespace s2d
