#include "s2d/train/distill.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <span>

#include "run_checkpoints.h"
#include "s2d/model/checkpoint.h"
#include "s2d/model/device.h"
#include "s2d/model/graph_memory.h"
#include "s2d/model/lora.h"
#include "s2d/text/chat_template.h"
#include "s2d/train/captured_train_step.h"
#include "s2d/train/trainer.h"
#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "s2d/util/json.h"
#include "s2d/util/jsonl.h"
#include "s2d/util/log.h"
#include "s2d/util/progress.h"

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

// One `s2d distill` run as named steps: the constructor checks the options, loads the base model,
// claims the output directory, reads the data and resumes; train() walks the optimizer steps;
// write_result() writes the model or adapter that OUT ends with.
class DistillRun {
 public:
  explicit DistillRun(const DistillOptions& o)
      : o_(o), out_(o.out_dir), lora_(o.lora_rank > 0), packing_(parse_packing(o.packing)) {
    check_options();
    // --overwrite removes the directory: none of the inputs may be in it.
    check_output_dir(o_.out_dir, {o_.model_dir, o_.data_path, o_.val_path});
    load_base();
    claim_output_dir();
    load_data();
    resume_or_start();
  }

  DistillSummary train(const std::function<void(int64_t, double, LlamaModel&)>& on_step);
  void write_result();

 private:
  void check_options() const {
    if (o_.batch_size < 1 || o_.grad_accum < 1)
      throw_input("must be >= 1", {.field = o_.batch_size < 1 ? "--batch-size" : "--grad-accum"});
    if (o_.schedule != "cosine" && o_.schedule != "linear" && o_.schedule != "constant")
      throw_input("unknown schedule",
                  {.field = "--schedule", .expected = "cosine|linear|constant", .found = o_.schedule});
    if (!lora_ && o_.merge_adapter) throw_input("--merge is for LoRA", {.field = "--merge", .hint = "add --lora-rank"});
    if (o_.cuda_graph && packing_ == Packing::On)
      throw_input("a captured step replays one padded shape",
                  {.field = "--packing", .expected = "off or auto with --cuda-graph", .found = "on"});
    // Numbers that would train silently wrong (a negative rate ascends the loss) or fail only at
    // the first step (NaN) are refused before the model loads.
    auto finite = [](const char* flag, double v, double lo, bool lo_open, const char* expected) {
      if (!std::isfinite(v) || v < lo || (lo_open && v == lo))
        throw_input("out of range", {.field = flag, .expected = expected, .found = std::to_string(v)});
    };
    finite("--lr", o_.lr, 0, true, "a finite number > 0");
    finite("--weight-decay", o_.weight_decay, 0, false, "a finite number >= 0");
    finite("--max-grad-norm", o_.max_grad_norm, 0, false, "a finite number >= 0 (0 = off)");
    finite("--peak-tflops", o_.peak_tflops, 0, false, "a finite number >= 0");
    if (lora_) finite("--lora-alpha", o_.lora_alpha, 0, true, "a finite number > 0");
    for (const auto& [flag, v] : {std::pair{"--warmup-steps", o_.warmup_steps},
                                  std::pair{"--save-every", o_.save_every}, std::pair{"--eval-every", o_.eval_every}})
      if (v < 0) throw_input("must not be negative", {.field = flag, .expected = ">= 0", .found = std::to_string(v)});
    if (o_.keep_checkpoints < 1)  // --resume needs the newest one
      throw_input("out of range",
                  {.field = "--keep-checkpoints", .expected = ">= 1", .found = std::to_string(o_.keep_checkpoints)});
    if (o_.max_steps <= 0 && o_.epochs < 1)
      throw_input("nothing to train",
                  {.field = "--epochs", .expected = ">= 1 (or --max-steps > 0)", .found = std::to_string(o_.epochs)});
  }

