#include "s2d/model/lora.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "s2d/model/safetensors.h"
#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "s2d/util/json.h"

namespace s2d {

namespace {
const std::vector<std::string>& all_modules() {
  static const std::vector<std::string> k = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                             "gate_proj", "up_proj", "down_proj"};
  return k;
}

bool is_attention(const std::string& m) { return m == "q_proj" || m == "k_proj" || m == "v_proj" || m == "o_proj"; }

// [out, in] of a target projection.
std::pair<int64_t, int64_t> shape_of(const ModelConfig& c, const std::string& m) {
  const int64_t H = c.hidden_size, Q = c.num_attention_heads * c.head_dim, KV = c.num_key_value_heads * c.head_dim;
  const int64_t I = c.intermediate_size;
  if (m == "q_proj") return {Q, H};
  if (m == "k_proj" || m == "v_proj") return {KV, H};
  if (m == "o_proj") return {H, Q};
  if (m == "gate_proj" || m == "up_proj") return {I, H};
  return {H, I};  // down_proj
}
}  // namespace

std::vector<std::string> lora_target_modules(const std::vector<std::string>& targets) {
  std::vector<std::string> out;
  for (const auto& t : targets) {
    const std::string m = t.find("_proj") == std::string::npos ? t + "_proj" : t;
    if (std::find(all_modules().begin(), all_modules().end(), m) == all_modules().end()) {
      throw_input("LoRA target names no module",
                  {.field = "--lora-targets", .expected = "q k v o gate up down", .found = t});
    }
    if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
  }
  if (out.empty())
    throw_input("no LoRA targets", {.field = "--lora-targets", .expected = "at least one of q k v o gate up down"});
  return out;
}

std::string peft_name(size_t layer, const std::string& target, const char* which) {
  return "base_model.model.model.layers." + std::to_string(layer) + (is_attention(target) ? ".self_attn." : ".mlp.") +
         target + "." + which + ".weight";
}

std::shared_ptr<LoraAdapter> init_lora(const ModelConfig& c, const LoraOptions& o, const c10::Device& device,
                                       uint64_t seed) {
  if (o.rank < 1) throw_input("LoRA rank must be >= 1", {.field = "--lora-rank", .found = std::to_string(o.rank)});
  if (!(o.dropout >= 0 && o.dropout < 1))
    throw_input("out of range", {.field = "--lora-dropout", .expected = "in [0, 1)"});
  auto a = std::make_shared<LoraAdapter>();
  a->rank = o.rank;
  a->alpha = o.alpha;
  a->dropout = o.dropout;
  a->targets = lora_target_modules(o.targets);
  // A rank above a target's smaller side adds nothing, and a huge one would allocate without bound.
  for (const auto& m : a->targets) {
    const auto [out, in] = shape_of(c, m);
    if (o.rank > std::min(out, in))
      throw_input("LoRA rank larger than a target matrix",
                  {.field = "--lora-rank",
                   .expected = "<= " + std::to_string(std::min(out, in)) + " (" + m + " is " + std::to_string(out) +
                               " x " + std::to_string(in) + ")",
                   .found = std::to_string(o.rank)});
  }
  at::Generator gen = at::detail::createCPUGenerator(seed);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    std::map<std::string, LoraPair> layer;
    for (const auto& m : a->targets) {
      const auto [out, in] = shape_of(c, m);
      const double bound = 1.0 / std::sqrt(static_cast<double>(in));  // kaiming_uniform_(a=sqrt(5))
      at::Tensor A = at::empty({o.rank, in}, at::kFloat).uniform_(-bound, bound, gen).to(device);
      layer[m] = {A, at::zeros({out, o.rank}, at::TensorOptions().dtype(at::kFloat).device(device))};
    }
    a->layers.push_back(std::move(layer));
  }
  return a;
}

void save_adapter(const std::string& dir, const LoraAdapter& a, const std::string& base_model) {
  std::vector<at::Tensor> keep;
  std::vector<StTensorView> views;
  for (size_t l = 0; l < a.layers.size(); ++l)
    for (const auto& [m, p] : a.layers[l])
      for (auto [which, t] : {std::pair<const char*, const at::Tensor*>{"lora_A", &p.a}, {"lora_B", &p.b}}) {
        at::Tensor h = t->detach().to(at::kCPU, at::kFloat).contiguous();
        keep.push_back(h);
        views.push_back({peft_name(l, m, which), StDtype::F32, h.sizes().vec(),
                         static_cast<const uint8_t*>(h.data_ptr()), h.nbytes()});
      }
  write_safetensors(dir + "/adapter_model.safetensors", views);
  const nlohmann::json cfg = {{"peft_type", "LORA"},
                              {"task_type", "CAUSAL_LM"},
                              {"r", a.rank},
                              {"lora_alpha", a.alpha},
                              {"lora_dropout", a.dropout},
                              {"target_modules", a.targets},
                              {"bias", "none"},
                              {"fan_in_fan_out", false},
                              {"inference_mode", true},
                              {"use_rslora", false},
                              {"use_dora", false},
                              {"init_lora_weights", true},
                              {"modules_to_save", nullptr},
                              {"base_model_name_or_path", base_model}};
  write_file_atomic(dir + "/adapter_config.json", cfg.dump(2) + "\n");
}

