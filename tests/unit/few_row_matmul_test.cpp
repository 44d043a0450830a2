// The few-row matmul kernel (few_row_matmul.h) against at::matmul, on every instruction set this
// CPU runs, and weight_matmul's choice of when to use it.
#include "s2d/model/few_row_matmul.h"
#include "simd_fixture.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <vector>

#include "s2d/model/weight_matmul.h"

using namespace s2d;
using s2d::testing::simd_here;

namespace {

// x [M, K] @ w [K, N]: the kernel over w's panels, split in two at panel `split`.
at::Tensor run_kernel(few_rows::Simd s, const at::Tensor& x, const at::Tensor& w, int64_t split) {
  const int64_t M = x.size(0), K = x.size(1), N = w.size(1);
  const PanelWeight p = to_panels(w);
  at::Tensor out = at::full({M, N}, std::nan(""), x.options());
  const float* pp = p.panels.const_data_ptr<float>();
  few_rows::matmul_panels(s, x.const_data_ptr<float>(), M, K, pp, N, 0, split, out.mutable_data_ptr<float>(), N);
  few_rows::matmul_panels(s, x.const_data_ptr<float>(), M, K, pp, N, split, few_rows::panel_count(N),
                          out.mutable_data_ptr<float>(), N);
  return out;
}

}  // namespace

TEST(FewRowMatmul, EveryInstructionSetMatchesAtMatmul) {
  at::manual_seed(0);
  // Shapes that exercise whole panels, a last panel of whole vectors then single columns, one or
  // more row tiles, a column slice of a wider matrix, and splits at either end.
  struct Shape {
    int64_t M, K, N, ldw, split;
  };
  const std::vector<Shape> shapes = {{1, 576, 960, 960, 10}, {2, 64, 129, 129, 1},     {3, 17, 300, 320, 3},
                                     {5, 100, 37, 40, 1},    {8, 576, 1536, 1536, 16}, {9, 33, 400, 400, 4},
                                     {16, 128, 515, 520, 5}, {32, 96, 800, 800, 8},    {7, 1, 48, 48, 0},
                                     {4, 200, 5, 5, 1},      {32, 64, 120, 120, 3}};
  for (const auto& sh : shapes) {
    const at::Tensor x = at::randn({sh.M, sh.K});
    const at::Tensor w = at::randn({sh.K, sh.ldw}).narrow(1, 0, sh.N);
    const at::Tensor want = at::matmul(x.to(at::kDouble), w.to(at::kDouble));
    for (auto s : simd_here()) {
      const at::Tensor got = run_kernel(s, x, w, sh.split);
      const double err = (got.to(at::kDouble) - want).abs().max().item<double>();
      EXPECT_LT(err, 1e-4 * std::sqrt(static_cast<double>(sh.K)))
          << few_rows::simd_name(s) << " M=" << sh.M << " K=" << sh.K << " N=" << sh.N;
    }
  }
}

TEST(FewRowMatmul, ARowsResultDoesNotDependOnTheOtherRows) {
  at::manual_seed(1);
  const at::Tensor x = at::randn({13, 300}), w = at::randn({300, 200});
  for (auto s : simd_here()) {
    const at::Tensor all = run_kernel(s, x, w, 2);
    for (int64_t m : {0, 6, 12}) {
      const at::Tensor one = run_kernel(s, x.narrow(0, m, 1).contiguous(), w, 2);
      EXPECT_TRUE(at::equal(one[0], all[m])) << few_rows::simd_name(s) << " row " << m;
    }
  }
}

TEST(WeightMatmul, UsesTheKernelOnlyForFewFp32RowsOutsideAutogradWithPanels) {
  if (few_rows::detect() == few_rows::Simd::None) GTEST_SKIP() << "no AVX2 on this CPU";
  at::manual_seed(2);
  const at::Tensor w = at::randn({64, 96});
  const at::Tensor x = at::randn({2, 3, 64});  // 6 rows
  ASSERT_TRUE(can_use_panels(w));
  EXPECT_FALSE(can_use_panels(w.to(at::kDouble)));
  const PanelWeight p = to_panels(w);
  EXPECT_EQ(p.panels.sizes(), (std::vector<int64_t>{2, 64, few_rows::kPanelWidth}));
  {
    c10::InferenceMode guard;
    EXPECT_TRUE(uses_few_row_kernel(x, &p));
    EXPECT_FALSE(uses_few_row_kernel(x, nullptr));               // no panels: at::matmul
    EXPECT_FALSE(uses_few_row_kernel(at::randn({33, 64}), &p));  // too many rows
    EXPECT_FALSE(uses_few_row_kernel(x.to(at::kDouble), &p));    // not fp32
    EXPECT_FALSE(uses_few_row_kernel(at::randn({2, 32}), &p));   // not the panels' K
    const at::Tensor got = weight_matmul(x, w, &p);
    EXPECT_EQ(got.sizes(), (std::vector<int64_t>{2, 3, 96}));
    EXPECT_LT((got - at::matmul(x, w)).abs().max().item<double>(), 1e-4);
  }
  const at::Tensor xg = x.clone().requires_grad_(true);
  EXPECT_FALSE(uses_few_row_kernel(xg, &p));  // autograd needs at::matmul's backward
  at::Tensor y = weight_matmul(xg, w, &p);
  y.sum().backward();
  EXPECT_TRUE(xg.grad().defined());
}
