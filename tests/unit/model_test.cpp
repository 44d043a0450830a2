// Model-layer tests that need no reference: KV-cache consistency, padding invariance, and the
// loader's errors on broken checkpoints. (Agreement with HF lives in tests/conformance/.)
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "model_fixture.h"
#include "s2d/model/checkpoint.h"
#include "s2d/model/device.h"
#include "s2d/model/lora.h"
#include "s2d/model/safetensors.h"
#include "s2d/model/weight_names.h"
#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "test_util.h"

namespace s2d {
using namespace s2d::testing;

namespace {
void rewrite_weights(const std::string& dir, const std::function<void(std::vector<StTensorView>&)>& edit) {
  std::string path = dir + "/model.safetensors";
  std::vector<uint8_t> keep;  // the file is rewritten in place, so copy the bytes out first
  std::vector<StTensorView> ts;
  {
    SafetensorsFile f(path);
    size_t total = 0;
    for (const auto& [n, v] : f.tensors()) total += v.nbytes;
    keep.resize(total);
    size_t off = 0;
    for (const auto& [n, v] : f.tensors()) {
      std::memcpy(keep.data() + off, v.data, v.nbytes);
      ts.push_back({n, v.dtype, v.shape, keep.data() + off, v.nbytes});
      off += v.nbytes;
    }
  }
  edit(ts);
  write_safetensors(path, ts);
}
}  // namespace

TEST(Llama, KvCacheDecodeMatchesFullForward) {
  c10::InferenceMode guard;
  auto m = random_model(tiny_config());
  at::Tensor ids = at::randint(3, 50, {2, 12}, at::kLong);
  at::Tensor mask = at::ones({2, 12}, at::kLong);
  mask.index_put_({1, at::indexing::Slice(0, 4)}, 0);  // row 1 is left-padded by 4
  at::Tensor full = m.forward_padded(ids, mask);       // [2, 12, V]

  KVCache cache(m.config(), 2, 12, m.options());
  at::Tensor pos = positions_from_mask(mask);
  const int64_t P = 7;  // prefill 7 columns, then decode 5 one by one
  at::Tensor out = m.forward(ids.slice(1, 0, P), pos.slice(1, 0, P), mask.slice(1, 0, P), &cache);
  std::vector<at::Tensor> parts{out};
  for (int64_t t = P; t < 12; ++t)
    parts.push_back(m.forward(ids.slice(1, t, t + 1), pos.slice(1, t, t + 1), mask.slice(1, 0, t + 1), &cache));
  at::Tensor incremental = at::cat(parts, 1);
  at::Tensor real = mask.to(at::kBool);
  const double diff = (incremental - full).abs().amax(-1).masked_select(real).max().item<double>();
  EXPECT_LT(diff, 1e-4);  // fp32 reassociation noise is ~1e-6; a bug is O(1)
  EXPECT_EQ(cache.length, 12);
  EXPECT_S2D_ERROR(m.forward(ids.slice(1, 0, 1), pos.slice(1, 0, 1), at::ones({2, 13}, at::kLong), &cache),
                   ErrorKind::Runtime, "KV cache is full");
}

// A cached decode on fp32 CPU runs through the decode panels (a copy of the weights); a change made
// through weights() must reach it, as it reaches the uncached forward.
TEST(Llama, DecodeSeesWeightsChangedAfterItsFirstStep) {
  c10::InferenceMode guard;
  auto m = random_model(tiny_config(), 2);
  at::Tensor ids = at::randint(3, 50, {2, 6}, at::kLong), mask = at::ones({2, 6}, at::kLong);
  auto cached = [&] {
    KVCache cache(m.config(), 2, 6, m.options());
    return m.forward(ids, positions_from_mask(mask), mask, &cache);  // [2, 6, V]
  };
  EXPECT_LT((cached() - m.forward_padded(ids, mask)).abs().max().item<double>(), 1e-4);
  m.weights().layers[0].o_t.mul_(3);
  m.weights().lm_head_t.add_(0.5);
  EXPECT_LT((cached() - m.forward_padded(ids, mask)).abs().max().item<double>(), 1e-4);
}

namespace {
// The engine's prefill without padding against the right-padded one, which computes every prompt
// whole: each prompt's last logits and its keys and values per layer, within `tol`. `shared` and
// `cached` (empty, or one per prompt) make prompts start as earlier ones do, or with tokens whose
// keys and values are given, and those rows must be computed once, or not at all. A cached start's
// keys and values come from another prompt that starts the same way and goes on differently, as
// a busy slot's columns would.
void expect_packed_prefill_gives_the_padded_one(const LlamaModel& m, const std::vector<int64_t>& lens,
                                                const std::vector<SharedStart>& shared,
                                                const std::vector<int64_t>& cached, double tol) {
  const ModelConfig& c = m.config();
  const c10::Device device = m.options().device();
  const auto B = static_cast<int64_t>(lens.size());
  const int64_t T = *std::max_element(lens.begin(), lens.end());
  int64_t L = 0, computed = 0;
  std::vector<at::Tensor> prompts;
  std::vector<LlamaModel::CachedStart> starts(cached.size());
  for (int64_t b = 0; b < B; ++b) {
    at::Tensor p = at::randint(3, 50, {lens[b]}, at::kLong);
    const auto s = shared.empty() ? SharedStart{} : shared[static_cast<size_t>(b)];
    if (s.tokens > 0) p.narrow(0, 0, s.tokens).copy_(prompts[static_cast<size_t>(s.prompt)].narrow(0, 0, s.tokens));
    const int64_t n = cached.empty() ? 0 : cached[static_cast<size_t>(b)];
    if (n > 0) {
      const at::Tensor other = at::cat({p.narrow(0, 0, n), at::randint(3, 50, {3}, at::kLong)}).view({1, n + 3});
      KVCache source(c, 1, n + 3, m.options());
      m.prefill_right_padded(other.to(device), at::tensor({n + 3}).to(device), source);
      auto& start = starts[static_cast<size_t>(b)];
      start.tokens = n;
      for (size_t l = 0; l < source.k.size(); ++l) {
        start.k.push_back(source.k[l][0].narrow(1, 0, n));
        start.v.push_back(source.v[l][0].narrow(1, 0, n));
      }
    }
    prompts.push_back(p);
    L += lens[b];
    computed += lens[b] - s.tokens - n;
  }
  at::Tensor padded = at::zeros({B, T}, at::kLong);
  for (int64_t b = 0; b < B; ++b) padded[b].narrow(0, 0, lens[b]).copy_(prompts[static_cast<size_t>(b)]);
  KVCache cache(c, B, T, m.options());
  const at::Tensor want = m.prefill_right_padded(padded.to(device), at::tensor(lens).to(device), cache);  // [B, V]
  const LlamaModel::PackedPrefill got =
      m.prefill_packed(at::cat(prompts).view({1, L}).to(device), lens, shared, starts);
  EXPECT_EQ(got.computed_tokens, computed);
  const auto diff = [](const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); };
  ASSERT_EQ(got.last_logits.sizes(), want.sizes());
  EXPECT_LT(diff(got.last_logits, want), tol);
  ASSERT_EQ(got.k.size(), cache.k.size());
  for (size_t l = 0; l < cache.k.size(); ++l) {
    EXPECT_EQ(got.k[l].sizes(), (at::IntArrayRef{1, c.num_key_value_heads, L, c.head_dim}));
    for (int64_t b = 0, at = 0; b < B; at += lens[b], ++b) {
      EXPECT_LT(diff(got.k[l][0].narrow(1, at, lens[b]), cache.k[l][b].narrow(1, 0, lens[b])), tol)
          << "layer " << l << " prompt " << b;
      EXPECT_LT(diff(got.v[l][0].narrow(1, at, lens[b]), cache.v[l][b].narrow(1, 0, lens[b])), tol)
          << "layer " << l << " prompt " << b;
    }
  }
}

// Prompts of different lengths (one of a single token), with grouped key/value heads.
void expect_packed_prefill_gives_the_padded_one(const c10::Device& device, at::ScalarType dtype, double tol) {
  c10::InferenceMode guard;
  const LlamaModel m = random_model(tiny_config(), 3, device, dtype);
  expect_packed_prefill_gives_the_padded_one(m, {5, 1, 9, 3}, {}, {}, tol);
  const at::Tensor ids = at::randint(3, 50, {1, 18}, at::kLong).to(device);
  EXPECT_S2D_ERROR(m.prefill_packed(ids, {5, 1, 9}), ErrorKind::Runtime, "do not match their lengths");
  EXPECT_S2D_ERROR(m.prefill_packed(ids.narrow(1, 0, 5), {5, 0}), ErrorKind::Runtime, "empty prompt");
}

// Prompt 2 starts with prompt 0's first 4 tokens, prompt 4 with prompt 2's first 7 (4 of them
// prompt 0's: a chain), prompt 3 with all of prompt 1.
void expect_shared_starts_give_the_padded_prefill(const c10::Device& device, at::ScalarType dtype, double tol) {
  c10::InferenceMode guard;
  const LlamaModel m = random_model(tiny_config(), 4, device, dtype);
  expect_packed_prefill_gives_the_padded_one(m, {5, 1, 9, 3, 8}, {{}, {}, {0, 4}, {1, 1}, {2, 7}}, {}, tol);
  const std::vector<int64_t> two = {5, 9};
  const at::Tensor ids = at::randint(3, 50, {1, 14}, at::kLong).to(device);
  for (const SharedStart bad : {SharedStart{1, 3}, {0, 9}, {0, 6}, {-1, 2}})
    EXPECT_S2D_ERROR(m.prefill_packed(ids, two, {{}, bad}), ErrorKind::Runtime, "not part of an earlier prompt");
  EXPECT_S2D_ERROR(m.prefill_packed(ids, two, {{}}), ErrorKind::Runtime, "do not match the prompts");
}

// Prompts 2 and 5 start with 4 and 5 cached tokens; prompt 4 shares 7 tokens with prompt 2, 4 of
// them cached (a chain through cached rows); prompt 3 shares all of prompt 1.
void expect_cached_starts_give_the_padded_prefill(const c10::Device& device, at::ScalarType dtype, double tol) {
  c10::InferenceMode guard;
  const LlamaModel m = random_model(tiny_config(), 5, device, dtype);
  expect_packed_prefill_gives_the_padded_one(m, {5, 1, 9, 3, 8, 6}, {{}, {}, {}, {1, 1}, {2, 7}, {}},
                                             {0, 0, 4, 0, 0, 5}, tol);
  const ModelConfig& c = m.config();
  const std::vector<int64_t> two = {5, 9};
  const at::Tensor ids = at::randint(3, 50, {1, 14}, at::kLong).to(device);
  auto start = [&](int64_t tokens, int64_t layers, at::ScalarType type) {  // zeros of the given shape
    LlamaModel::CachedStart s{.tokens = tokens};
    for (int64_t l = 0; l < layers; ++l) {
      s.k.push_back(at::zeros({c.num_key_value_heads, tokens, c.head_dim}, m.options().dtype(type)));
      s.v.push_back(s.k.back().clone());
    }
    return s;
  };
  const int64_t layers = c.num_hidden_layers;
  for (const int64_t bad : {9, 10, -1}) {
    LlamaModel::CachedStart s = start(std::max<int64_t>(bad, 0), layers, dtype);
    s.tokens = bad;
    EXPECT_S2D_ERROR(m.prefill_packed(ids, two, {}, {{}, s}), ErrorKind::Runtime, "cached start does not fit",
                     "cached[1]");
  }
  EXPECT_S2D_ERROR(m.prefill_packed(ids, two, {{}, {0, 2}}, {{}, start(3, layers, dtype)}), ErrorKind::Runtime,
                   "no shared start beside it");
  EXPECT_S2D_ERROR(m.prefill_packed(ids, two, {}, {start(2, layers, dtype)}), ErrorKind::Runtime,
                   "do not match the prompts");
  EXPECT_S2D_ERROR(m.prefill_packed(ids, two, {}, {{}, start(3, layers - 1, dtype)}), ErrorKind::Runtime, "cached[1].k",
                   "layers");
  EXPECT_S2D_ERROR(m.prefill_packed(ids, two, {}, {{}, start(3, layers, at::kDouble)}), ErrorKind::Runtime,
                   "cached[1].k", "double");
  LlamaModel::CachedStart narrow = start(3, layers, dtype);
  narrow.v.back() = narrow.v.back().narrow(1, 0, 2);
  const std::string found = c10::str("layer ", layers - 1, ": [", c.num_key_value_heads, ", 2, ", c.head_dim, "]");
  EXPECT_S2D_ERROR(m.prefill_packed(ids, two, {}, {{}, narrow}), ErrorKind::Runtime, "cached[1].v", found.c_str());
}
}  // namespace