  // The base model in the dtype it trains from (fp32 master weights; see training_weight_dtype),
  // its tokenizer and template.
  void load_base() {
    precision_ = parse_precision(o_.precision);
    weight_dtype_ = training_weight_dtype(lora_, resolve_device(o_.device), precision_);
    if (precision_ == Precision::Bf16 && !resolve_device(o_.device).is_cuda())
      log::warn(
          "--precision bf16 on the CPU: its bf16 kernels are slower than fp32 ones (about 12x on a "
          "2-layer model); it is meant for CUDA");
    base_ =
        load_model(o_.model_dir, {.device = o_.device, .dtype = dtype_name(weight_dtype_), .require_tokenizer = true});
    tmpl_ = std::make_unique<ChatTemplate>(
        load_chat_template(o_.model_dir, *base_.tokenizer, o_.chat_template,
                           template_kwargs(o_.chat_template_kwargs, "--chat-template-kwargs")));
  }

  // The output directory: a fresh run, a resume of the same run, or --overwrite.
  void claim_output_dir() {
    const nlohmann::json identity = distill_identity(o_, tmpl_->name());
    const fs::path cfg_path = out_ / "train_config.json";
    if (fs::exists(out_) && !fs::is_empty(out_)) {
      if (o_.overwrite) {
        remove_tree(out_.string());
      } else if (!fs::exists(cfg_path)) {
        throw_input("output directory is not empty and holds no s2d run",
                    {.file = o_.out_dir, .hint = "choose another --out or pass --overwrite"});
      } else {
        const auto prev = parse_json_or_discarded(read_file(cfg_path.string()));
        if (prev != identity) {
          throw_input("output directory holds a different run",
                      {.file = o_.out_dir,
                       .field = differing_keys(prev, identity),
                       .hint = "pass --overwrite to replace it, or another --out"});
        }
        if (!o_.resume)
          throw_input("output directory holds this run already",
                      {.file = o_.out_dir, .hint = "pass --resume to continue it, or --overwrite"});
      }
    }
    fs::create_directories(out_);
    write_file_atomic(cfg_path.string(), identity.dump(2) + "\n");
  }

  void load_data() {
    train_ = load_sft(o_.data_path, *base_.tokenizer, *tmpl_, o_.max_seq_len, &stats_);
    if (!o_.val_path.empty()) {
      val_ = load_sft(o_.val_path, *base_.tokenizer, *tmpl_, o_.max_seq_len, nullptr);
    } else {
      split_validation(train_, val_, o_.val_fraction, o_.seed);
    }
    if (stats_.truncated > 0)
      log::warn(std::to_string(stats_.truncated) + " examples longer than --max-seq-len " +
                std::to_string(o_.max_seq_len) + " were truncated");
    if (stats_.dropped_no_target > 0)
      log::warn(std::to_string(stats_.dropped_no_target) +
                " examples lost every answer token to truncation and were dropped");
    const auto first_epoch = epoch_batches(train_, o_.batch_size, o_.seed, 0);
    const auto batches_per_epoch = static_cast<int64_t>(first_epoch.size());
    if (o_.cuda_graph) {
      fix_shapes(first_epoch);
    } else if (packing_ == Packing::Auto) {  // say what auto chose
      int64_t packed = 0;
      for (const auto& rows : first_epoch) packed += packs(packing_, train_, rows);
      log::info(c10::str("packing ", packed, " of ", batches_per_epoch,
                         " micro-batches of an epoch: those whose padding would be >= 10% of their positions "
                         "(--packing on|off decides for all)"));
    }
    const int64_t steps_per_epoch = std::max<int64_t>(1, (batches_per_epoch + o_.grad_accum - 1) / o_.grad_accum);
    const int64_t total_steps = o_.max_steps > 0 ? o_.max_steps : steps_per_epoch * o_.epochs;
    opt_ = {o_.lr, o_.weight_decay, 0.9, 0.999, 1e-8, o_.max_grad_norm, o_.warmup_steps, o_.schedule, total_steps};
  }

  // Weights and optimizer state of the newest checkpoint under --resume; else the base model
  // (with a fresh adapter for LoRA).
  void resume_or_start() {
    const auto ckpts = list_checkpoints(out_);
    if (o_.resume && !ckpts.empty()) {
      const auto& [step, dir] = ckpts.back();
      if (lora_) {
        base_.model->set_lora(load_adapter(dir.string(), base_.config, base_.model->options().device()));
      } else {
        base_.model = load_model(dir.string(),
                                 {.device = o_.device, .dtype = dtype_name(weight_dtype_), .require_tokenizer = false})
                          .model;
      }
      start_step_ = step;
      log::info("resuming from " + dir.string());
    } else if (o_.resume) {
      log::warn("--resume: no checkpoint in " + o_.out_dir + " yet; starting from the base model");
    }
    LlamaModel& model = *base_.model;
    if (lora_ && !model.lora()) {
      model.set_lora(init_lora(base_.config, {o_.lora_rank, o_.lora_alpha, o_.lora_dropout, o_.lora_targets},
                               model.options().device(), o_.seed));
    }
    at::manual_seed(o_.seed);  // LoRA dropout
    trainer_ = std::make_unique<Trainer>(model, opt_, precision_);
    if (start_step_ > 0)
      trainer_->load_state(load_optimizer((ckpts.back().second / "optimizer.safetensors").string(), device()),
                           start_step_);
  }

