// C++ side of the training conformance check (make_train_reference.py made the reference):
//   * the masked loss of one batch and the gradient of every parameter, within 1e-4 (fp32);
//   * every parameter after three AdamW steps with clipping, within 1e-4 of torch.optim.AdamW.
// Usage: s2d_train_conformance_tests --dir DIR [--device cpu|cuda] [--precision fp32|autocast|bf16]
//   fp32 (default): s2d in fp32 on --device against the fp32 reference (made on the CPU).
//   autocast: s2d's bf16 autocast on CUDA against a reference made under torch.autocast on CUDA
//   (make_train_reference.py --device cuda --autocast bf16).
//   bf16: s2d's --precision bf16 (bf16 weights, fp32 masters) against PyTorch's model in bf16 with
//   fp32 masters for AdamW (make_train_reference.py --weights bf16), on either device.
//   bf16 rounds differently in each library's kernels, so for both the bounds are relative: loss
//   within 1%, every gradient within 5% of its norm, and parameters after N AdamW steps within
//   3 lr N (a step moves a coordinate by about lr at most, so an update in a wrong direction shows
//   as a drift of that order). The LoRA cases are fp32 only.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "conformance_main.h"
#include "s2d/model/checkpoint.h"
#include "s2d/model/device.h"
#include "s2d/model/lora.h"
#include "s2d/model/safetensors.h"
#include "s2d/train/trainer.h"
#include "s2d/util/atomic_file.h"