TEST(Llama, PackedPrefillGivesThePaddedPrefillsLogitsKeysAndValues) {
  expect_packed_prefill_gives_the_padded_one(at::kCPU, at::kFloat, 1e-4);  // fp32 reassociation is ~1e-6
}

TEST(Llama, PackedPrefillComputesSharedStartsOnceAndGivesThePaddedPrefill) {
  expect_shared_starts_give_the_padded_prefill(at::kCPU, at::kFloat, 1e-4);
}

TEST(Llama, PackedPrefillTakesCachedStartsAndGivesThePaddedPrefill) {
  expect_cached_starts_give_the_padded_prefill(at::kCPU, at::kFloat, 1e-4);
}

// On CUDA in bf16 the packed prefill attends through one variable-length flash call and the padded
// one through SDPA's flash kernel: the same sums in another order, so a bf16 rounding apart (a
// wrong position or a sequence seeing another's keys is O(1), as on the CPU).
TEST(LlamaCuda, PackedPrefillGivesThePaddedPrefillsLogitsKeysAndValues) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no GPU";
  expect_packed_prefill_gives_the_padded_one(at::kCUDA, at::kFloat, 1e-4);
  expect_packed_prefill_gives_the_padded_one(at::kCUDA, at::kBFloat16, 5e-2);
  expect_shared_starts_give_the_padded_prefill(at::kCUDA, at::kFloat, 1e-4);
  expect_shared_starts_give_the_padded_prefill(at::kCUDA, at::kBFloat16, 5e-2);
  expect_cached_starts_give_the_padded_prefill(at::kCUDA, at::kFloat, 1e-4);
  expect_cached_starts_give_the_padded_prefill(at::kCUDA, at::kBFloat16, 5e-2);
}

