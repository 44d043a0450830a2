// s2d side of scripts/bench/train.sh: training throughput of the Trainer on given token batches.
//   s2d_bench_train (--model DIR | --random-config CONFIG.json) --batches batches.json --steps N
//       [--device auto] [--lora-rank R] [--answer-tokens K]   (LoRA on q, k, v, o when R > 0)
// batches.json: {"batches": [[[ids...], ...], ...]} (each batch B x T, no padding). Every token
// after the first is a target, or with --answer-tokens K only each row's last K: the SFT shape,
// a short answer after a long prompt. One warmup step, then N timed steps cycling through the batches.
// Prints one JSON line: {"engine": "s2d", "tok_s", "seconds", "losses": [...]}, plus "mfu" on
// CUDA (model FLOPs of train_flops_per_token over 989 TFLOP/s, H100/H200 dense bf16).
#include <ATen/ATen.h>

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "bench_util.h"
#include "s2d/model/checkpoint.h"
#include "s2d/model/device.h"
#include "s2d/model/lora.h"
#include "s2d/train/trainer.h"
#include "s2d/util/atomic_file.h"

using namespace s2d;

int main(int argc, char** argv) try {
  auto arg = [&](const std::string& name, const std::string& dflt) { return bench::arg(argc, argv, name, dflt); };
  std::shared_ptr<LlamaModel> model;
  const int64_t lora_rank = std::stoll(arg("--lora-rank", "0"));
  const c10::Device dev = resolve_device(arg("--device", "auto"));
  // The dtype s2d distill trains from (fp32 masters; a LoRA run's frozen base in bf16 on CUDA).
  const c10::ScalarType weight_dtype = training_weight_dtype(lora_rank > 0, dev, Precision::Auto);
  if (!arg("--random-config", "").empty()) {
    model = bench::random_model(arg("--random-config", ""), dev, weight_dtype);
  } else {
    model =
        load_model(arg("--model", ""),
                   {.device = arg("--device", "auto"), .dtype = dtype_name(weight_dtype), .require_tokenizer = false})
            .model;
  }
  // alpha = 2r, as hf_train.py configures PEFT
  if (lora_rank > 0) model->set_lora(init_lora(model->config(), {.rank = lora_rank, .alpha = 2.0 * lora_rank}, dev, 0));
  const int64_t answer_tokens = std::stoll(arg("--answer-tokens", "0"));
  std::vector<Batch> batches;
  const nlohmann::json doc = nlohmann::json::parse(read_file(arg("--batches", "")));  // kept alive for the loop
  for (const auto& jb : doc.at("batches")) {
    std::vector<int64_t> flat;
    for (const auto& row : jb)
      for (const auto& v : row) flat.push_back(v.get<int64_t>());
    const auto B = static_cast<int64_t>(jb.size());
    at::Tensor ids = at::tensor(flat, at::kLong).view({B, -1}).to(dev);
    const int64_t T = ids.size(1), counted = answer_tokens > 0 ? std::min(answer_tokens, T - 1) : T - 1;
    at::Tensor loss_mask = at::zeros_like(ids);
    loss_mask.narrow(1, T - counted, counted).fill_(1);  // the last `counted` tokens of each row
    Batch b{ids, at::ones_like(ids), loss_mask};
    index_targets(b);  // B * counted targets
    batches.push_back(b);
  }
  OptimizerOptions opt;
  opt.lr = 1e-4;
  opt.schedule = "constant";
  Trainer trainer(*model, opt);
  const int steps = std::stoi(arg("--steps", "5"));
  auto one = [&](const Batch& x) {
    const double loss = trainer.accumulate(x, x.target_tokens).item<double>() / x.target_tokens;
    trainer.step();
    return loss;
  };
  one(batches[0]);  // warmup
  std::vector<double> losses;
  int64_t tokens = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int s = 0; s < steps; ++s) {
    const Batch& x = batches[static_cast<size_t>(s) % batches.size()];
    losses.push_back(one(x));
    tokens += x.ids.numel();
  }
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json out{{"engine", "s2d"}, {"tok_s", tokens / sec}, {"seconds", sec}, {"losses", losses}};
  if (dev.is_cuda())
    out["mfu"] = tokens / sec * train_flops_per_token(model->config(), model->lora() != nullptr) / kCudaPeakBf16Flops;
  std::cout << out.dump() << std::endl;
  return 0;
} catch (const std::exception& e) {
  std::cerr << "s2d_bench_train: " << e.what() << "\n";
  return 1;
}
