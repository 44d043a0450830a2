#include "s2d/model/capture_audit.h"

#include <ATen/ATen.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <sstream>
#include <string_view>
#include <unordered_set>

#include "s2d/util/env_switch.h"
#include "s2d/util/error.h"

namespace s2d {

namespace {

EnvSwitch g_emulated("S2D_CUDA_GRAPHS_EMULATED");

// Ops that make the host wait for the device, which a capture refuses: the host reads their result,
// or (pinned memory) the allocation synchronises.
constexpr std::string_view kHostReads[] = {
    "aten::_local_scalar_dense",  // item(), or a Scalar made from a tensor
    "aten::nonzero",              // also under a bool index
    "aten::masked_select",
    "aten::is_nonzero",
    "aten::equal",
    "aten::bincount",
    "aten::_unique",
    "aten::_unique2",
    "aten::unique_dim",
    "aten::unique_consecutive",
    "aten::unique_dim_consecutive",
    "aten::_pin_memory",  // cudaHostAlloc
};

// Ops whose CPU kernel reads a tensor argument on the host where the CUDA kernel reads it on the
// device: the fused AdamW's rate as a tensor (ATen's FusedAdamWKernel.cu passes its pointer).
constexpr std::string_view kReadOnTheDeviceOnCuda[] = {"aten::_fused_adamw_", "aten::_fused_adam_"};

template <size_t N>
bool among(const std::string_view (&names)[N], std::string_view name) {
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

// One op as it was called: its name, then its arguments.
struct OpCall {
  std::string name, overload;
  std::string args;
  std::string caller;                 // the ops that called it, innermost first ("" for the step itself)
  bool cuda_reads_on_device = false;  // called by one of kReadOnTheDeviceOnCuda
  bool last_is_none = false;          // the last argument is None (repeat_interleave's output_size)
};

// A host number that ATen wrapped as a 0-dim tensor (x * 0.5): a kernel takes its value as an
// argument, which a capture keeps.
std::string wrapped_value(const at::Tensor& t) {
  std::ostringstream os;
  os.precision(17);
  switch (t.scalar_type()) {
    case at::kDouble: os << *t.const_data_ptr<double>(); break;
    case at::kLong: os << *t.const_data_ptr<int64_t>(); break;
    case at::kBool: os << *t.const_data_ptr<bool>(); break;
    default: os << "a " << t.scalar_type();
  }
  return os.str();
}

// What one run of a step dispatched on the thread that ran it.
struct Recording {
  std::vector<OpCall> calls;
  // Storages that the step's ops made, and those it found (had before, or made outside an op).
  std::unordered_set<const void*> made, found;
  std::vector<c10::Storage> found_alive;  // so that no storage made later takes a found one's address
  // The storages of each op in progress (the op, then the op it calls, ...): a storage first seen
  // inside an op, and not among its callers' arguments, is one that a caller made.
  std::vector<std::vector<const void*>> in_progress;
  std::vector<std::string> callers;  // the names of the ops in progress

  bool a_caller_took(const void* storage) const {
    for (const auto& args : in_progress)
      if (std::find(args.begin(), args.end(), storage) != args.end()) return true;
    return false;
  }

  void describe_tensor(const at::Tensor& t, std::vector<const void*>& storages, std::ostringstream& os) {
    if (!t.defined()) {
      os << "T()";
      return;
    }
    if (t.unsafeGetTensorImpl()->is_wrapped_number()) {
      os << wrapped_value(t);
      return;
    }
    os << "T " << t.scalar_type() << ' ' << t.sizes() << ' ' << t.strides();
    if (!t.has_storage()) return;
    const void* storage = t.storage().unsafeGetStorageImpl();
    storages.push_back(storage);
    if (!made.count(storage) && !found.count(storage)) {
      if (!in_progress.empty() && !a_caller_took(storage)) {
        made.insert(storage);
      } else {
        found.insert(storage);
        found_alive.push_back(t.storage());
      }
    }
    if (found.count(storage)) os << " @" << t.const_data_ptr();  // read where the capture read it
  }

  void describe(const c10::IValue& v, std::vector<const void*>& storages, std::ostringstream& os) {
    if (v.isTensor()) {
      describe_tensor(v.toTensor(), storages, os);
    } else if (v.isList()) {
      os << '[';
      for (const c10::IValue& e : v.toListRef()) describe(e, storages, os), os << ", ";
      os << ']';
    } else if (v.isDouble()) {
      os.precision(17);
      os << v.toDouble();
    } else {
      os << v;
    }
  }

  void start(const at::RecordFunction& fn) {
    OpCall call{fn.name(), fn.overload_name()};
    std::vector<const void*> storages;
    std::ostringstream os;
    for (const c10::IValue& v : fn.inputs()) describe(v, storages, os), os << ", ";
    call.args = os.str();
    call.last_is_none = !fn.inputs().empty() && fn.inputs().back().isNone();
    for (auto c = callers.rbegin(); c != callers.rend(); ++c) {
      call.caller += (call.caller.empty() ? "" : " in ") + *c;
      call.cuda_reads_on_device = call.cuda_reads_on_device || among(kReadOnTheDeviceOnCuda, *c);
    }
    callers.push_back(call.name);
    calls.push_back(std::move(call));
    in_progress.push_back(std::move(storages));
  }

  void end(const at::RecordFunction& fn) {
    if (!in_progress.empty()) in_progress.pop_back();
    if (!callers.empty()) callers.pop_back();
    for (const c10::IValue& v : fn.outputs()) {
      if (!v.isTensor() || !v.toTensor().defined() || !v.toTensor().has_storage()) continue;
      const void* storage = v.toTensor().storage().unsafeGetStorageImpl();
      if (!found.count(storage)) made.insert(storage);
    }
  }
};

thread_local Recording* t_recording = nullptr;

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& fn) {
  if (t_recording) t_recording->start(fn);
  return nullptr;
}

void on_end(const at::RecordFunction& fn, at::ObserverContext*) {
  if (t_recording) t_recording->end(fn);
}

// The ops `step` dispatches on this thread.
std::vector<OpCall> record(const std::function<void()>& step) {
  Recording recording;
  struct Recorder {
    explicit Recorder(Recording& r)
        : handle(at::addThreadLocalCallback(at::RecordFunctionCallback(&on_start, &on_end)
                                                .needsInputs(true)
                                                .needsOutputs(true)
                                                .scopes({at::RecordScope::FUNCTION}))) {
      t_recording = &r;
    }
    ~Recorder() {
      t_recording = nullptr;
      at::removeCallback(handle);
    }
    at::CallbackHandle handle;
  } recorder(recording);
  step();
  return std::move(recording.calls);
}

std::string line_of(const OpCall& c) {
  return c.name + (c.overload.empty() ? "" : "." + c.overload) + "(" + c.args + ")";
}

// Why the capture would fail at `c`, or "" where it would not.
std::string host_wait(const OpCall& c) {
  if (among(kHostReads, c.name) && !c.cuda_reads_on_device) return "the host waits for its result";
  if (c.name == "aten::repeat_interleave" && c.overload == "Tensor" && c.last_is_none)
    return "without output_size the host reads the repeats' sum";
  if (c.name == "aten::narrow" && c.overload == "Tensor") return "the host reads its start";
  return "";
}

std::string shortened(std::string s) {
  constexpr size_t kMax = 400;
  if (s.size() > kMax) {
    s.resize(kMax);
    s += "...";
  }
  return s;
}

}  // namespace

void set_graphs_emulated_on_cpu(bool on) { g_emulated.set(on); }

bool graphs_emulated_on_cpu() { return g_emulated.on(); }

void CaptureAudit::capture(const std::function<void()>& step) {
  const std::vector<OpCall> calls = record(step);
  ops_.clear();
  for (size_t i = 0; i < calls.size(); ++i) {
    if (const std::string why = host_wait(calls[i]); !why.empty())
      throw_runtime("a CUDA graph cannot capture this step: op " + std::to_string(i) +
                        (calls[i].caller.empty() ? "" : ", called by " + calls[i].caller) + ", waits for the device (" +
                        why + ")",
                    {.found = shortened(line_of(calls[i]))});
    ops_.push_back(line_of(calls[i]));
  }
  captured_ = true;
}

void CaptureAudit::replay(const std::function<void()>& step) {
  if (!captured_) throw_runtime("CaptureAudit::replay before capture");
  const std::vector<OpCall> calls = record(step);
  const size_t n = std::min(calls.size(), ops_.size());
  for (size_t i = 0; i <= n; ++i) {
    const std::string got = i < calls.size() ? line_of(calls[i]) : "the step's end";
    const std::string want = i < ops_.size() ? ops_[i] : "the step's end";
    if (got != want)
      throw_runtime("a CUDA graph's replay would not run this step: op " + std::to_string(i) +
                        " differs from the capture's, which a replay repeats",
                    {.expected = shortened(want), .found = shortened(got)});
  }
}

}  // namespace s2d