TEST(Llama, LeftPaddingDoesNotChangeARowsLogits) {
  c10::InferenceMode guard;
  auto m = random_model(tiny_config(), 1);
  at::Tensor row = at::randint(3, 50, {1, 6}, at::kLong);
  at::Tensor alone = m.forward_padded(row, at::ones({1, 6}, at::kLong));
  at::Tensor padded_ids = at::cat({at::zeros({1, 3}, at::kLong), row}, 1);
  at::Tensor padded_mask = at::cat({at::zeros({1, 3}, at::kLong), at::ones({1, 6}, at::kLong)}, 1);
  at::Tensor padded = m.forward_padded(padded_ids, padded_mask).slice(1, 3);
  EXPECT_LT((padded - alone).abs().max().item<double>(), 1e-4);
  EXPECT_FALSE(m.forward_padded(padded_ids, padded_mask).isnan().any().item<bool>()) << "padding rows gave NaN";
}

TEST(Lora, AnFp32AdapterRunsOnABf16Model) {
  // generate/eval --adapter on CUDA: a bf16 base (the default there) with the adapter's fp32 factors.
  const ModelConfig c = tiny_config();
  at::manual_seed(4);
  const auto shapes = expected_weight_shapes(c);
  LlamaWeights w16;
  for_each_weight(c, w16, [&](const std::string& name, at::Tensor& t) {
    t = (at::randn(shapes.at(name)) * 0.3).to(at::kBFloat16);
  });
  LlamaWeights copy = w16;
  for_each_weight(c, copy, [](const std::string&, at::Tensor& t) { t = t.to(at::kFloat); });
  LlamaModel m16(c, w16), m32(c, copy);
  auto adapter = init_lora(c, {.rank = 4, .targets = {"q", "k", "v", "o", "gate", "up", "down"}}, at::kCPU, 0);
  for (auto& layer : adapter->layers)
    for (auto& [m, p] : layer) p.b.normal_(0, 0.1);
  m16.set_lora(adapter);
  m32.set_lora(adapter);
  c10::InferenceMode inference;
  const at::Tensor ids = at::tensor({1, 7, 3, 9, 4, 2}, at::kLong).view({1, 6}), mask = at::ones_like(ids);
  const at::Tensor got = m16.forward_padded(ids, mask).to(at::kFloat), want = m32.forward_padded(ids, mask);
  EXPECT_LT(((got - want).norm() / want.norm()).item<double>(), 0.05);
}

