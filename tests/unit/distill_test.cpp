// s2d distill on a tiny random model: the loss mask, truncation, resume equal to an
// uninterrupted run, NaN handling, and the bad inputs the issue lists.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <ATen/core/grad_mode.h>
#include <cmath>
#include <functional>
#include "graphs_emulated.h"
#include "model_fixture.h"
#include "s2d/model/checkpoint.h"
#include "s2d/model/lora.h"
#include "s2d/train/distill.h"
#include "s2d/train/sft_data.h"
#include "s2d/util/error.h"
#include "s2d/util/jsonl.h"
#include "sp_fixture.h"
#include "test_util.h"

namespace s2d {
using namespace s2d::testing;

namespace {
// `n` examples; with `longer`, example i's question is said 1 + i % 4 times (about 20 to 60 tokens).
std::string sft_file(const std::string& dir, int n, bool longer = false) {
  std::string text;
  for (int i = 0; i < n; ++i) {
    std::string question;
    for (int k = 0; k <= (longer ? i % 4 : 0); ++k) question += "A coin is heads up. Is the coin still heads up? ";
    text += nlohmann::json{{"id", "e" + std::to_string(i)},
                           {"messages",
                            {{{"role", "user"}, {"content", question + std::to_string(i)}},
                             {{"role", "assistant"}, {"content", i % 2 ? "No" : "Yes"}}}}}
                .dump() +
            "\n";
  }
  write_text(dir + "/sft.jsonl", text);
  return dir + "/sft.jsonl";
}

std::string model_dir(const std::string& dir) {
  save_model(dir + "/base", random_model(tiny_config(400, 128), 5), {.tokenizer_path = tiny_tokenizer_path()});
  return dir + "/base";
}

DistillOptions opts(const std::string& model, const std::string& data, const std::string& out) {
  DistillOptions o;
  o.model_dir = model;
  o.data_path = data;
  o.out_dir = out;
  o.chat_template = "llama-2";
  o.device = "cpu";
  o.batch_size = 4;
  o.max_steps = 6;
  o.lr = 1e-3;
  o.warmup_steps = 2;
  return o;
}

// Runs `b` with a checkpoint every 2 steps, killed after step 3, then resumed: each step's loss.
std::map<int64_t, double> cut_and_resume(DistillOptions b) {
  std::map<int64_t, double> losses;
  b.save_every = 2;
  struct Interrupt {};
  try {
    run_distill(b, [&](int64_t s, double l, LlamaModel&) {
      losses[s] = l;
      if (s == 3) throw Interrupt{};  // killed after step 3; the newest checkpoint is step 2
    });
    ADD_FAILURE() << "not interrupted";
  } catch (const Interrupt&) {
  }
  b.resume = true;
  // A stray directory whose step overflows an int64 is not one of ours: ignored, not a crash.
  const std::string stray = b.out_dir + "/checkpoints/step-99999999999999999999";
  std::filesystem::create_directories(stray);
  write_text(stray + "/trainer_state.json", "{}");
  run_distill(b, [&](int64_t s, double l, LlamaModel&) { losses[s] = l; });
  return losses;
}
}  // namespace

TEST(SftData, LossMaskCoversTheAnswerOnly) {
  const auto dir = fresh_dir("d");
  const auto& tok = tiny_tokenizer();
  SftDataStats st;
  auto data = load_sft(sft_file(dir, 3), tok, ChatTemplate::by_name("llama-2"), 512, &st);
  ASSERT_EQ(data.size(), 3u);
  for (const auto& e : data) {
    std::vector<int> target;
    for (size_t t = 0; t < e.ids.size(); ++t)
      if (e.loss_mask[t]) target.push_back(e.ids[t]);
    ASSERT_FALSE(target.empty());
    EXPECT_EQ(target.back(), tok.eos_id()) << "the answer's EOS is learned too";
    const std::string answer = tok.decode(target);
    EXPECT_TRUE(answer == "Yes" || answer == "No") << answer;
  }
  EXPECT_EQ(st.truncated, 0);
  // Cut so short that the answer is gone: counted and dropped, and nothing left is an error.
  EXPECT_S2D_ERROR(load_sft(dir + "/sft.jsonl", tok, ChatTemplate::by_name("llama-2"), 8, &st), ErrorKind::Input,
                   "no example keeps an assistant token", "--max-seq-len");
}

TEST(Distill, ResumeReproducesTheUninterruptedLossCurve) {
  const auto dir = fresh_dir("d");
  const auto model = model_dir(dir), data = sft_file(dir, 24);
  std::map<int64_t, double> full, resumed;
  auto a = opts(model, data, dir + "/full");
  run_distill(a, [&](int64_t s, double l, LlamaModel&) { full[s] = l; });
  ASSERT_EQ(full.size(), 6u);
  EXPECT_LT(full[6], full[1]) << "the loss should go down";

  auto b = opts(model, data, dir + "/cut");
  resumed = cut_and_resume(b);
  for (int64_t s = 1; s <= 6; ++s) EXPECT_NEAR(resumed[s], full[s], 1e-6) << "step " << s;
  // metrics.jsonl: step 3, done twice, is logged once.
  std::vector<int64_t> logged;
  for (const auto& m : read_jsonl_all(dir + "/cut/metrics.jsonl"))
    if (m.contains("loss")) logged.push_back(m["step"].get<int64_t>());
  EXPECT_EQ(logged, (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  // The final model loads and is the same as the uninterrupted one.
  auto m1 = load_model(dir + "/full", {.device = "cpu"}), m2 = load_model(dir + "/cut", {.device = "cpu"});
  EXPECT_LT((m1.model->weights().embed - m2.model->weights().embed).abs().max().item<double>(), 1e-6);
}

TEST(Distill, Bf16PrecisionTrainsAndResumesBitForBit) {
  // --precision bf16: bf16 weights with fp32 masters, whose bits the checkpoints keep.
  const auto dir = fresh_dir("d");
  const auto model = model_dir(dir), data = sft_file(dir, 24);
  auto a = opts(model, data, dir + "/full");
  a.precision = "bf16";
  std::map<int64_t, double> full;
  run_distill(a, [&](int64_t s, double l, LlamaModel& m) {
    full[s] = l;
    EXPECT_EQ(m.weights().embed.scalar_type(), at::kBFloat16);
  });
  ASSERT_EQ(full.size(), 6u);
  EXPECT_LT(full[6], full[1]) << "the loss should go down";
  auto b = opts(model, data, dir + "/cut");
  b.precision = "bf16";
  const auto resumed = cut_and_resume(b);
  for (int64_t s = 1; s <= 6; ++s) EXPECT_EQ(resumed.at(s), full[s]) << "step " << s;
  auto m1 = load_model(dir + "/full", {.device = "cpu"}), m2 = load_model(dir + "/cut", {.device = "cpu"});
  EXPECT_TRUE(at::equal(m1.model->weights().embed, m2.model->weights().embed));
}

TEST(Distill, PackedAndPaddedBatchesTrainTheSameCurve) {
  const auto dir = fresh_dir("d");
  const auto model = model_dir(dir), data = sft_file(dir, 24);
  std::map<int64_t, double> packed, padded;
  auto on = opts(model, data, dir + "/packed");
  on.packing = "on";
  run_distill(on, [&](int64_t s, double l, LlamaModel&) { packed[s] = l; });
  auto o = opts(model, data, dir + "/padded");
  o.packing = "off";
  const auto sum = run_distill(o, [&](int64_t s, double l, LlamaModel&) { padded[s] = l; });
  ASSERT_EQ(packed.size(), 6u);
  for (int64_t s = 1; s <= 6; ++s) EXPECT_NEAR(packed[s], padded[s], 1e-4) << "step " << s;
  EXPECT_GT(sum.tokens_per_second, 0);
}

TEST(Distill, CudaGraphStepsTrainTheEagerCurveAndResume) {
  // --cuda-graph pads micro-batches to a few shapes (here 32 tokens and the longest, 65); on
  // the CPU its steps run eagerly there, audited as captures and replays (graphs_emulated.h). Five
  // micro-batches an epoch at two a step: each epoch's last step adds an empty one.
  const GraphsEmulatedOnCpu emulated;
  const auto dir = fresh_dir("d");
  const auto model = model_dir(dir), data = sft_file(dir, 24, /*longer=*/true);
  auto with = [&](const std::string& out, bool graph) {
    auto o = opts(model, data, dir + out);
    o.batch_size = 5, o.grad_accum = 2, o.packing = "off", o.cuda_graph = graph;
    return o;
  };
  std::map<int64_t, double> eager, graph;
  run_distill(with("/eager", false), [&](int64_t s, double l, LlamaModel&) { eager[s] = l; });
  run_distill(with("/graph", true), [&](int64_t s, double l, LlamaModel&) { graph[s] = l; });
  ASSERT_EQ(graph.size(), 6u);
  for (int64_t s = 1; s <= 6; ++s) EXPECT_NEAR(graph[s], eager[s], 1e-5 * eager[s]) << "step " << s;
  const auto resumed = cut_and_resume(with("/cut", true));
  for (int64_t s = 1; s <= 6; ++s) EXPECT_EQ(resumed.at(s), graph[s]) << "step " << s;
  auto m1 = load_model(dir + "/graph", {.device = "cpu"}), m2 = load_model(dir + "/cut", {.device = "cpu"});
  EXPECT_TRUE(at::equal(m1.model->weights().embed, m2.model->weights().embed));
}

TEST(Distill, NanLossStopsWithTheLastGoodCheckpoint) {
  const auto dir = fresh_dir("d");
  auto o = opts(model_dir(dir), sft_file(dir, 24), dir + "/run");
  o.save_every = 2;
  EXPECT_S2D_ERROR(run_distill(o,
                               [](int64_t s, double, LlamaModel& m) {
                                 if (s == 2) m.weights().final_norm.detach().fill_(NAN);
                               }),
                   ErrorKind::Runtime, "loss is nan at step 3", "step-000002");
  EXPECT_TRUE(std::filesystem::exists(dir + "/run/checkpoints/step-000002/model.safetensors"));
}

TEST(Distill, BadInputs) {
  const auto dir = fresh_dir("d");
  const auto model = model_dir(dir), data = sft_file(dir, 8);
  write_text(dir + "/empty.jsonl", "");
  EXPECT_S2D_ERROR(run_distill(opts(model, dir + "/empty.jsonl", dir + "/o1")), ErrorKind::Input, "empty");

  save_model(dir + "/notok", random_model(tiny_config(400, 128), 5));
  EXPECT_S2D_ERROR(run_distill(opts(dir + "/notok", data, dir + "/o2")), ErrorKind::Input, "no tokenizer");

  run_distill(opts(model, data, dir + "/o3"));
  auto other = opts(model, data, dir + "/o3");
  other.lr = 5e-4;
  EXPECT_S2D_ERROR(run_distill(other), ErrorKind::Input, "holds a different run", "lr", "--overwrite");
  auto fp32 = opts(model, data, dir + "/o3");  // precision defines the run too: it changes the numerics on CUDA
  fp32.precision = "fp32";
  EXPECT_S2D_ERROR(run_distill(fp32), ErrorKind::Input, "holds a different run", "precision");
  other.overwrite = true;
  EXPECT_NO_THROW(run_distill(other));

  std::filesystem::create_directories(dir + "/busy");
  write_text(dir + "/busy/notes.txt", "mine");
  EXPECT_S2D_ERROR(run_distill(opts(model, data, dir + "/busy")), ErrorKind::Input, "holds no s2d run");
  EXPECT_EQ(read_text(dir + "/busy/notes.txt"), "mine");

  // Numbers that trained silently wrong (a negative rate) or failed at the first step (NaN).
  const std::vector<std::pair<std::function<void(DistillOptions&)>, std::vector<const char*>>> bad = {
      {[](DistillOptions& x) { x.lr = -1; }, {"--lr", "> 0", "-1"}},
      {[](DistillOptions& x) { x.lr = std::nan(""); }, {"--lr", "finite"}},
      {[](DistillOptions& x) { x.weight_decay = std::nan(""); }, {"--weight-decay"}},
      {[](DistillOptions& x) { x.max_grad_norm = -1; }, {"--max-grad-norm", "0 = off"}},
      {[](DistillOptions& x) { x.warmup_steps = -3; }, {"--warmup-steps", ">= 0", "-3"}},
      {[](DistillOptions& x) { x.lora_rank = 2, x.lora_alpha = std::nan(""); }, {"--lora-alpha"}},
      {[](DistillOptions& x) { x.max_steps = 0, x.epochs = 0; }, {"--epochs", "nothing to train"}},
      {[](DistillOptions& x) { x.keep_checkpoints = 0; }, {"--keep-checkpoints", ">= 1", "0"}},
      {[](DistillOptions& x) { x.cuda_graph = true, x.packing = "on"; }, {"--packing", "--cuda-graph", "found on"}},
  };
  for (const auto& [change, fragments] : bad) {
    auto o = opts(model, data, dir + "/never");
    change(o);
    try {
      run_distill(o);
      ADD_FAILURE() << "accepted: " << fragments[0];
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Input) << e.what();
      for (const char* f : fragments) EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
    }
    EXPECT_FALSE(std::filesystem::exists(dir + "/never")) << fragments[0];
  }
}

}  // namespace s2d

namespace s2d {
using namespace s2d::testing;

TEST(Distill, LoraTrainsOnlyTheAdapterAndMergesOnRequest) {
  const auto dir = fresh_dir("d");
  const auto model = model_dir(dir), data = sft_file(dir, 24);
  auto o = opts(model, data, dir + "/lora");
  o.lora_rank = 4;
  o.lora_targets = {"q", "v", "gate", "down"};
  o.merge_adapter = true;
  o.save_every = 3;
  std::map<int64_t, double> losses;
  run_distill(o, [&](int64_t s, double l, LlamaModel&) { losses[s] = l; });
  EXPECT_LT(losses[6], losses[1]);
  for (const char* f : {"adapter/adapter_config.json", "adapter/adapter_model.safetensors", "config.json",
                        "model.safetensors", "tokenizer.model"})
    EXPECT_TRUE(std::filesystem::exists(dir + "/lora/" + f)) << f;
  EXPECT_FALSE(
      std::filesystem::exists(dir + "/lora/adapter_config.json"));  // transformers would apply it to the merged weights
  auto cfg = nlohmann::json::parse(read_text(dir + "/lora/adapter/adapter_config.json"));
  EXPECT_EQ(cfg["r"], 4);
  EXPECT_EQ(cfg["target_modules"], (nlohmann::json{"q_proj", "v_proj", "gate_proj", "down_proj"}));
  // The base's untargeted weights are untouched by a merged LoRA run; targeted ones moved.
  auto base = load_model(model, {.device = "cpu"}), merged = load_model(dir + "/lora", {.device = "cpu"});
  const auto& b0 = base.model->weights().layers[0];
  const auto& m0 = merged.model->weights().layers[0];
  EXPECT_TRUE(at::equal(b0.k_proj, m0.k_proj));
  EXPECT_FALSE(at::equal(b0.q_proj, m0.q_proj));
  // The adapter applied to the base equals the merged model.
  base.model->set_lora(load_adapter(dir + "/lora/adapter", base.config, at::kCPU));
  at::NoGradGuard no_grad;
  at::Tensor ids = at::randint(3, 400, {2, 9}, at::kLong), mask = at::ones({2, 9}, at::kLong);
  EXPECT_LT(
      (base.model->forward_padded(ids, mask) - merged.model->forward_padded(ids, mask)).abs().max().item<double>(),
      1e-4);
}

TEST(Distill, LoraTargetThatNamesNoModule) {
  const auto dir = fresh_dir("d");
  auto o = opts(model_dir(dir), sft_file(dir, 8), dir + "/x");
  o.lora_rank = 4;
  o.lora_targets = {"q", "qkv"};
  EXPECT_S2D_ERROR(run_distill(o), ErrorKind::Input, "--lora-targets", "qkv");
}

TEST(Distill, LoraRankAboveATargetsSmallerSideIsRefused) {  // 1e9 aborted in the allocator before
  const auto dir = fresh_dir("d");
  auto o = opts(model_dir(dir), sft_file(dir, 8), dir + "/x");
  o.lora_rank = 1000000000;
  EXPECT_S2D_ERROR(run_distill(o), ErrorKind::Input, "--lora-rank", "LoRA rank larger than a target matrix",
                   "<= ", "1000000000");
}

}  // namespace s2d
