// RoPE's per-cache table (rope.h): each gathered row has the bits that computing cos and sin for
// that position gives, which is what HF does in every forward, at any head size, scaling, dtype
// and batch layout. The same check runs on CUDA where there is a GPU (scripts/gpu/run_all.sh).
#include "s2d/model/rope.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>

#include "s2d/model/config.h"

namespace s2d {
namespace {

// Head sizes off the CPU's vector width (8, 24) and on it; Llama-3's frequency scaling or none.
ModelConfig config_with(int64_t head_dim, bool llama3_scaling) {
  nlohmann::json j = {{"vocab_size", 10},       {"hidden_size", 2 * head_dim}, {"intermediate_size", 8},
                      {"num_hidden_layers", 1}, {"num_attention_heads", 2},    {"num_key_value_heads", 1},
                      {"head_dim", head_dim},   {"rope_theta", 500000.0},      {"max_position_embeddings", 8192}};
  if (llama3_scaling)
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", 8.0},
                         {"low_freq_factor", 1.0},
                         {"high_freq_factor", 4.0},
                         {"original_max_position_embeddings", 512}};
  return parse_model_config(j);
}

void expect_rows_match_computed(const c10::Device& device) {
  const int64_t length = 1100;
  const auto longs = at::TensorOptions().dtype(at::kLong).device(device);
  for (const int64_t D : {8, 24, 64, 128}) {
    for (const bool scaled : {false, true}) {
      const ModelConfig c = config_with(D, scaled);
      const at::Tensor inv_freq = rope_inv_freq(c, device);
      for (const auto dtype : {at::kFloat, at::kBFloat16, at::kHalf}) {
        const RopeTable table(c, length, at::TensorOptions().dtype(dtype).device(device));
        const std::string where = "D " + std::to_string(D) + (scaled ? " llama3 " : " ") + c10::toString(dtype);
        ASSERT_EQ(table.cos.sizes(), (std::vector<int64_t>{length, D})) << where;
        at::manual_seed(D);
        // A decode step's [B, 1] (one slot each, the last position included), a prefill's [B, T],
        // and one position alone.
        const at::Tensor decode = at::cat({at::randint(length, {6, 1}, longs), at::full({1, 1}, length - 1, longs)});
        const at::Tensor prefill = at::arange(length, longs).view({1, length}).expand({2, length});
        for (const at::Tensor& positions : {decode, prefill, at::full({1, 1}, 777, longs)}) {
          const auto [cos, sin] = table.rows(positions);
          const auto [want_cos, want_sin] = rope_cos_sin(positions, inv_freq, dtype);
          ASSERT_EQ(cos.sizes(), want_cos.sizes()) << where;
          EXPECT_TRUE(at::equal(cos, want_cos)) << where << ", positions " << positions.sizes();
          EXPECT_TRUE(at::equal(sin, want_sin)) << where << ", positions " << positions.sizes();
        }
      }
    }
  }
}

TEST(RopeTable, RowsHaveTheBitsOfCosAndSinComputedForTheirPositions) { expect_rows_match_computed(at::kCPU); }

TEST(RopeTableCuda, RowsHaveTheBitsOfCosAndSinComputedForTheirPositions) {
  if (!at::hasCUDA()) GTEST_SKIP() << "needs a CUDA GPU (scripts/gpu/run_all.sh runs it there)";
  expect_rows_match_computed(at::kCUDA);
}

// Scaling moves the low frequencies only: a guard that the scaled case above tests something.
TEST(RopeTable, Llama3ScalingChangesTheTable) {
  const RopeTable plain(config_with(64, false), 600, at::kFloat), scaled(config_with(64, true), 600, at::kFloat);
  EXPECT_FALSE(at::equal(plain.cos, scaled.cos));
  EXPECT_TRUE(at::equal(plain.cos.select(1, 0), scaled.cos.select(1, 0)));  // the highest frequency
}

}  // namespace
}  // namespace s2d
