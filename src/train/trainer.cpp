#include "s2d/train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <ATen/core/grad_mode.h>

#include <cmath>

#include "s2d/model/lora.h"
#include "s2d/util/error.h"

namespace s2d {

double lr_at(const OptimizerOptions& o, int64_t step) {
  if (o.warmup_steps > 0 && step <= o.warmup_steps) return o.lr * static_cast<double>(step) / o.warmup_steps;
  if (o.schedule == "constant") return o.lr;
  const double span = std::max<int64_t>(1, o.total_steps - o.warmup_steps);
  const double progress = std::min(1.0, static_cast<double>(step - o.warmup_steps) / span);
  if (o.schedule == "linear") return o.lr * (1.0 - progress);
  return o.lr * 0.5 * (1.0 + std::cos(M_PI * progress));  // cosine
}

Precision parse_precision(const std::string& name) {
  if (name == "auto") return Precision::Auto;
  if (name == "fp32") return Precision::Fp32;
  if (name == "bf16") return Precision::Bf16;
  throw_input("unknown precision", {.field = "--precision", .expected = "auto|fp32|bf16", .found = name});
}

c10::ScalarType training_weight_dtype(bool lora, const c10::Device& device, Precision precision) {
  if (precision == Precision::Bf16) return at::kBFloat16;
  return lora && device.is_cuda() && precision == Precision::Auto ? at::kBFloat16 : at::kFloat;
}

double train_flops_per_token(const ModelConfig& c, bool lora) {
  const double n_matmul = static_cast<double>(c.num_parameters() - c.vocab_size * c.hidden_size);
  return (lora ? 4.0 : 6.0) * n_matmul;
}

Trainer::Trainer(LlamaModel& model, OptimizerOptions opts, Precision precision)
    : model_(model), opts_(std::move(opts)), precision_(precision) {
  auto& w = model_.weights();
  const auto& c = model_.config();
  const auto dtype = w.embed.scalar_type();
  const bool has_lora = model_.lora() != nullptr;
  if (precision_ == Precision::Bf16 && has_lora)
    throw_input("bf16 precision trains full weights",
                {.field = "--precision",
                 .expected = "auto with --lora (its base stays bf16 under autocast on CUDA)",
                 .found = "bf16"});
  const auto expected = training_weight_dtype(has_lora, w.embed.device(), precision_);
  if (dtype != expected && !(dtype == at::kFloat && precision_ != Precision::Bf16)) {
    throw_input("training keeps fp32 master weights",
                {.field = "--dtype",
                 .expected = precision_ == Precision::Bf16 ? "bf16 weights under --precision bf16"
                                                           : "fp32 weights (or a bf16 base under LoRA on CUDA)",
                 .found = c10::toString(w.embed.scalar_type())});
  }
  if (const auto& lora = model_.lora()) {  // LoRA: only the adapter trains; the base stays frozen
    lora_ = true;
    for (size_t l = 0; l < lora->layers.size(); ++l)
      for (auto& [m, p] : lora->layers[l])
        for (auto [which, t] : {std::pair<const char*, at::Tensor*>{"lora_A", &p.a}, {"lora_B", &p.b}}) {
          t->set_requires_grad(true);
          params_.push_back({peft_name(l, m, which), t, at::zeros_like(*t), at::zeros_like(*t), true});
        }
    return;
  }
  for_each_packed(c, w, [&](const std::string& name, at::Tensor& t) {
    t.set_requires_grad(true);
    Param p{name, &t, {}, {}, t.dim() > 1};
    if (precision_ == Precision::Bf16) p.master = t.detach().to(at::kFloat, /*non_blocking=*/false, /*copy=*/true);
    p.exp_avg = at::zeros_like(p.weight());
    p.exp_avg_sq = at::zeros_like(p.weight());
    params_.push_back(std::move(p));
  });
  // Tied embeddings: the head must read the trained embedding, not the inference copy.
  if (c.tie_word_embeddings) w.lm_head_t = w.embed.t();
}

namespace {
// Sum of cross-entropy over counted tokens. HF's ForCausalLMLoss computes logits at every
// position and drops the uncounted ones with ignore_index -100; the sum over the counted ones is
// the same, so only their logits are computed: [N, V] for N counted tokens, fp32 as HF does.
at::Tensor token_loss(const LlamaModel& model, const Batch& b, at::Reduction::Reduction reduction) {
  at::Tensor logits = b.lengths.empty()
                          ? model.forward_causal(b.ids, b.predict_rows)
                          : model.forward_packed(b.ids, b.positions, b.lengths, b.predict_rows);  // [N, V]
  return at::cross_entropy_loss(logits.to(at::kFloat), b.targets, {}, reduction);
}
at::Tensor loss_sum(const LlamaModel& model, const Batch& b) { return token_loss(model, b, at::Reduction::Sum); }

struct AutocastGuard {  // bf16 compute on CUDA; fp32 everywhere else
  explicit AutocastGuard(bool on) : on_(on) {
    if (on_) {
      at::autocast::set_autocast_enabled(at::kCUDA, true);
      at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    }
  }
  ~AutocastGuard() {
    if (on_) {
      at::autocast::set_autocast_enabled(at::kCUDA, false);
      at::autocast::clear_cache();
    }
  }
  bool on_;
};
}  // namespace

at::Tensor Trainer::backward_scaled(const Batch& b, const std::function<at::Tensor(const at::Tensor&)>& scale) {
  AutocastGuard autocast(autocast_on(b.ids));
  model_.set_training(true);
  at::Tensor sum = loss_sum(model_, b);
  scale(sum).backward();
  sum_into_masters();
  return sum.detach();
}

// Precision::Bf16: each micro-batch's bf16 gradients are added into fp32 sums, so that a step of
// several micro-batches rounds once per micro-batch to bf16, not once per addition of the sum.
void Trainer::sum_into_masters() {
  at::NoGradGuard no_grad;
  for (auto& p : params_) {
    if (!p.master.defined() || !p.value->grad().defined()) continue;
    if (p.master_grad.defined())
      p.master_grad.add_(p.value->grad());
    else
      p.master_grad = p.value->grad().to(at::kFloat);
    p.value->mutable_grad() = at::Tensor();
  }
}

at::Tensor Trainer::accumulate(const Batch& b, int64_t step_tokens) {
  return backward_scaled(
      b, [&](const at::Tensor& sum) { return sum / static_cast<double>(std::max<int64_t>(1, step_tokens)); });
}

at::Tensor Trainer::accumulate(const Batch& b, const at::Tensor& step_tokens) {
  return backward_scaled(b, [&](const at::Tensor& sum) { return sum / step_tokens; });
}

double Trainer::evaluate(const Batch& b) {
  at::NoGradGuard no_grad;
  model_.set_training(false);
  AutocastGuard autocast(autocast_on(b.ids));
  return loss_sum(model_, b).item<double>() / std::max<int64_t>(1, b.target_tokens);
}

at::Tensor Trainer::token_losses(const Batch& b) {
  at::NoGradGuard no_grad;
  model_.set_training(false);
  AutocastGuard autocast(autocast_on(b.ids));
  return token_loss(model_, b, at::Reduction::None);
}

at::Tensor Trainer::step() {
  ++step_;
  return clip_and_update({lr_at(opts_, step_), {}});
}

void Trainer::begin_device_step(at::Tensor& lr) {
  ++step_;
  lr.fill_(lr_at(opts_, step_));
}

at::Tensor Trainer::step_on_device(const at::Tensor& lr) { return clip_and_update({0.0, lr}); }

at::Tensor Trainer::clip_and_update(const Rate& lr) {
  at::NoGradGuard no_grad;
  std::vector<Param*> live;  // parameters with a gradient this step
  std::vector<at::Tensor> grads;
  for (auto& p : params_)
    if (p.grad().defined()) live.push_back(&p), grads.push_back(p.grad());
  if (live.empty()) return at::zeros({}, at::kFloat);
  // Global gradient norm, as torch.nn.utils.clip_grad_norm_ computes it (one foreach kernel), in
  // fp32 (0-dim, on the device).
  at::Tensor norm = at::linalg_vector_norm(at::stack(at::_foreach_norm(grads, 2)), 2).to(at::kFloat);
  // clip_grad_norm_ multiplies the gradients by min(1, max_norm / (norm + 1e-6)); the fused AdamW
  // divides them by its grad_scale instead, so the same clip is grad_scale = max(1, (norm + 1e-6) /
  // max_norm), with no pass over the gradients and no read of the norm on the host.
  std::optional<at::Tensor> grad_scale;
  if (opts_.max_grad_norm > 0) grad_scale = ((norm + 1e-6) / opts_.max_grad_norm).clamp_min(1.0);
  fused_adamw(live, lr, grad_scale);
  // Gradients set to none, as zero_grad() does: the next backward then writes them instead of
  // adding into zeros (one pass over the parameters' size saved, and the zeroing pass). A bf16
  // weight becomes its updated master's rounding.
  for (Param* p : live) {
    p->value->mutable_grad() = at::Tensor();
    if (p->master.defined()) p->value->copy_(p->master), p->master_grad = at::Tensor();
  }
  return norm;
}

// torch.optim.AdamW's fused kernel (what fused=True runs; ATen has it for CUDA and the CPU): one
// pass per parameter group instead of ~8 elementwise passes per tensor. The kernel takes the step
// count as a tensor per parameter and computes the bias corrections itself.
void Trainer::fused_adamw(const std::vector<Param*>& live, const Rate& lr,
                          const std::optional<at::Tensor>& grad_scale) {
  for (const bool decay : {true, false}) {
    std::vector<at::Tensor> w, g, m, v, steps;
    for (Param* p : live) {
      if (p->decay != decay) continue;
      if (!p->step_count.defined()) p->step_count = at::full({}, static_cast<double>(step_ - 1), p->exp_avg.options());
      w.push_back(p->weight()), g.push_back(p->grad()), m.push_back(p->exp_avg), v.push_back(p->exp_avg_sq),
          steps.push_back(p->step_count);
    }
    if (w.empty()) continue;
    at::_foreach_add_(steps, 1);  // one launch for the group's counts, as torch's fused AdamW does
    // One call for both overloads: the rate as a double, or as a tensor on the device.
    auto update = [&](const auto& rate) {
      at::_fused_adamw_(w, g, m, v, /*max_exp_avg_sqs=*/{}, steps, rate, opts_.beta1, opts_.beta2,
                        decay ? opts_.weight_decay : 0.0, opts_.eps, /*amsgrad=*/false, /*maximize=*/false, grad_scale);
    };
    if (lr.on_device.defined())
      update(lr.on_device);
    else
      update(lr.value);
  }
}

std::map<std::string, at::Tensor> Trainer::state() {
  std::map<std::string, at::Tensor> s;
  for (auto& p : params_) {
    s[p.name + ".exp_avg"] = p.exp_avg;
    s[p.name + ".exp_avg_sq"] = p.exp_avg_sq;
    if (p.master.defined()) s[p.name + ".master"] = p.master;  // the bits the bf16 weights lost
  }
  return s;
}

void Trainer::load_state(const std::map<std::string, at::Tensor>& s, int64_t steps_done) {
  at::NoGradGuard no_grad;
  for (auto& p : params_) {
    for (auto [suffix, dst] : {std::pair<const char*, at::Tensor*>{".exp_avg", &p.exp_avg},
                               {".exp_avg_sq", &p.exp_avg_sq},
                               {".master", &p.master}}) {
      if (!dst->defined()) continue;  // no master outside Precision::Bf16
      auto it = s.find(p.name + suffix);
      if (it == s.end() || it->second.sizes() != dst->sizes()) {
        throw_input("optimizer state does not match the model",
                    {.field = p.name + suffix,
                     .expected = c10::str(dst->sizes()),
                     .found = it == s.end() ? "absent" : c10::str(it->second.sizes())});
      }
      dst->copy_(it->second);
    }
    if (p.master.defined()) p.value->copy_(p.master);
  }
  step_ = steps_done;
  for (auto& p : params_) p.step_count = at::Tensor();  // re-made from step_ at the next step
}

std::map<std::string, at::Tensor> Trainer::hf_named_grads() {
  std::map<std::string, at::Tensor> by_param;
  for (auto& p : params_) by_param[p.name] = p.grad();
  if (lora_) return by_param;
  const auto& c = model_.config();
  LlamaWeights g = model_.weights();  // shallow; replace packed tensors by their gradients
  for_each_packed(c, g, [&](const std::string& name, at::Tensor& t) { t = by_param.at(name); });
  if (c.tie_word_embeddings) g.lm_head_t = at::Tensor();
  point_hf_names_at_packed(c, g);
  std::map<std::string, at::Tensor> out;
  for_each_weight(c, g, [&](const std::string& name, at::Tensor& t) { out[name] = t; });
  return out;
}

}  // namespace s2d
