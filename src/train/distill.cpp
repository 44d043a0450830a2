#include "s2d/train/distill.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <regex>
#include <sstream>

#include "s2d/model/checkpoint.h"
#include "s2d/model/device.h"
#include "s2d/model/lora.h"
#include "s2d/model/safetensors.h"
#include "s2d/text/chat_template.h"
#include "s2d/train/trainer.h"
#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "s2d/util/jsonl.h"
#include "s2d/util/log.h"
#include "s2d/util/progress.h"
#include "s2d/util/json.h"

namespace fs = std::filesystem;

namespace s2d {

namespace {

// What makes two runs "the same run" (resume is allowed only then): every option with a key,
// with paths made absolute and the chat template as resolved.
nlohmann::json distill_identity(const DistillOptions& o, const std::string& tmpl) {
  nlohmann::json id = run_identity(o);
  id["model"] = fs::absolute(o.model_dir).string();
  id["data"] = fs::absolute(o.data_path).string();
  id["chat_template"] = tmpl;
  return id;
}

std::vector<std::pair<int64_t, fs::path>> checkpoints(const fs::path& out) {
  std::vector<std::pair<int64_t, fs::path>> v;
  const fs::path dir = out / "checkpoints";
  if (!fs::exists(dir)) return v;
  static const std::regex re(R"(step-(\d+))");
  for (const auto& e : fs::directory_iterator(dir)) {
    std::smatch m;
    const std::string name = e.path().filename().string();
    if (std::regex_match(name, m, re) && fs::exists(e.path() / "trainer_state.json")) v.emplace_back(std::stoll(m[1]), e.path());
  }
  std::sort(v.begin(), v.end());
  return v;
}

void save_optimizer(const std::string& path, Trainer& t) {
  std::vector<at::Tensor> keep;
  std::vector<StTensorView> views;
  for (auto& [name, tensor] : t.state()) {
    at::Tensor h = tensor.detach().to(at::kCPU).contiguous();
    keep.push_back(h);
    views.push_back({name, StDtype::F32, h.sizes().vec(), static_cast<const uint8_t*>(h.data_ptr()), h.nbytes()});
  }
  write_safetensors(path, views);
}

std::map<std::string, at::Tensor> load_optimizer(const std::string& path, const c10::Device& dev) {
  SafetensorsFile f(path);
  std::map<std::string, at::Tensor> s;
  for (const auto& [name, v] : f.tensors())
    s[name] = at::from_blob(const_cast<uint8_t*>(v.data), v.shape, at::kFloat).to(dev, at::kFloat, false, true);
  return s;
}

// A resumed run redoes the steps after its checkpoint, so the lines a killed run wrote for them
// (and a torn last line) go first: metrics.jsonl keeps one line per step.
void keep_metrics_through(const fs::path& path, int64_t step) {
  if (!fs::exists(path)) return;
  std::istringstream in(read_file(path.string()));
  std::string kept, line;
  while (std::getline(in, line)) {
    const auto j = parse_json_or_discarded(line);
    if (!j.is_discarded() && j.is_object() && j.value("step", int64_t{-1}) <= step && in.good()) kept += line + "\n";
  }
  write_file_atomic(path.string(), kept);
}

}  // namespace

DistillSummary run_distill(const DistillOptions& o, const std::function<void(int64_t, double, LlamaModel&)>& on_step) {
  if (o.batch_size < 1 || o.grad_accum < 1) throw_input("must be >= 1", {.field = o.batch_size < 1 ? "--batch-size" : "--grad-accum"});
  if (o.schedule != "cosine" && o.schedule != "linear" && o.schedule != "constant")
    throw_input("unknown schedule", {.field = "--schedule", .expected = "cosine|linear|constant", .found = o.schedule});
  const fs::path out(o.out_dir);
  // --overwrite removes the directory: none of the inputs may be in it.
  check_output_dir(o.out_dir, {o.model_dir, o.data_path, o.val_path});

  // The base model in the dtype it trains from (fp32 master weights; see training_weight_dtype),
  // its tokenizer and template.
  const Precision precision = parse_precision(o.precision);
  const c10::ScalarType weight_dtype = training_weight_dtype(o.lora_rank > 0, resolve_device(o.device), precision);
  ModelBundle base = load_model(o.model_dir, {.device = o.device, .dtype = dtype_name(weight_dtype), .require_tokenizer = true});
  const ChatTemplate tmpl = load_chat_template(o.model_dir, *base.tokenizer, o.chat_template,
                                               template_kwargs(o.chat_template_kwargs, "--chat-template-kwargs"));
  const std::string tmpl_name = tmpl.name();

  // The output directory: a fresh run, a resume of the same run, or --overwrite.
  const nlohmann::json identity = distill_identity(o, tmpl_name);
  const fs::path cfg_path = out / "train_config.json";
  if (fs::exists(out) && !fs::is_empty(out)) {
    if (o.overwrite) {
      remove_tree(out.string());
    } else if (!fs::exists(cfg_path)) {
      throw_input("output directory is not empty and holds no s2d run", {.file = o.out_dir, .hint = "choose another --out or pass --overwrite"});
    } else {
      const auto prev = parse_json_or_discarded(read_file(cfg_path.string()));
      if (prev != identity) {
        throw_input("output directory holds a different run", {.file = o.out_dir, .field = differing_keys(prev, identity),
                                                               .hint = "pass --overwrite to replace it, or another --out"});
      }
      if (!o.resume) throw_input("output directory holds this run already", {.file = o.out_dir, .hint = "pass --resume to continue it, or --overwrite"});
    }
  }
  fs::create_directories(out);
  write_file_atomic(cfg_path.string(), identity.dump(2) + "\n");

  // Data.
  SftDataStats stats;
  std::vector<SftExample> train = load_sft(o.data_path, *base.tokenizer, tmpl, o.max_seq_len, &stats);
  std::vector<SftExample> val;
  if (!o.val_path.empty()) {
    val = load_sft(o.val_path, *base.tokenizer, tmpl, o.max_seq_len, nullptr);
  } else {
    split_validation(train, val, o.val_fraction, o.seed);
  }
  if (stats.truncated > 0) log::warn(std::to_string(stats.truncated) + " examples longer than --max-seq-len " + std::to_string(o.max_seq_len) + " were truncated");
  if (stats.dropped_no_target > 0) log::warn(std::to_string(stats.dropped_no_target) + " examples lost every answer token to truncation and were dropped");

  const auto batches_per_epoch = static_cast<int64_t>(epoch_batches(train, o.batch_size, o.seed, 0).size());
  const int64_t steps_per_epoch = std::max<int64_t>(1, (batches_per_epoch + o.grad_accum - 1) / o.grad_accum);
  const int64_t total_steps = o.max_steps > 0 ? o.max_steps : steps_per_epoch * o.epochs;
  OptimizerOptions opt{o.lr, o.weight_decay, 0.9, 0.999, 1e-8, o.max_grad_norm, o.warmup_steps, o.schedule, total_steps};

  // Resume: weights and optimizer state of the newest checkpoint.
  int64_t start_step = 0;
  const auto ckpts = checkpoints(out);
  const bool lora = o.lora_rank > 0;
  if (!lora && o.merge) throw_input("--merge is for LoRA", {.field = "--merge", .hint = "add --lora-rank"});
  if (o.resume && !ckpts.empty()) {
    const auto& [step, dir] = ckpts.back();
    if (lora) {
      base.model->set_lora(load_adapter(dir.string(), base.config, base.model->options().device()));
    } else {
      base.model = load_model(dir.string(), {.device = o.device, .dtype = "fp32", .require_tokenizer = false}).model;
    }
    start_step = step;
    log::info("resuming from " + dir.string());
  } else if (o.resume) {
    log::warn("--resume: no checkpoint in " + o.out_dir + " yet; starting from the base model");
  }
  LlamaModel& model = *base.model;
  if (lora && !model.lora()) {
    model.set_lora(init_lora(base.config, {o.lora_rank, o.lora_alpha, o.lora_dropout, o.lora_targets},
                             model.options().device(), o.seed));
  }
  at::manual_seed(o.seed);  // LoRA dropout
  Trainer trainer(model, opt, precision);
  const c10::Device dev = model.options().device();
  if (start_step > 0) trainer.load_state(load_optimizer((ckpts.back().second / "optimizer.safetensors").string(), dev), start_step);

  auto save_checkpoint = [&](int64_t step) {
    const fs::path dir = out / "checkpoints" / c10::str("step-", std::string(6 - std::min<size_t>(6, std::to_string(step).size()), '0'), step);
    write_dir_atomic(dir.string(), [&](const std::string& tmp) {
      if (lora) {
        save_adapter(tmp, *model.lora(), o.model_dir);
      } else {
        write_model_files(tmp, model, {});
      }
      save_optimizer(tmp + "/optimizer.safetensors", trainer);
      write_file_atomic(tmp + "/trainer_state.json", nlohmann::json{{"step", step}}.dump() + "\n");
    });
    auto all = checkpoints(out);
    for (size_t i = 0; i + static_cast<size_t>(std::max<int64_t>(1, o.keep_checkpoints)) < all.size(); ++i) remove_tree(all[i].second.string());
  };
  auto validate = [&]() {
    if (val.empty()) return -1.0;
    double sum = 0;
    int64_t n = 0;
    for (size_t i = 0; i < val.size(); i += static_cast<size_t>(o.batch_size)) {
      std::vector<size_t> rows;
      for (size_t k = i; k < std::min(val.size(), i + static_cast<size_t>(o.batch_size)); ++k) rows.push_back(k);
      Batch b = make_batch(val, rows, dev);
      sum += trainer.evaluate(b) * static_cast<double>(b.target_tokens);
      n += b.target_tokens;
    }
    return sum / static_cast<double>(std::max<int64_t>(1, n));
  };

  const double flops_per_token = train_flops_per_token(base.config, lora);
  const double peak = o.peak_tflops > 0 ? o.peak_tflops * 1e12 : (dev.is_cuda() ? kCudaPeakBf16Flops : 0.0);
  keep_metrics_through(out / "metrics.jsonl", start_step);
  JsonlWriter metrics((out / "metrics.jsonl").string());
  Progress progress("distill", total_steps, "steps");
  progress.update(start_step);
  DistillSummary sum;
  sum.examples = static_cast<int64_t>(train.size());
  sum.truncated = stats.truncated;
  sum.target_tokens = stats.target_tokens;
  const auto t0 = std::chrono::steady_clock::now();
  int64_t tokens_seen = 0;

  // Walk the deterministic data order from the start, skipping what earlier runs did.
  int64_t step = 0;
  for (int64_t epoch = 0; step < total_steps; ++epoch) {
    const auto batches = epoch_batches(train, o.batch_size, o.seed, epoch);
    for (size_t bi = 0; bi < batches.size() && step < total_steps; bi += static_cast<size_t>(o.grad_accum)) {
      ++step;
      if (step <= start_step) continue;
      std::vector<Batch> micro;
      int64_t step_tokens = 0;
      for (size_t k = bi; k < std::min(batches.size(), bi + static_cast<size_t>(o.grad_accum)); ++k) {
        micro.push_back(make_batch(train, batches[k], dev));
        step_tokens += micro.back().target_tokens;
      }
      double loss_sum = 0;
      for (const auto& b : micro) {
        loss_sum += trainer.accumulate(b, step_tokens);
        tokens_seen += b.ids.numel();
      }
      const double loss = loss_sum / static_cast<double>(std::max<int64_t>(1, step_tokens));
      if (!std::isfinite(loss)) {
        const auto last = checkpoints(out);
        throw_runtime(c10::str("loss is ", loss, " at step ", step, "; training stopped"),
                      {.hint = last.empty() ? "no checkpoint was written; lower --lr" : "the last good checkpoint is " + last.back().second.string() + "; lower --lr and --resume"});
      }
      const double lr = lr_at(opt, step);
      const double grad_norm = trainer.step();
      const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double tok_s = el > 0 ? tokens_seen / el : 0.0;
      nlohmann::json m = {{"step", step}, {"epoch", epoch}, {"loss", loss}, {"lr", lr}, {"grad_norm", grad_norm},
                          {"tokens", tokens_seen}, {"tokens_per_second", tok_s}};
      if (peak > 0) m["mfu"] = tok_s * flops_per_token / peak;
      metrics.write(m);
      char extra[160];
      std::snprintf(extra, sizeof extra, "loss %.4f lr %.2e grad-norm %.3f %.0f tok/s", loss, lr, grad_norm, tok_s);
      if (peak > 0) std::snprintf(extra + std::strlen(extra), sizeof extra - std::strlen(extra), " MFU %.1f%%", 100 * tok_s * flops_per_token / peak);
      progress.set_extra(extra);
      progress.update(step);
      sum.final_loss = loss;
      if (o.save_every > 0 && step % o.save_every == 0 && step < total_steps) save_checkpoint(step);
      if (o.eval_every > 0 && step % o.eval_every == 0) metrics.write({{"step", step}, {"val_loss", validate()}});
      if (on_step) on_step(step, loss, model);
    }
  }
  progress.finish();
  sum.steps = step;
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  sum.tokens_per_second = sum.seconds > 0 ? tokens_seen / sum.seconds : 0;
  sum.val_loss = validate();
  if (sum.val_loss >= 0) metrics.write({{"step", step}, {"val_loss", sum.val_loss}});
  save_checkpoint(step);
  const std::string tokenizer = base.tokenizer->path();  // tokenizer.model, or tokenizer.json (its siblings follow)
  if (lora) {
    // With --merge, OUT is the merged model and the adapter goes to OUT/adapter: transformers'
    // from_pretrained(OUT) would otherwise apply an adapter_config.json it finds there on top of
    // the weights that already hold it.
    const std::string adapter_dir = o.merge ? (out / "adapter").string() : out.string();
    save_adapter(adapter_dir, *model.lora(), fs::absolute(o.model_dir).string());
    if (o.merge) {
      // Merged in fp32 on the CPU from the saved adapter, whatever the training dtype: the same
      // weights PEFT's merge_and_unload gives for this adapter on the fp32 base.
      ModelBundle full = load_model(o.model_dir, {.device = "cpu", .dtype = "fp32"});
      full.model->set_lora(load_adapter(adapter_dir, full.config, at::kCPU));
      merge_lora(*full.model);
      write_model_files(out.string(), *full.model, {.tokenizer_path = tokenizer});
      write_trained_template(out.string(), tmpl);
    }
  } else {
    write_model_files(out.string(), model, {.tokenizer_path = tokenizer});
    write_trained_template(out.string(), tmpl);  // eval's and serve's `auto` then render as trained
  }
  return sum;
}

}  // namespace s2d
