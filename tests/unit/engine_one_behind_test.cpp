// The engine with the device sampler, where the host acts on each step's tokens one step late
// (generator.h). Whatever the lag, the results must be those of a loop that waits for every
// step: the same greedy tokens, texts, stops, streamed texts and token counts as the host
// sampler, and sampled streams that repeat and do not depend on the batch. The model is on CUDA
// where the machine has one (scripts/gpu/run_all.sh), where the lag is real.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <map>

#include "engine_fixture.h"
#include "graphs_emulated.h"
#include "s2d/engine/decode_graphs.h"
#include "s2d/engine/device_sampling.h"

namespace s2d {
using namespace s2d::testing;

namespace {

constexpr auto kHost = EngineOptions::Sampler::Host;
constexpr auto kDevice = EngineOptions::Sampler::Device;

// run() on the test device's model.
std::vector<GenResult> run_here(const std::vector<GenRequest>& reqs, int64_t batch, EngineOptions::Sampler sampler) {
  return testing::run(reqs, batch, sampler, tiny_lm_on_test_device());
}

// One request with a stop string that starts inside its free run's token 3 and ends inside token 4.
GenRequest stop_string_request() {
  const auto free_run = run_here({req({1, 20, 21}, 24)}, 1, kHost)[0].samples[0];
  const auto& tok = tiny_tokenizer();
  const std::string before = tok.decode({free_run.tokens.begin(), free_run.tokens.begin() + 3});
  const std::string through = tok.decode({free_run.tokens.begin(), free_run.tokens.begin() + 5});
  GenRequest r = req({1, 20, 21}, 24);
  r.sampling.stop = {through.substr(before.size() - 1, through.size() - before.size())};
  return r;
}

// One request that stops on the id its free run gives at token `at`.
GenRequest stop_id_request(std::vector<int> prompt, int64_t max_new, int at, double temperature = 0,
                           std::vector<int> samples = {0}) {
  const auto free_run = run_here({req(prompt, max_new, temperature, 5, samples)}, 4, kDevice)[0].samples[0];
  GenRequest r = req(std::move(prompt), max_new, temperature, 5, std::move(samples));
  r.sampling.ignore_eos = false;
  r.stop_ids = {free_run.tokens.at(static_cast<size_t>(at))};
  return r;
}

struct Outcome {
  std::vector<GenResult> results;
  std::map<size_t, std::vector<std::string>> streamed;  // request index -> the texts on_text saw
  int64_t generated = 0;
};

Outcome run_streaming(std::vector<GenRequest> reqs, int64_t batch, EngineOptions::Sampler sampler) {
  Outcome o;
  o.results.resize(reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i)
    reqs[i].on_text = [&o, i](int sample, const std::string& text) {
      if (sample == 0) o.streamed[i].push_back(text);
    };
  Generator g(tiny_lm_on_test_device(), tiny_tokenizer(), {.batch_size = batch, .sampler = sampler});
  g.run(reqs, [&](GenResult&& r) { o.results[r.index] = std::move(r); });
  o.generated = g.generated_tokens();
  return o;
}

}  // namespace

TEST(OneStepBehind, GreedyRunsEqualTheHostSamplersTokenForToken) {
  // Seven requests through three slots (slots are reused mid-run): one token, two tokens, a stop
  // string, a stop id, several samples, and plain lengths.
  const std::vector<GenRequest> reqs = {req({1, 5, 9, 13}, 12),
                                        req({1, 7}, 1),
                                        stop_string_request(),
                                        stop_id_request({1, 20, 21}, 24, 6),
                                        req({1, 3}, 2, 0, 0, {0, 1}),
                                        req({1, 44, 45, 46, 47}, 14),
                                        stop_id_request({1, 8, 9}, 20, 0)};
  const Outcome host = run_streaming(reqs, 3, kHost), device = run_streaming(reqs, 3, kDevice);
  EXPECT_EQ(device.generated, host.generated);
  EXPECT_EQ(device.streamed, host.streamed);
  for (size_t i = 0; i < reqs.size(); ++i) {
    ASSERT_EQ(device.results[i].samples.size(), host.results[i].samples.size()) << "request " << i;
    for (size_t s = 0; s < host.results[i].samples.size(); ++s) {
      const GenSample &d = device.results[i].samples[s], &h = host.results[i].samples[s];
      EXPECT_EQ(d.tokens, h.tokens) << "request " << i << ", sample " << s;
      EXPECT_EQ(d.text, h.text) << "request " << i << ", sample " << s;
      EXPECT_EQ(d.finish_reason, h.finish_reason) << "request " << i << ", sample " << s;
    }
  }
  EXPECT_EQ(host.results[2].samples[0].finish_reason, "stop");
  EXPECT_EQ(host.results[3].samples[0].finish_reason, "stop");
  EXPECT_TRUE(host.results[6].samples[0].tokens.empty()) << "the first token stops request 6";
  EXPECT_EQ(host.results[1].samples[0].tokens.size(), 1u);
}

TEST(OneStepBehind, SampledStreamsRepeatAndDoNotDependOnTheBatch) {
  GenRequest nucleus = req({1, 5, 9}, 16, 0.7, 42, {0, 1, 2});
  nucleus.sampling.top_p = 0.9;
  const std::vector<GenRequest> reqs = {nucleus, req({1, 8}, 12, 1.0, 43, {0, 1, 2}), req({1, 6, 6}, 9)};
  const auto a = run_here(reqs, 4, kDevice), b = run_here(reqs, 4, kDevice);
  for (size_t i = 0; i < reqs.size(); ++i) {
    const auto alone = run_here({reqs[i]}, 1, kDevice)[0];
    for (size_t s = 0; s < reqs[i].samples.size(); ++s) {
      EXPECT_EQ(a[i].samples[s].tokens, b[i].samples[s].tokens) << "request " << i << ", sample " << s;
      EXPECT_EQ(a[i].samples[s].tokens, alone.samples[s].tokens) << "request " << i << ", sample " << s;
    }
  }
  EXPECT_NE(a[0].samples[0].tokens, a[0].samples[1].tokens) << "samples of one prompt should differ";
  const auto only2 = run_here({req({1, 8}, 12, 1.0, 43, {2})}, 2, kDevice)[0].samples[0];  // a resumed run
  EXPECT_EQ(only2.tokens, a[1].samples[2].tokens);
}

// Sample i's token t is draw t of the stream keyed sample_seed(seed, i), taken from the logits of
// its prompt and tokens before t: recomputed here step by step without a cache or a batch.
TEST(OneStepBehind, ASamplesTokensAreItsStreamsDrawsInOrder) {
  GenRequest r = req({1, 5, 9}, 10, 0.8, 42, {0, 3});
  r.sampling.top_k = 50;
  const auto got = run_here({r, req({1, 7}, 4, 1.0, 9)}, 3, kDevice)[0];
  const LlamaModel& lm = tiny_lm_on_test_device();
  for (const GenSample& s : got.samples) {
    ASSERT_EQ(s.tokens.size(), 10u);
    std::vector<int64_t> ids(r.prompt_ids.begin(), r.prompt_ids.end());
    for (size_t t = 0; t < s.tokens.size(); ++t) {
      const auto n = static_cast<int64_t>(ids.size());
      at::Tensor x = at::tensor(ids).view({1, n}).to(test_device());
      at::Tensor logits = lm.forward_padded(x, at::ones_like(x)).select(1, n - 1);  // [1, V]
      const auto rows = device_sampling_rows({&r.sampling}, {sample_seed(42, s.sample)}, {static_cast<int64_t>(t)},
                                             logits.size(1), test_device());
      ASSERT_EQ(s.tokens[t], sample_on_device(logits, rows).item<int64_t>())
          << "sample " << s.sample << ", token " << t;
      ids.push_back(s.tokens[t]);
    }
  }
}

// A sampled sample that stops on an id keeps exactly the tokens its free run drew before that id.
TEST(OneStepBehind, ASampledStopKeepsTheTokensBeforeIt) {
  const GenRequest free_req = req({1, 30, 31}, 30, 1.0, 5, {0, 1});
  const auto free_run = run_here({free_req}, 2, kDevice)[0];
  const GenRequest stopping = stop_id_request({1, 30, 31}, 30, 9, 1.0, {0, 1});
  const auto stopped = run_here({stopping, req({1, 4}, 25)}, 3, kDevice)[0];
  for (size_t s = 0; s < 2; ++s) {
    const auto& all = free_run.samples[s].tokens;
    const auto first = std::find(all.begin(), all.end(), stopping.stop_ids[0]);
    EXPECT_EQ(stopped.samples[s].tokens, std::vector<int>(all.begin(), first)) << "sample " << s;
    EXPECT_EQ(stopped.samples[s].finish_reason, first == all.end() ? "length" : "stop") << "sample " << s;
  }
}

// On the CPU the graphs are emulated (graphs_emulated.h): each step runs eagerly on the graphs'
// buffers, audited as a capture and its replays, and returns their overwritten output, so the
// engine's graph path runs here; on a GPU they are captured. Graphs attend over the cache's full
// width, so both runs of a comparison take that width.
constexpr auto kFull = EngineOptions::Width::Full;

// Steps replayed as CUDA graphs give the eager loop's tokens, texts and stops, greedy and sampled,
// with slots joining and leaving (graphs capture fixed buffers, so a stale buffer would show).
namespace {
void expect_graphs_give_the_eager_loops_results(const LlamaModel& model) {
  const GraphsEmulatedOnCpu emulated;
  ASSERT_TRUE(DecodeGraphs::applies(model.options().device()));
  GenRequest nucleus = req({1, 5, 9}, 16, 0.7, 42, {0, 1, 2});
  nucleus.sampling.top_p = 0.9;
  const std::vector<GenRequest> reqs = {
      req({1, 5, 9, 13}, 12),           nucleus,       stop_string_request(), stop_id_request({1, 20, 21}, 24, 6),
      req({1, 8}, 12, 1.0, 43, {0, 1}), req({1, 7}, 1)};
  auto with = [&](bool graphs) {
    Generator g(model, tiny_tokenizer(), {.batch_size = 3, .width = kFull, .sampler = kDevice, .cuda_graphs = graphs});
    std::vector<GenResult> out(reqs.size());
    g.run(reqs, [&](GenResult&& r) { out[r.index] = std::move(r); });
    EXPECT_EQ(g.graph_steps() > 0, graphs);
    return out;
  };
  const auto eager = with(false), graphed = with(true);
  for (size_t i = 0; i < reqs.size(); ++i)
    for (size_t s = 0; s < eager[i].samples.size(); ++s) {
      EXPECT_EQ(graphed[i].samples.at(s).tokens, eager[i].samples[s].tokens) << "request " << i << ", sample " << s;
      EXPECT_EQ(graphed[i].samples[s].finish_reason, eager[i].samples[s].finish_reason) << "request " << i;
    }
}
}  // namespace

TEST(OneStepBehind, CudaGraphsGiveTheEagerLoopsResults) {
  expect_graphs_give_the_eager_loops_results(tiny_lm_on_test_device());
}

// In bf16 the CPU's own kernels (RoPE, decode attention, few-row GEMMs, RMSNorm) do not apply, so
// the emulated graphs run, and audit, the ATen chain that a GPU's eager default runs.
TEST(OneStepBehind, Bf16GraphsRunTheAtenChainAndGiveTheEagerLoopsResults) {
  static const LlamaModel bf16 = random_model(tiny_config(400, 256), 11, at::kCPU, at::kBFloat16);
  expect_graphs_give_the_eager_loops_results(bf16);
}

// A graph runs the first 1, 2, 4, ... slots that hold every busy one: when the last slots finish
// first, the steps move to a graph of fewer slots, and every sample still gets the eager loop's
// tokens (sampled ones included: each slot draws from its own stream).
TEST(OneStepBehind, GraphsOfFewerSlotsTakeOverAsTheLastSlotsFinish) {
  const GraphsEmulatedOnCpu emulated;
  const std::vector<GenRequest> reqs = {req({1, 5, 9}, 24, 0.8, 3), req({1, 4}, 3), req({1, 6, 2}, 2),
                                        req({1, 8}, 2, 0.9, 4)};
  auto with = [&](bool graphs) {
    Generator g(tiny_lm_on_test_device(), tiny_tokenizer(),
                {.batch_size = 4, .width = kFull, .sampler = kDevice, .cuda_graphs = graphs});
    std::vector<GenResult> out(reqs.size());
    g.run(reqs, [&](GenResult&& r) { out[r.index] = std::move(r); });
    EXPECT_EQ(g.graph_buckets(), graphs ? 3 : 0) << "4 slots, then 2 (slots 2 and 3 stop after 2 tokens), then 1";
    return out;
  };
  const auto eager = with(false), graphed = with(true);
  for (size_t i = 0; i < reqs.size(); ++i)
    EXPECT_EQ(graphed[i].samples.at(0).tokens, eager[i].samples.at(0).tokens) << "request " << i;
  EXPECT_EQ(graphed[0].samples[0].tokens.size(), 24u);
}

// Where graphs are emulated, an engine left to choose its width and sampler makes CUDA's choices
// (the full width, the device sampler), so graphs apply on the CPU as on a GPU: the GPU scripts'
// rehearsal runs `s2d generate` with S2D_CUDA_GRAPHS=1 through them. Elsewhere on the CPU the
// narrow width and the host sampler rule graphs out.
TEST(OneStepBehind, AnEngineLeftToChooseTakesCudasGraphPathWhereGraphsAreEmulated) {
  const std::vector<GenRequest> reqs = {req({1, 5, 9}, 6), req({1, 4}, 5, 0.8, 3)};
  auto graph_steps = [&] {
    Generator g(tiny_lm(), tiny_tokenizer(), {.batch_size = 2, .cuda_graphs = true});
    g.run(reqs, [](GenResult&&) {});
    return g.graph_steps();
  };
  EXPECT_EQ(graph_steps(), 0);
  const GraphsEmulatedOnCpu emulated;
  EXPECT_GT(graph_steps(), 0);
}

TEST(OneStepBehind, ALongerNewcomerGrowsTheCacheWithAndWithoutGraphs) {
  // The run's cache holds 3 + 12 columns; a request needing 4 + 40 joins while the first decodes:
  // the cache grows (on CUDA within a quarter of free memory), the graphs are captured again, and
  // both requests give what they give alone.
  const auto first = req({1, 5, 9}, 12, 0.9, 7);
  const auto longer = req({1, 7, 7, 3}, 40);
  const GraphsEmulatedOnCpu emulated;
  for (const bool graphs : {false, true}) {
    SCOPED_TRACE(graphs ? "graphs" : "eager");
    Generator g(tiny_lm_on_test_device(), tiny_tokenizer(),
                {.batch_size = 2, .width = kFull, .sampler = kDevice, .cuda_graphs = graphs});
    std::vector<GenResult> out(2);
    int calls = 0;
    auto source = [&](int64_t capacity) {
      if (++calls != 3) return std::vector<GenRequest>{};
      EXPECT_GE(capacity, 4 + 40);
      return std::vector<GenRequest>{longer};
    };
    g.run({first}, [&](GenResult&& r) { out[r.index] = std::move(r); }, source);
    EXPECT_EQ(g.graph_steps() > 0, graphs);
    EXPECT_EQ(out[0].samples.at(0).tokens, run_here({first}, 1, kDevice)[0].samples[0].tokens)
        << "the first request's columns survived the copy";
    EXPECT_EQ(out[1].samples.at(0).tokens, run_here({longer}, 1, kDevice)[0].samples[0].tokens);
    EXPECT_EQ(out[1].samples.at(0).tokens.size(), 40u);
  }
}

}  // namespace s2d