  c10::Device device() const { return base_.model->options().device(); }

  // --cuda-graph: the shapes micro-batches are padded to, and what share of an epoch is padding.
  void fix_shapes(const std::vector<std::vector<size_t>>& first_epoch) {
    shapes_ = fixed_batch_shapes(train_, o_.batch_size);
    double real = 0, positions = 0;
    std::string sizes;
    for (const auto& s : shapes_) sizes += (sizes.empty() ? "" : ", ") + std::to_string(s.tokens);
    for (size_t k = 0; k < first_epoch.size(); k += static_cast<size_t>(o_.grad_accum)) {
      const auto step = std::span(first_epoch).subspan(k, std::min<size_t>(o_.grad_accum, first_epoch.size() - k));
      for (const auto& rows : step)
        for (const size_t r : rows) real += static_cast<double>(train_[r].ids.size());
      positions += static_cast<double>(o_.grad_accum * step_shape(step).positions());
    }
    log::info(c10::str("--cuda-graph: micro-batches of ", o_.batch_size, " rows padded to ", sizes,
                       " tokens (a CUDA graph each, in one memory pool); ",
                       std::lround(100.0 * (1.0 - real / std::max(1.0, positions))),
                       "% of the positions an epoch computes are padding"));
    if (!device().is_cuda())
      log::warn("--cuda-graph off CUDA: no graphs there; each step runs eagerly at its fixed shape");
  }

  // The shape of a captured step's micro-batches: the smallest that holds all of them.
  const FixedBatchShape& step_shape(std::span<const std::vector<size_t>> step) const {
    int64_t longest = 0;
    for (const auto& rows : step)
      for (const size_t r : rows) longest = std::max(longest, static_cast<int64_t>(train_[r].ids.size()));
    return shape_for(shapes_, longest);
  }

  // The captured step for micro-batches of `shape`, made on first use.
  CapturedTrainStep& captured_step(const FixedBatchShape& shape) {
    auto& step = captured_[shape.tokens];
    if (!step) step = std::make_unique<CapturedTrainStep>(*trainer_, graph_memory_);
    return *step;
  }

  void checkpoint(int64_t step) {
    save_checkpoint(out_, step, *base_.model, *trainer_, o_.model_dir, o_.keep_checkpoints);
  }

  // Mean loss per target token over the validation set; -1 without one.
  double validation_loss() {
    if (val_.empty()) return -1.0;
    double sum = 0;
    int64_t n = 0;
    for (size_t i = 0; i < val_.size(); i += static_cast<size_t>(o_.batch_size)) {
      std::vector<size_t> rows;
      for (size_t k = i; k < std::min(val_.size(), i + static_cast<size_t>(o_.batch_size)); ++k) rows.push_back(k);
      Batch b = make_batch(val_, rows, device(), packs(packing_, val_, rows));
      sum += trainer_->evaluate(b) * static_cast<double>(b.target_tokens);
      n += b.target_tokens;
    }
    return sum / static_cast<double>(std::max<int64_t>(1, n));
  }

  // A step's figures, still on the device: read after the next step is queued, so that the host
  // never waits for the device in the middle of training.
  struct StepFigures {
    int64_t step = 0, epoch = 0, tokens = 0;
    double lr = 0;
    at::Tensor loss, grad_norm;  // 0-dim: loss per target token, pre-clip gradient norm
  };

