#include "run_checkpoints.h"

#include <algorithm>
#include <regex>
#include <sstream>

#include "s2d/model/checkpoint.h"
#include "s2d/model/lora.h"
#include "s2d/model/safetensors.h"
#include "s2d/train/trainer.h"
#include "s2d/util/atomic_file.h"
#include "s2d/util/json.h"

namespace fs = std::filesystem;

namespace s2d {

std::vector<std::pair<int64_t, fs::path>> list_checkpoints(const fs::path& out) {
  std::vector<std::pair<int64_t, fs::path>> v;
  const fs::path dir = out / "checkpoints";
  if (!fs::exists(dir)) return v;
  static const std::regex re(R"(step-(\d{1,18}))");  // more digits are not ours, and would overflow
  for (const auto& e : fs::directory_iterator(dir)) {
    std::smatch m;
    const std::string name = e.path().filename().string();
    if (std::regex_match(name, m, re) && fs::exists(e.path() / "trainer_state.json"))
      v.emplace_back(std::stoll(m[1]), e.path());
  }
  std::sort(v.begin(), v.end());
  return v;
}

namespace {
void save_optimizer(const std::string& path, Trainer& t) {
  std::vector<at::Tensor> keep;  // the host copies the views point into
  std::vector<StTensorView> views;
  for (auto& [name, tensor] : t.state()) {
    at::Tensor h = tensor.detach().to(at::kCPU).contiguous();
    keep.push_back(h);
    views.push_back({name, StDtype::F32, h.sizes().vec(), static_cast<const uint8_t*>(h.data_ptr()), h.nbytes()});
  }
  write_safetensors(path, views);
}
}  // namespace

void save_checkpoint(const fs::path& out, int64_t step, LlamaModel& model, Trainer& trainer,
                     const std::string& base_model_dir, int64_t keep) {
  const std::string digits = std::to_string(step);
  const fs::path dir =
      out / "checkpoints" / ("step-" + std::string(6 - std::min<size_t>(6, digits.size()), '0') + digits);
  write_dir_atomic(dir.string(), [&](const std::string& tmp) {
    if (model.lora()) {
      save_adapter(tmp, *model.lora(), base_model_dir);
    } else {
      write_model_files(tmp, model, {});
    }
    save_optimizer(tmp + "/optimizer.safetensors", trainer);
    write_file_atomic(tmp + "/trainer_state.json", nlohmann::json{{"step", step}}.dump() + "\n");
  });
  const auto all = list_checkpoints(out);
  for (size_t i = 0; i + static_cast<size_t>(std::max<int64_t>(1, keep)) < all.size(); ++i)
    remove_tree(all[i].second.string());
}

std::map<std::string, at::Tensor> load_optimizer(const std::string& path, const c10::Device& dev) {
  SafetensorsFile f(path);
  std::map<std::string, at::Tensor> s;
  for (const auto& [name, v] : f.tensors())
    s[name] = at::from_blob(const_cast<uint8_t*>(v.data), v.shape, at::kFloat).to(dev, at::kFloat, false, true);
  return s;
}

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

}  // namespace s2d
