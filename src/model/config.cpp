#include "s2d/model/config.h"

#include <algorithm>
#include <type_traits>

#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "s2d/util/json.h"

namespace s2d {

namespace {

// Each size is at most 2^20 (widths, layers, heads) or 2^24 (vocab), far beyond any released
// model, so that products such as num_parameters() and cache sizes cannot overflow int64.
int64_t req_int(const nlohmann::json& j, const char* key, const std::string& file, int64_t max = int64_t{1} << 20) {
  auto it = j.find(key);
  if (it == j.end())
    throw_input("missing key", {.file = file, .field = key, .expected = "an integer", .found = "nothing"});
  if (!it->is_number_integer()) {
    throw_input("wrong type",
                {.file = file, .field = key, .expected = "an integer", .found = printable_excerpt(it->dump(), 40)});
  }
  const int64_t v = it->get<int64_t>();
  if (v <= 0)
    throw_input("must be positive",
                {.file = file, .field = key, .expected = "> 0", .found = printable_excerpt(it->dump(), 40)});
  if (v > max)
    throw_input("too large", {.file = file,
                              .field = key,
                              .expected = "at most " + std::to_string(max),
                              .found = printable_excerpt(it->dump(), 40)});
  return v;
}

// An optional number, string or bool (null or missing: `dflt`); InputError naming the key for
// another type.
template <class T>
T opt_value(const nlohmann::json& j, const char* key, const T& dflt, const std::string& file) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return dflt;
  const bool ok = std::is_same_v<T, double> ? it->is_number()
                  : std::is_same_v<T, bool> ? it->is_boolean()
                                            : it->is_string();
  const char* expected = std::is_same_v<T, double> ? "a number"
                         : std::is_same_v<T, bool> ? "true or false"
                                                   : "a string";
  if (!ok)
    throw_input("wrong type",
                {.file = file, .field = key, .expected = expected, .found = printable_excerpt(it->dump(), 40)});
  return it->get<T>();
}
double opt_num(const nlohmann::json& j, const char* key, double dflt, const std::string& file) {
  return opt_value<double>(j, key, dflt, file);
}
std::string opt_string(const nlohmann::json& j, const char* key, const std::string& dflt, const std::string& file) {
  return opt_value<std::string>(j, key, dflt, file);
}
bool opt_bool(const nlohmann::json& j, const char* key, bool dflt, const std::string& file) {
  return opt_value<bool>(j, key, dflt, file);
}

std::optional<int64_t> opt_token(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_array() && !it->empty() && (*it)[0].is_number_integer()) return (*it)[0].get<int64_t>();  // eos lists
  return std::nullopt;
}

void refuse_true(const nlohmann::json& j, const char* key, const std::string& file) {
  auto it = j.find(key);
  if (it != j.end() && it->is_boolean() && it->get<bool>()) {
    throw_input("unsupported setting", {.file = file, .field = key, .expected = "false", .found = "true"});
  }
}

RopeScaling parse_rope(const nlohmann::json& rs, const std::string& file, const char* key) {
  RopeScaling r;
  if (rs.is_null()) return r;
  if (!rs.is_object())
    throw_input(
        "wrong type",
        {.file = file, .field = key, .expected = "an object or null", .found = printable_excerpt(rs.dump(), 40)});
  std::string type = opt_string(rs, "rope_type", opt_string(rs, "type", "default", file), file);
  const std::string field = std::string(key) + ".rope_type";
  if (type == "default") return r;
  if (type != "linear" && type != "llama3") {
    throw_input("unsupported RoPE scaling",
                {.file = file, .field = field, .expected = "default|linear|llama3", .found = type});
  }
  r.type = type;
  r.factor = opt_num(rs, "factor", 1.0, file);
  if (type == "llama3") {
    r.low_freq_factor = opt_num(rs, "low_freq_factor", 1.0, file);
    r.high_freq_factor = opt_num(rs, "high_freq_factor", 4.0, file);
    r.original_max_position_embeddings =
        static_cast<int64_t>(opt_num(rs, "original_max_position_embeddings", 8192, file));
  }
  return r;
}

}  // namespace