namespace {
std::shared_ptr<LoraAdapter> read_adapter(const std::string& dir, const ModelConfig& c, const c10::Device& device) {
  const std::string cfg_path = dir + "/adapter_config.json";
  const nlohmann::json cfg = read_json_file(cfg_path);
  if (!cfg.is_object()) throw_input("adapter config is not a JSON object", {.file = cfg_path});
  if (cfg.value("peft_type", std::string()) != "LORA")
    throw_input("not a LoRA adapter", {.file = cfg_path,
                                       .field = "peft_type",
                                       .expected = "LORA",
                                       .found = cfg.value("peft_type", std::string("?"))});
  if (cfg.value("use_dora", false) || cfg.value("use_rslora", false) || cfg.value("fan_in_fan_out", false))
    throw_input("unsupported LoRA variant",
                {.file = cfg_path, .expected = "plain LoRA (no DoRA, rsLoRA, fan_in_fan_out)"});
  auto a = std::make_shared<LoraAdapter>();
  a->rank = cfg.value("r", 8);
  a->alpha = cfg.value("lora_alpha", 8.0);
  a->dropout = cfg.value("lora_dropout", 0.0);
  std::vector<std::string> targets;
  for (const auto& t : cfg.value("target_modules", nlohmann::json::array())) targets.push_back(t.get<std::string>());
  a->targets = lora_target_modules(targets);
  SafetensorsFile f(dir + "/adapter_model.safetensors");
  auto tensor = [&](const std::string& name, std::vector<int64_t> shape) {
    auto it = f.tensors().find(name);
    if (it == f.tensors().end()) throw_input("missing adapter tensor", {.file = f.path(), .field = name});
    if (it->second.shape != shape)
      throw_input("wrong shape",
                  {.file = f.path(), .field = name, .expected = c10::str(shape), .found = c10::str(it->second.shape)});
    const auto dt = it->second.dtype == StDtype::F32   ? at::kFloat
                    : it->second.dtype == StDtype::F16 ? at::kHalf
                                                       : at::kBFloat16;
    return at::from_blob(const_cast<uint8_t*>(it->second.data), shape, dt).to(device, at::kFloat, false, true);
  };
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    std::map<std::string, LoraPair> layer;
    for (const auto& m : a->targets) {
      const auto [out, in] = shape_of(c, m);
      layer[m] = {tensor(peft_name(l, m, "lora_A"), {a->rank, in}), tensor(peft_name(l, m, "lora_B"), {out, a->rank})};
    }
    a->layers.push_back(std::move(layer));
  }
  return a;
}
}  // namespace

std::shared_ptr<LoraAdapter> load_adapter(const std::string& dir, const ModelConfig& c, const c10::Device& device) {
  // A field of the wrong type anywhere in the file is an input error naming the file.
  return with_json_context({.file = dir + "/adapter_config.json"}, [&] { return read_adapter(dir, c, device); });
}

void merge_lora(LlamaModel& model) {
  auto a = model.lora();
  if (!a) return;
  at::NoGradGuard no_grad;
  LlamaWeights& w = model.weights();
  for (size_t l = 0; l < a->layers.size(); ++l) {
    auto& L = w.layers[l];
    const std::map<std::string, at::Tensor*> hf = {
        {"q_proj", &L.q_proj},       {"k_proj", &L.k_proj},   {"v_proj", &L.v_proj},      {"o_proj", &L.o_proj},
        {"gate_proj", &L.gate_proj}, {"up_proj", &L.up_proj}, {"down_proj", &L.down_proj}};
    for (const auto& [m, p] : a->layers[l]) {
      at::Tensor& W = *hf.at(m);  // a view into the packed storage: this updates it in place
      W.add_((at::matmul(p.b, p.a) * a->scale()).to(W.scalar_type()));
    }
  }
  model.set_lora(nullptr);
}

}  // namespace s2d