namespace s2d {
namespace {

std::string g_dir, g_device = "cpu", g_precision = "fp32";
bool bf16() { return g_precision != "fp32"; }  // some bf16 rounding: autocast's or the weights'
Precision trainer_precision() {
  return g_precision == "fp32" ? Precision::Fp32 : g_precision == "autocast" ? Precision::Auto : Precision::Bf16;
}

// How far a result may be from its reference: absolute in fp32, relative in bf16 (see the top).
double loss_tolerance(double want) { return bf16() ? 0.01 * std::abs(want) : 1e-4; }
// Gradient difference, as max |g - ref| (fp32) or ||g - ref|| / ||ref|| (bf16).
double grad_error(const at::Tensor& g, const at::Tensor& ref) {
  const at::Tensor d = g.detach().cpu().to(at::kFloat) - ref;
  return bf16() ? (d.norm() / ref.norm().clamp_min(1e-12)).item<double>() : d.abs().max().item<double>();
}
double grad_tolerance() { return bf16() ? 0.05 : 1e-4; }
double param_tolerance(double lr, int steps) { return bf16() ? 3 * lr * steps : 1e-4; }

at::Tensor rows(const nlohmann::json& j) {
  std::vector<int64_t> flat;
  for (const auto& r : j)
    for (const auto& v : r) flat.push_back(v.get<int64_t>());
  return at::tensor(flat, at::kLong).view({static_cast<int64_t>(j.size()), -1});
}

// A tensor of a reference file, as an owned fp32 tensor.
at::Tensor reference(const SafetensorsFile& ref, const std::string& name) {
  const auto& v = ref.tensors().at(name);
  return at::from_blob(const_cast<uint8_t*>(v.data), v.shape, at::kFloat).clone();
}

// The batch a reference script wrote (batch.json: right-padded), with its target count; `packed`:
// its rows' real tokens packed back to back instead (make_batch's packed layout).
Batch load_batch(const std::string& dir, bool packed = false) {
  auto j = nlohmann::json::parse(read_file(dir + "/batch.json"));
  const c10::Device dev = resolve_device(g_device);
  if (packed) {
    std::vector<SftExample> examples(j["ids"].size());
    std::vector<size_t> order;
    for (size_t r = 0; r < examples.size(); ++r) {
      order.push_back(r);
      for (size_t t = 0; t < j["ids"][r].size(); ++t) {
        if (j["attention"][r][t].get<int>() == 0) break;
        examples[r].ids.push_back(j["ids"][r][t].get<int>());
        examples[r].loss_mask.push_back(j["loss_mask"][r][t].get<uint8_t>());
      }
    }
    return make_batch(examples, order, dev, /*packed=*/true);
  }
  Batch b{rows(j["ids"]).to(dev), rows(j["attention"]).to(dev), rows(j["loss_mask"]).to(dev)};
  index_targets(b);  // and the target count: loss-mask ones after the first column
  return b;
}

// (reference case, packed layout?): both layouts must meet the same bounds against the padded
// PyTorch reference.
class TrainCase : public ::testing::TestWithParam<std::tuple<std::string, bool>> {};
std::string layout(bool packed) { return packed ? "packed" : "padded"; }

TEST_P(TrainCase, LossGradientsAndAdamWMatchPyTorch) {
  const auto& [case_name, packed] = GetParam();
  const std::string dir = g_dir + "/" + case_name;
  SafetensorsFile ref(dir + "/reference.safetensors");
  auto get = [&](const std::string& name) { return reference(ref, name); };
  ModelBundle b = load_model(dir + "/model", {.device = g_device, .dtype = g_precision == "bf16" ? "bf16" : "fp32"});
  OptimizerOptions opt;
  opt.lr = 1e-3;
  opt.weight_decay = 0.1;
  opt.max_grad_norm = 1.0;
  opt.schedule = "constant";
  Trainer trainer(*b.model, opt, trainer_precision());
  const Batch batch = load_batch(dir, packed);

  const double loss = trainer.accumulate(batch, batch.target_tokens).item<double>() / batch.target_tokens;
  const double want = get("loss").item<double>();
  EXPECT_NEAR(loss, want, loss_tolerance(want));
  double worst_grad = 0;
  std::string worst_name;
  for (const auto& [name, g] : trainer.hf_named_grads()) {
    const double d = grad_error(g, get("grad." + name));
    if (d > worst_grad) worst_grad = d, worst_name = name;
  }
  EXPECT_LE(worst_grad, grad_tolerance()) << worst_name;
  trainer.step();
  for (int s = 1; s < 3; ++s) {
    trainer.accumulate(batch, batch.target_tokens);
    trainer.step();
  }
  double worst_param = 0;
  LlamaWeights w = b.model->weights();
  for_each_weight(b.model->config(), w, [&](const std::string& name, at::Tensor& t) {
    worst_param =
        std::max(worst_param, (t.detach().cpu().to(at::kFloat) - get("param3." + name)).abs().max().item<double>());
  });
  EXPECT_LE(worst_param, param_tolerance(opt.lr, 3));
  const std::string line =
      c10::str("train conformance ", case_name, " ", layout(packed), " (", g_device, ", ", g_precision, "): loss ",
               loss, " vs ", want, bf16() ? ", worst relative grad error " : ", max grad diff ", worst_grad,
               ", max param diff after 3 AdamW steps ", worst_param);
  conformance::report(g_dir, line);
}

INSTANTIATE_TEST_SUITE_P(Cases, TrainCase,
                         ::testing::Combine(::testing::Values("gqa", "tied", "qwen2", "qwen3"), ::testing::Bool()),
                         [](const auto& param_info) {
                           return std::get<0>(param_info.param) + "_" + layout(std::get<1>(param_info.param));
                         });

// LoRA against PEFT: the adapter PEFT saved loads, loss and adapter gradients match, one AdamW
// step matches; merging gives the same logits; the adapter s2d saves goes back to PEFT (checked
// by make_lora_reference.py --check).
class LoraCase : public ::testing::TestWithParam<std::tuple<std::string, bool>> {};

TEST_P(LoraCase, MatchesPeft) {
  if (bf16()) GTEST_SKIP() << "the LoRA references are fp32";
  const auto& [case_name, packed] = GetParam();
  const std::string dir = g_dir + "/" + case_name;
  SafetensorsFile ref(dir + "/reference.safetensors");
  auto get = [&](const std::string& name) { return reference(ref, name); };
  ModelBundle b = load_model(dir + "/model", {.device = g_device, .dtype = "fp32"});
  b.model->set_lora(load_adapter(dir + "/adapter", b.config, b.model->options().device()));
  OptimizerOptions opt;
  opt.lr = 1e-3;
  opt.weight_decay = 0.1;
  opt.schedule = "constant";
  Trainer trainer(*b.model, opt, Precision::Fp32);
  const Batch batch = load_batch(dir, packed);
  const double loss = trainer.accumulate(batch, batch.target_tokens).item<double>() / batch.target_tokens;
  EXPECT_NEAR(loss, get("loss").item<double>(), 1e-4);
  double worst_grad = 0;
  const auto grads = trainer.hf_named_grads();
  EXPECT_EQ(grads.size(), 2u * 2u * 7u);
  for (const auto& [name, g] : grads) worst_grad = std::max(worst_grad, grad_error(g, get("grad." + name)));
  EXPECT_LE(worst_grad, 1e-4);
  trainer.step();
  double worst_param = 0;
  const auto& layers = b.model->lora()->layers;
  for (size_t l = 0; l < layers.size(); ++l)
    for (const auto& [m, p] : layers[l]) {
      worst_param = std::max(
          worst_param, (p.a.detach().cpu() - get("param1." + peft_name(l, m, "lora_A"))).abs().max().item<double>());
      worst_param = std::max(
          worst_param, (p.b.detach().cpu() - get("param1." + peft_name(l, m, "lora_B"))).abs().max().item<double>());
    }
  EXPECT_LE(worst_param, 1e-4);
  save_adapter(dir + "/s2d_adapter", *b.model->lora(), dir + "/model");

  at::NoGradGuard no_grad;
  const Batch rows = load_batch(dir);
  at::Tensor with_adapter = b.model->forward_padded(rows.ids, rows.attention);
  merge_lora(*b.model);
  at::Tensor merged = b.model->forward_padded(rows.ids, rows.attention);
  const double merge_diff =
      (with_adapter - merged).abs().amax(-1).masked_select(rows.attention.to(at::kBool)).max().item<double>();
  EXPECT_LE(merge_diff, 1e-4);
  const std::string line = c10::str(
      "lora conformance ", case_name, " ", layout(packed), " (", g_device, "): loss ", loss, ", max adapter grad diff ",
      worst_grad, ", max adapter diff after one AdamW step ", worst_param, ", merged-vs-adapter logits ", merge_diff);
  conformance::report(g_dir, line);
}

INSTANTIATE_TEST_SUITE_P(Cases, LoraCase,
                         ::testing::Combine(::testing::Values("lora", "lora_qwen3"), ::testing::Bool()),
                         [](const auto& param_info) {
                           return std::get<0>(param_info.param) + "_" + layout(std::get<1>(param_info.param));
                         });

}  // namespace
}  // namespace s2d

int main(int argc, char** argv) {
  const s2d::conformance::Flags flags(argc, argv);
  s2d::g_dir = flags.get("--dir");
  s2d::g_device = flags.get("--device", s2d::g_device);
  s2d::g_precision = flags.get("--precision", s2d::g_precision);
  if (s2d::g_precision == "autocast" && s2d::g_device == "cpu") {
    std::cerr << "--precision autocast is CUDA's: pass --device cuda\n";
    return 2;
  }
  if (s2d::g_dir.empty() ||
      (s2d::g_precision != "fp32" && s2d::g_precision != "autocast" && s2d::g_precision != "bf16"))
    return s2d::conformance::usage(
        "s2d_train_conformance_tests --dir DIR [--device cpu|cuda] [--precision fp32|autocast|bf16]");
  std::filesystem::remove(s2d::g_dir + "/report.txt");
  return RUN_ALL_TESTS();
}