std::string architecture_for_model_type(const std::string& model_type) {
  if (model_type == "mistral") return "MistralForCausalLM";
  if (model_type == "qwen2") return "Qwen2ForCausalLM";
  if (model_type == "qwen3") return "Qwen3ForCausalLM";
  return "LlamaForCausalLM";
}

int64_t ModelConfig::max_context() const {
  return sliding_window ? std::min(max_position_embeddings, *sliding_window) : max_position_embeddings;
}

int64_t ModelConfig::num_parameters() const {
  const int64_t q = num_attention_heads * head_dim, kv = num_key_value_heads * head_dim;
  const int64_t per_layer = hidden_size * (q + 2 * kv) + q * hidden_size + 3 * hidden_size * intermediate_size +
                            2 * hidden_size + (qkv_bias ? q + 2 * kv : 0) + (o_bias ? hidden_size : 0) +
                            (qk_norm ? 2 * head_dim : 0);
  return vocab_size * hidden_size * (tie_word_embeddings ? 1 : 2) + num_hidden_layers * per_layer + hidden_size;
}

ModelConfig parse_model_config(const nlohmann::json& j, const std::string& file) {
  if (!j.is_object())
    throw_input("config must be a JSON object", {.file = file, .found = printable_excerpt(j.dump(), 40)});
  ModelConfig c;
  c.raw = j;
  c.model_type = opt_string(j, "model_type", "llama", file);
  if (auto it = j.find("architectures"); it != j.end() && it->is_array() && !it->empty()) {
    if (!(*it)[0].is_string())
      throw_input("wrong type", {.file = file,
                                 .field = "architectures[0]",
                                 .expected = "a string",
                                 .found = printable_excerpt((*it)[0].dump(), 40)});
    c.architecture = (*it)[0].get<std::string>();
  } else {
    c.architecture = architecture_for_model_type(c.model_type);
  }
  const bool qwen2 = c.architecture == "Qwen2ForCausalLM", qwen3 = c.architecture == "Qwen3ForCausalLM";
  if (c.architecture != "LlamaForCausalLM" && c.architecture != "MistralForCausalLM" && !qwen2 && !qwen3) {
    throw_input("unsupported architecture",
                {.file = file,
                 .field = "architectures",
                 .expected = "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM or Qwen3ForCausalLM",
                 .found = c.architecture});
  }
  c.vocab_size = req_int(j, "vocab_size", file, int64_t{1} << 24);
  c.hidden_size = req_int(j, "hidden_size", file);
  c.intermediate_size = req_int(j, "intermediate_size", file);
  c.num_hidden_layers = req_int(j, "num_hidden_layers", file);
  c.num_attention_heads = req_int(j, "num_attention_heads", file);
  c.num_key_value_heads = j.contains("num_key_value_heads") && !j["num_key_value_heads"].is_null()
                              ? req_int(j, "num_key_value_heads", file)
                              : c.num_attention_heads;
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    throw_input("heads must be a multiple of key-value heads",
                {.file = file,
                 .field = "num_key_value_heads",
                 .expected = "a divisor of num_attention_heads=" + std::to_string(c.num_attention_heads),
                 .found = std::to_string(c.num_key_value_heads)});
  }
  if (j.contains("head_dim") && !j["head_dim"].is_null()) {
    c.head_dim = req_int(j, "head_dim", file);
  } else if (qwen3) {
    c.head_dim = 128;  // Qwen3Config's default, not hidden_size / heads
  } else {
    if (c.hidden_size % c.num_attention_heads != 0) {
      throw_input("hidden_size is not a multiple of num_attention_heads", {.file = file, .field = "hidden_size"});
    }
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  if (c.head_dim % 2 != 0)
    throw_input("RoPE needs an even head_dim",
                {.file = file, .field = "head_dim", .found = std::to_string(c.head_dim)});
  if (j.contains("max_position_embeddings"))
    c.max_position_embeddings = req_int(j, "max_position_embeddings", file, int64_t{1} << 40);
  if (c.max_position_embeddings > kMaxPositions) {
    throw_input("context too large", {.file = file,
                                      .field = "max_position_embeddings",
                                      .expected = "at most " + std::to_string(kMaxPositions),
                                      .found = std::to_string(c.max_position_embeddings)});
  }
  // Qwen configs keep a sliding_window that only applies with use_sliding_window (off in every
  // released Qwen2.5/Qwen3); Mistral's applies whenever it is set.
  const bool window_applies = !(qwen2 || qwen3) || opt_bool(j, "use_sliding_window", false, file);
  if (auto it = j.find("sliding_window"); window_applies && it != j.end() && it->is_number_integer())
    c.sliding_window = it->get<int64_t>();
  c.rms_norm_eps = opt_num(j, "rms_norm_eps", 1e-6, file);
  c.tie_word_embeddings = opt_bool(j, "tie_word_embeddings", false, file);
  const std::string act = opt_string(j, "hidden_act", "silu", file);
  if (act != "silu")
    throw_input("unsupported activation", {.file = file, .field = "hidden_act", .expected = "silu", .found = act});
  refuse_true(j, "mlp_bias", file);
  if (qwen2) {
    c.qkv_bias = true;  // Qwen2Attention: q/k/v always biased, o never
  } else if (c.architecture == "MistralForCausalLM") {
    refuse_true(j, "attention_bias", file);  // MistralAttention has no biases
  } else {
    c.qkv_bias = c.o_bias = opt_bool(j, "attention_bias", false, file);
  }
  c.qk_norm = qwen3;
  if (!j.contains("model_type")) {  // saving writes model_type, which AutoConfig dispatches on
    c.model_type = qwen2 ? "qwen2" : qwen3 ? "qwen3" : c.architecture == "MistralForCausalLM" ? "mistral" : "llama";
  }
  // pretraining_tp only changes how HF splits matmuls; the math is the same, so it is ignored.

  // RoPE: v5 puts theta and scaling in rope_parameters; v4 uses rope_theta + rope_scaling.
  if (auto it = j.find("rope_parameters"); it != j.end() && it->is_object()) {
    c.rope_theta = opt_num(*it, "rope_theta", opt_num(j, "rope_theta", 10000.0, file), file);
    c.rope_scaling = parse_rope(*it, file, "rope_parameters");
  } else {
    c.rope_theta = opt_num(j, "rope_theta", 10000.0, file);
    if (auto rs = j.find("rope_scaling"); rs != j.end()) c.rope_scaling = parse_rope(*rs, file, "rope_scaling");
  }
  c.bos_token_id = opt_token(j, "bos_token_id");
  c.eos_token_id = opt_token(j, "eos_token_id");
  c.pad_token_id = opt_token(j, "pad_token_id");
  c.dtype = opt_string(j, "torch_dtype", opt_string(j, "dtype", "", file), file);  // real checkpoints may say null
  return c;
}