// LoRA on the fused projections (q, k, v and gate, up each share one GEMM pair) for any subset of
// their parts: the logits and the factors' gradients must be those of the merged weights
// W + scale * B A, taken through autograd across the merge and the packing, to fp32 rounding.
TEST(Lora, PartialTargetsOnFusedProjectionsGiveTheMergedWeightsLogitsAndGradients) {
  const ModelConfig c = tiny_config();
  const std::map<std::string, at::Tensor LayerWeights::*> field = {
      {"q_proj", &LayerWeights::q_proj},       {"k_proj", &LayerWeights::k_proj},
      {"v_proj", &LayerWeights::v_proj},       {"o_proj", &LayerWeights::o_proj},
      {"gate_proj", &LayerWeights::gate_proj}, {"up_proj", &LayerWeights::up_proj},
      {"down_proj", &LayerWeights::down_proj}};
  const at::Tensor ids = at::tensor({1, 7, 3, 9, 4, 2, 8, 5}, at::kLong).view({2, 4}), mask = at::ones_like(ids);
  at::manual_seed(11);
  const at::Tensor upstream = at::randn({2, 4, c.vocab_size});
  for (const std::vector<std::string>& targets :
       std::vector<std::vector<std::string>>{{"q", "v"}, {"k"}, {"up"}, {"gate", "down"}, {"q", "k", "v", "up"}}) {
    auto adapter = init_lora(c, {.rank = 4, .targets = targets}, at::kCPU, 0);
    for (auto& layer : adapter->layers)
      for (auto& [m, p] : layer) p.b.normal_(0, 0.1), p.a.requires_grad_(true), p.b.requires_grad_(true);
    LlamaModel m = random_model(c, 5);
    m.set_lora(adapter);
    m.set_training(true);
    const at::Tensor logits = m.forward_padded(ids, mask);
    (logits * upstream).sum().backward();

    LlamaWeights w = random_weights(c, 5);
    std::vector<std::pair<const LoraPair*, LoraPair>> copies;  // the adapter's pair, its reference copy
    for (size_t l = 0; l < adapter->layers.size(); ++l)
      for (const auto& [target, pair] : adapter->layers[l]) {
        LoraPair ref{pair.a.detach().clone().requires_grad_(true), pair.b.detach().clone().requires_grad_(true)};
        at::Tensor& W = w.layers[l].*field.at(target);
        W = W + adapter->scale() * at::matmul(ref.b, ref.a);  // [out, in]
        copies.emplace_back(&pair, ref);
      }
    LlamaModel merged(c, std::move(w));
    const at::Tensor want = merged.forward_padded(ids, mask);
    (want * upstream).sum().backward();
    const std::string label = c10::str(at::ArrayRef<std::string>(targets));
    // Relative to the largest value: the two sides sum in other orders, and how a sum splits
    // over threads depends on the load (an absolute 1e-5 failed by 5% under ctest -j2).
    auto scaled_error = [](const at::Tensor& got, const at::Tensor& ref) {
      return ((got - ref).abs().max() / ref.abs().max().clamp_min(1e-12)).item<double>();
    };
    EXPECT_LT(scaled_error(logits, want), 1e-5) << label;
    for (const auto& [pair, ref] : copies) {
      EXPECT_LT(scaled_error(pair->a.grad(), ref.a.grad()), 1e-5) << label;
      EXPECT_LT(scaled_error(pair->b.grad(), ref.b.grad()), 1e-5) << label;
    }
  }
}

