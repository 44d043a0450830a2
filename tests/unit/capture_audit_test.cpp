// CaptureAudit (capture_audit.h): on the CPU it refuses what a CUDA graph's capture would refuse (an
// op whose result the host reads) and what a replay would silently get wrong (an op, a shape, a
// host value or the address of memory the step did not make, other than the capture's).
#include "s2d/model/capture_audit.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "s2d/util/error.h"
#include "test_util.h"

namespace s2d {
using namespace s2d::testing;

namespace {

// The ops that a step records, for checks on the list itself.
std::vector<std::string> ops_of(const std::function<void()>& step) {
  CaptureAudit audit;
  audit.capture(step);
  return audit.ops();
}

bool any_op_starts_with(const std::vector<std::string>& ops, const std::string& name) {
  for (const std::string& op : ops)
    if (op.rfind(name + "(", 0) == 0 || op.rfind(name + ".", 0) == 0) return true;
  return false;
}

}  // namespace

TEST(CaptureAudit, RefusesOpsWhoseResultTheHostReads) {
  const at::Tensor x = at::arange(6, at::kFloat);
  CaptureAudit audit;
  EXPECT_S2D_ERROR(audit.capture([&] { (void)x.sum().item<float>(); }), ErrorKind::Runtime, "waits for the device",
                   "aten::_local_scalar_dense");
  EXPECT_FALSE(audit.captured());
  // A bool index is a nonzero under the hood.
  EXPECT_S2D_ERROR(audit.capture([&] { (void)x.index({x > 2}); }), ErrorKind::Runtime, "aten::nonzero");
  EXPECT_S2D_ERROR(audit.capture([&] { (void)at::repeat_interleave(x.to(at::kLong)); }), ErrorKind::Runtime,
                   "output_size");
  // The same work without a host read captures.
  audit.capture([&] {
    (void)x.sum();
    (void)at::where(x > 2, x, 0.0);
    (void)x.to(at::kDouble);
  });
  EXPECT_TRUE(audit.captured());
}

TEST(CaptureAudit, ReplaysOfTheSameStepOnChangedValuesPass) {
  const at::Tensor a = at::randn({4, 8}), b = at::randn({8, 3}), out = at::empty({4, 3});
  const auto step = [&] { out.copy_(at::relu(at::mm(a, b) + 1)); };
  CaptureAudit audit;
  audit.capture(step);
  for (int i = 0; i < 3; ++i) {
    a.normal_();  // new values in the same buffer, as a replay's inputs arrive
    EXPECT_NO_THROW(audit.replay(step));
    EXPECT_TRUE(at::allclose(out, at::relu(at::mm(a, b) + 1)));
  }
  EXPECT_TRUE(any_op_starts_with(audit.ops(), "aten::mm"));
}

TEST(CaptureAudit, RefusesAReplayWithAnotherHostValue) {
  const at::Tensor x = at::randn({5});
  double scale = 0.5;
  const auto step = [&] { (void)(x * scale); };
  CaptureAudit audit;
  audit.capture(step);
  EXPECT_NO_THROW(audit.replay(step));
  scale = 0.25;  // a graph would go on multiplying by 0.5
  EXPECT_S2D_ERROR(audit.replay(step), ErrorKind::Runtime, "differs from the capture's", "aten::mul", "0.5", "0.25");
  // The same through a Scalar argument.
  const auto filled = [&] { (void)at::full({3}, scale); };
  audit.capture(filled);
  scale = 2.0;
  EXPECT_S2D_ERROR(audit.replay(filled), ErrorKind::Runtime, "aten::full", "0.25", "2");
}

TEST(CaptureAudit, RefusesAReplayOfAnotherShape) {
  at::Tensor x = at::randn({2, 3});
  const auto step = [&] { (void)at::softmax(x, -1); };
  CaptureAudit audit;
  audit.capture(step);
  x = at::randn({2, 4});
  EXPECT_S2D_ERROR(audit.replay(step), ErrorKind::Runtime, "[2, 3]", "[2, 4]");
}

// A graph reads what it captured where it captured it: a tensor made outside the step that moves
// is stale under a replay. Memory the step makes itself lives in the graph's pool and may move here.
TEST(CaptureAudit, RefusesAReplayThatReadsMovedMemoryTheStepDidNotMake) {
  at::Tensor input = at::randn({16});
  const auto step = [&] {
    const at::Tensor own = at::ones({16});  // made by the step: its address may change
    (void)(input + own);
  };
  CaptureAudit audit;
  audit.capture(step);
  input.copy_(at::randn({16}));  // the same buffer
  EXPECT_NO_THROW(audit.replay(step));
  input = at::randn({16});  // a new buffer, as an upload into a fresh tensor would make
  EXPECT_S2D_ERROR(audit.replay(step), ErrorKind::Runtime, "aten::add");
}

// The step's backward runs on this thread on the CPU, and its ops are the step's too.
TEST(CaptureAudit, RecordsTheBackwardsOps) {
  const at::Tensor w = at::randn({3, 3}).requires_grad_(), x = at::randn({2, 3});
  const auto forward_only = ops_of([&] { (void)at::mm(x, w).sum(); });
  const auto with_backward = ops_of([&] {
    at::mm(x, w).sum().backward();
    w.mutable_grad() = at::Tensor();
  });
  EXPECT_GT(with_backward.size(), forward_only.size() + 1);
  EXPECT_TRUE(any_op_starts_with(with_backward, "aten::ones_like")) << "the backward's seed gradient";
  // A host read of a gradient is refused like one in the forward.
  CaptureAudit audit;
  EXPECT_S2D_ERROR(audit.capture([&] {
    at::mm(x, w).sum().backward();
    (void)w.grad().abs().max().item<float>();
  }),
                   ErrorKind::Runtime, "aten::_local_scalar_dense");
}

}  // namespace s2d