ModelConfig load_model_config(const std::string& path) { return parse_model_config(read_json_file(path), path); }

nlohmann::json model_config_to_json(const ModelConfig& c) {
  nlohmann::json j = c.raw.is_object() ? c.raw : nlohmann::json::object();
  j.erase("rope_parameters");  // written below in the v4 form, which every reader understands
  j["architectures"] = {c.architecture};
  j["model_type"] = c.model_type;
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["head_dim"] = c.head_dim;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope_theta;
  if (c.rope_scaling.type == "default") {
    j["rope_scaling"] = nullptr;
  } else {
    nlohmann::json rs = {{"rope_type", c.rope_scaling.type}, {"factor", c.rope_scaling.factor}};
    if (c.rope_scaling.type == "llama3") {
      rs["low_freq_factor"] = c.rope_scaling.low_freq_factor;
      rs["high_freq_factor"] = c.rope_scaling.high_freq_factor;
      rs["original_max_position_embeddings"] = c.rope_scaling.original_max_position_embeddings;
    }
    j["rope_scaling"] = rs;
  }
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["hidden_act"] = "silu";
  // Token ids: keep the file's own form (Llama 3 lists several eos ids).
  if (c.bos_token_id && !j.contains("bos_token_id")) j["bos_token_id"] = *c.bos_token_id;
  if (c.eos_token_id && !j.contains("eos_token_id")) j["eos_token_id"] = *c.eos_token_id;
  if (c.pad_token_id && !j.contains("pad_token_id")) j["pad_token_id"] = *c.pad_token_id;
  if (!c.dtype.empty()) j[j.contains("dtype") ? "dtype" : "torch_dtype"] = c.dtype;
  return j;
}

}  // namespace s2d