TEST(Checkpoint, SaveLoadRoundTripAndBf16Save) {
  c10::InferenceMode guard;
  const auto dir = fresh_dir("d");
  auto m = random_model(tiny_config(), 2);
  save_model(dir + "/fp32", m);
  auto b = load_model(dir + "/fp32", {.device = "cpu", .dtype = "fp32", .require_tokenizer = false});
  EXPECT_TRUE(at::equal(b.model->weights().layers[1].down_proj, m.weights().layers[1].down_proj));
  save_model(dir + "/bf16", m, {.dtype = at::kBFloat16});
  auto r = inspect_weights(dir + "/bf16", b.config);
  EXPECT_EQ(r.dtype_tensors.at("BF16"), 2 + 2 * 9 + 1);
  EXPECT_TRUE(r.missing.empty() && r.unexpected.empty() && r.wrong_shape.empty());
  auto cfg = nlohmann::json::parse(read_file(dir + "/bf16/config.json"));
  EXPECT_EQ(cfg["torch_dtype"], "bfloat16");
}

TEST(Checkpoint, BrokenCheckpointsNameTheTensor) {
  c10::InferenceMode guard;
  const auto dir = fresh_dir("d");
  auto m = random_model(tiny_config(), 3);
  const LoadOptions cpu{.device = "cpu", .dtype = "fp32", .require_tokenizer = false};

  save_model(dir + "/missing", m);
  rewrite_weights(dir + "/missing", [](auto& ts) {
    std::erase_if(ts, [](const StTensorView& t) { return t.name == "model.layers.1.mlp.up_proj.weight"; });
  });
  EXPECT_S2D_ERROR(load_model(dir + "/missing", cpu), ErrorKind::Input, "missing tensor",
                   "model.layers.1.mlp.up_proj.weight");

  save_model(dir + "/extra", m);
  std::vector<float> junk(4, 0.f);
  rewrite_weights(dir + "/extra", [&](auto& ts) {
    ts.push_back(
        {"model.layers.7.mlp.up_proj.weight", StDtype::F32, {4}, reinterpret_cast<const uint8_t*>(junk.data()), 16});
  });
  EXPECT_S2D_ERROR(load_model(dir + "/extra", cpu), ErrorKind::Input, "unexpected tensor",
                   "model.layers.7.mlp.up_proj.weight");

  save_model(dir + "/shape", m);
  auto cfg = nlohmann::json::parse(read_file(dir + "/shape/config.json"));
  cfg["intermediate_size"] = 40;
  write_file_atomic(dir + "/shape/config.json", cfg.dump());
  EXPECT_S2D_ERROR(load_model(dir + "/shape", cpu), ErrorKind::Input, "wrong shape",
                   "model.layers.0.mlp.gate_proj.weight", "expected [40, 32], found [48, 32]");

  save_model(dir + "/notok", m);
  EXPECT_S2D_ERROR(load_model(dir + "/notok", {.device = "cpu"}), ErrorKind::Input, "no tokenizer", "tokenizer.model");
  EXPECT_S2D_ERROR(load_model(dir + "/nowhere", cpu), ErrorKind::Input, "model directory not found");
}

TEST(Device, AutoPicksCpuAndFp32WithoutAGpu) {
  if (at::hasCUDA()) GTEST_SKIP() << "a GPU is present";
  EXPECT_TRUE(resolve_device("auto").is_cpu());
  EXPECT_EQ(resolve_dtype("auto", resolve_device("auto")), at::kFloat);
  EXPECT_S2D_ERROR(resolve_device("cuda"), ErrorKind::Input, "--device", "not available");
  EXPECT_S2D_ERROR(resolve_dtype("fp8", resolve_device("cpu")), ErrorKind::Input, "--dtype", "fp8");
}

}  // namespace s2d