  // Gradients over micro-batches [first, first + grad_accum) of `batches`, then the optimizer step.
  // A captured step always runs grad_accum micro-batches, at one shape: an epoch's last step, when
  // it has fewer, runs empty ones (nothing counted) in their place.
  StepFigures train_step(const std::vector<std::vector<size_t>>& batches, size_t first, int64_t step, int64_t epoch) {
    const auto rows = std::span(batches).subspan(first, std::min<size_t>(o_.grad_accum, batches.size() - first));
    const FixedBatchShape* shape = o_.cuda_graph ? &step_shape(rows) : nullptr;
    std::vector<Batch> micro;
    int64_t step_tokens = 0;
    for (size_t k = 0; k < (shape ? static_cast<size_t>(o_.grad_accum) : rows.size()); ++k) {
      static const std::vector<size_t> kNoRows;
      const auto& r = k < rows.size() ? rows[k] : kNoRows;
      micro.push_back(shape ? make_fixed_batch(train_, r, device(), *shape)
                            : make_batch(train_, r, device(), packs(packing_, train_, r)));
      step_tokens += micro.back().target_tokens;
      tokens_seen_ += micro.back().tokens;
    }
    at::Tensor loss_sum;
    StepFigures f{step, epoch, tokens_seen_, lr_at(opt_, step)};
    if (shape) {
      CapturedTrainStep::Result r = captured_step(*shape).run(micro);
      loss_sum = r.loss_sum;
      f.grad_norm = r.grad_norm;
    } else {
      for (const auto& b : micro) {
        at::Tensor l = trainer_->accumulate(b, step_tokens);
        loss_sum = loss_sum.defined() ? loss_sum + l : l;
      }
      f.grad_norm = trainer_->step();
    }
    f.loss = loss_sum / static_cast<double>(std::max<int64_t>(1, step_tokens));
    return f;
  }

  // The loss per target token of a finished step; a non-finite one stops the run, naming the last
  // good checkpoint.
  double read_loss(const StepFigures& f) {
    const double loss = f.loss.item<double>();
    if (!std::isfinite(loss)) {
      const auto last = list_checkpoints(out_);
      throw_runtime(c10::str("loss is ", loss, " at step ", f.step, "; training stopped"),
                    {.hint = last.empty() ? "no checkpoint was written; lower --lr"
                                          : "the last good checkpoint is " + last.back().second.string() +
                                                "; lower --lr and --resume"});
    }
    return loss;
  }

  const DistillOptions& o_;
  const fs::path out_;
  const bool lora_;
  const Packing packing_;
  Precision precision_ = Precision::Auto;
  c10::ScalarType weight_dtype_ = at::kFloat;  // what the model trains from (training_weight_dtype)
  ModelBundle base_;
  std::unique_ptr<ChatTemplate> tmpl_;
  SftDataStats stats_;
  std::vector<SftExample> train_, val_;
  OptimizerOptions opt_;
  int64_t start_step_ = 0, tokens_seen_ = 0;
  std::unique_ptr<Trainer> trainer_;
  // --cuda-graph: the shapes of micro-batches, and a captured step for each, by its tokens.
  std::vector<FixedBatchShape> shapes_;
  std::shared_ptr<GraphMemory> graph_memory_ = make_graph_memory();
  std::map<int64_t, std::unique_ptr<CapturedTrainStep>> captured_;
};

DistillSummary DistillRun::train(const std::function<void(int64_t, double, LlamaModel&)>& on_step) {
  const double flops_per_token = train_flops_per_token(base_.config, lora_);
  const double peak = o_.peak_tflops > 0 ? o_.peak_tflops * 1e12 : (device().is_cuda() ? kCudaPeakBf16Flops : 0.0);
  const int64_t total_steps = opt_.total_steps;
  keep_metrics_through(out_ / "metrics.jsonl", start_step_);
  JsonlWriter metrics((out_ / "metrics.jsonl").string());
  Progress progress("distill", total_steps, "steps");
  progress.update(start_step_);
  DistillSummary sum;
  sum.examples = static_cast<int64_t>(train_.size());
  sum.truncated = stats_.truncated;
  sum.target_tokens = stats_.target_tokens;
  const auto t0 = std::chrono::steady_clock::now();

  // Writes a finished step's metrics and progress (reading its figures from the device).
  auto report = [&](const StepFigures& f) {
    const double loss = read_loss(f), grad_norm = f.grad_norm.item<double>();
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double tok_s = el > 0 ? static_cast<double>(f.tokens) / el : 0.0;
    nlohmann::json m = {
        {"step", f.step},     {"epoch", f.epoch},          {"loss", loss}, {"lr", f.lr}, {"grad_norm", grad_norm},
        {"tokens", f.tokens}, {"tokens_per_second", tok_s}};
    if (peak > 0) m["mfu"] = tok_s * flops_per_token / peak;
    metrics.write(m);
    char extra[160];
    std::snprintf(extra, sizeof extra, "loss %.4f lr %.2e grad-norm %.3f %.0f tok/s", loss, f.lr, grad_norm, tok_s);
    if (peak > 0)
      std::snprintf(extra + std::strlen(extra), sizeof extra - std::strlen(extra), " MFU %.1f%%",
                    100 * tok_s * flops_per_token / peak);
    progress.set_extra(extra);
    progress.update(f.step);
    sum.final_loss = loss;
    return loss;
  };

  // Walk the deterministic data order from the start, skipping what earlier runs did. Each step's
  // figures are reported once the next step is queued; a step that checkpoints, evaluates or calls
  // on_step is reported at once, since those read the model anyway.
  int64_t step = 0;
  std::optional<StepFigures> pending;
  for (int64_t epoch = 0; step < total_steps; ++epoch) {
    const auto batches = epoch_batches(train_, o_.batch_size, o_.seed, epoch);
    for (size_t bi = 0; bi < batches.size() && step < total_steps; bi += static_cast<size_t>(o_.grad_accum)) {
      ++step;
      if (step <= start_step_) continue;
      StepFigures f = train_step(batches, bi, step, epoch);
      if (pending) report(*pending);
      pending.reset();
      const bool saves = o_.save_every > 0 && step % o_.save_every == 0 && step < total_steps;
      const bool evaluates = o_.eval_every > 0 && step % o_.eval_every == 0;
      if (!saves && !evaluates && !on_step) {
        pending = std::move(f);
        continue;
      }
      const double loss = report(f);
      if (saves) checkpoint(step);
      if (evaluates) metrics.write({{"step", step}, {"val_loss", validation_loss()}});
      if (on_step) on_step(step, loss, *base_.model);
    }
  }
  if (pending) report(*pending);
  progress.finish();
  sum.steps = step;
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  sum.tokens_per_second = sum.seconds > 0 ? static_cast<double>(tokens_seen_) / sum.seconds : 0;
  sum.val_loss = validation_loss();
  if (sum.val_loss >= 0) metrics.write({{"step", step}, {"val_loss", sum.val_loss}});
  checkpoint(step);
  return sum;
}

void DistillRun::write_result() {
  const std::string tokenizer = base_.tokenizer->path();  // tokenizer.model, or tokenizer.json (its siblings follow)
  if (!lora_) {
    write_model_files(out_.string(), *base_.model, {.tokenizer_path = tokenizer});
    write_trained_template(out_.string(), *tmpl_);  // eval's and serve's `auto` then render as trained
    return;
  }
  // With --merge, OUT is the merged model and the adapter goes to OUT/adapter: transformers'
  // from_pretrained(OUT) would otherwise apply an adapter_config.json it finds there on top of
  // the weights that already hold it.
  const std::string adapter_dir = o_.merge_adapter ? (out_ / "adapter").string() : out_.string();
  save_adapter(adapter_dir, *base_.model->lora(), fs::absolute(o_.model_dir).string());
  if (o_.merge_adapter) {
    // Merged in fp32 on the CPU from the saved adapter, whatever the training dtype: the same
    // weights PEFT's merge_and_unload gives for this adapter on the fp32 base.
    ModelBundle full = load_model(o_.model_dir, {.device = "cpu", .dtype = "fp32"});
    full.model->set_lora(load_adapter(adapter_dir, full.config, at::kCPU));
    merge_lora(*full.model);
    write_model_files(out_.string(), *full.model, {.tokenizer_path = tokenizer});
    write_trained_template(out_.string(), *tmpl_);
  }
}

}  // namespace

DistillSummary run_distill(const DistillOptions& o, const std::function<void(int64_t, double, LlamaModel&)>& on_step) {
  DistillRun run(o);
  const DistillSummary sum = run.train(on_step);
  run.write_result();
  return sum;
}

}  // namespace s2d
