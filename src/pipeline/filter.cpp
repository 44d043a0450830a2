#include "s2d/pipeline/filter.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "s2d/data/task.h"
#include "s2d/methods/answers.h"
#include "s2d/methods/method_spec.h"
#include "s2d/methods/runner.h"
#include "s2d/methods/vote.h"
#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "s2d/util/jsonl.h"

namespace s2d {

namespace {

struct Sample {
  int64_t line = 0;
  int sample = 0;
  bool perturbed = false;
  std::string input, final_text, method, task;
  std::optional<std::string> answer;
};

struct Group {
  std::string id;
  std::vector<Sample> shown, swapped;  // by sample index
};

Vote majority(const std::vector<Sample>& samples) {
  std::vector<std::optional<std::string>> answers;
  for (const auto& s : samples) answers.push_back(s.answer);
  return majority_vote(answers);
}

std::string bin_of(double agreement) {
  const int b = std::min(9, static_cast<int>(std::floor(agreement * 10 + 1e-9)));
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.1f-%.1f", b / 10.0, (b + 1) / 10.0);
  return buf;
}

std::vector<Group> read_groups(const FilterOptions& o) {
  std::vector<Group> groups;
  std::map<std::string, size_t> index;
  std::map<std::string, int64_t> line_of;  // record key -> line
  std::string first_method;
  int64_t first_line = 0;
  read_jsonl(o.in_path, [&](int64_t line, const nlohmann::json& r) {
    Sample s;
    s.line = line;
    const std::string id = json_string_field(r, "id", o.in_path, line);
    s.method = json_string_field(r, "method", o.in_path, line);
    s.input = json_string_field(r, "input", o.in_path, line);
    s.final_text = json_string_field(r, "final", o.in_path, line);
    s.task = r.value("task", std::string());
    s.sample = r.value("sample", 0);
    s.perturbed = r.value("perturbed", false);
    if (auto a = r.find("answer"); a != r.end() && a->is_string()) s.answer = a->get<std::string>();
    if (first_method.empty()) {
      first_method = s.method;
      first_line = line;
    } else if (s.method != first_method && !o.allow_mixed_methods) {
      throw_input("samples from different methods in one input",
                  {.file = o.in_path,
                   .line = line,
                   .field = "method",
                   .expected = first_method + " (as on line " + std::to_string(first_line) + ")",
                   .found = s.method,
                   .hint = "filter each method's file separately, or pass --allow-mixed-methods"});
    }
    // A sample counted twice would be a vote counted twice ("3 of 2 samples").
    const std::string key = unit_key(id, s.sample, s.perturbed);
    if (auto [seen, first] = line_of.emplace(key, line); !first) {
      throw_input("duplicate sample",
                  {.file = o.in_path,
                   .line = line,
                   .field = "id, sample",
                   .expected = "each (id, sample) once",
                   .found = "'" + key + "' again (first on line " + std::to_string(seen->second) + ")",
                   .hint = "join shard files with 's2d merge', which drops repeats"});
    }
    auto [it, fresh] = index.emplace(id, groups.size());
    if (fresh) groups.push_back({id, {}, {}});
    (s.perturbed ? groups[it->second].swapped : groups[it->second].shown).push_back(std::move(s));
  });
  if (groups.empty()) throw_input("empty file", {.file = o.in_path, .expected = "sample records", .found = "none"});
  // Tasks by id and samples by index, whatever order generate finished them in (it writes tasks as
  // they finish; a resumed run, an HTTP teacher or merged shards order them otherwise): the same
  // samples give the same SFT file, and so the same distilled model.
  std::sort(groups.begin(), groups.end(), [](const Group& a, const Group& b) { return a.id < b.id; });
  for (auto& g : groups)
    for (auto* v : {&g.shown, &g.swapped})
      std::sort(v->begin(), v->end(), [](const Sample& a, const Sample& b) { return a.sample < b.sample; });
  return groups;
}

const Sample* first_with(const std::vector<Sample>& v, const std::string& answer) {
  for (const auto& s : v)
    if (s.answer == answer && !s.final_text.empty()) return &s;
  return nullptr;
}

nlohmann::json sft_line(const Group& g, const Sample& chosen, const std::string& user, nlohmann::json meta) {
  meta["method"] = chosen.method;
  return {
      {"id", g.id},
      {"messages", {{{"role", "user"}, {"content", user}}, {{"role", "assistant"}, {"content", chosen.final_text}}}},
      {"meta", meta}};
}

// A verdict as the swapped order reads it: "[[A]]" and "[[B]]" trade letters; a tie stays.
std::string verdict_in_swapped_order(std::string verdict) {
  for (size_t i = 0; i + 4 < verdict.size(); ++i) {
    if (verdict.compare(i, 2, "[[") != 0 || verdict.compare(i + 3, 2, "]]") != 0) continue;
    if (verdict[i + 2] == 'A')
      verdict[i + 2] = 'B';
    else if (verdict[i + 2] == 'B')
      verdict[i + 2] = 'A';
  }
  return verdict;
}

// What a filter decides for one task: the sample to teach (and, with --both-orders, its swapped
// twin), with what the SFT line's meta should add; or the reason none is taught.
struct Decision {
  const Sample* keep = nullptr;
  const char* dropped = nullptr;
  nlohmann::json meta = nlohmann::json::object();
  const Sample* swapped = nullptr;
};
Decision drop(const char* why) { return {.dropped = why}; }

// What the filters read besides the task's samples.
struct FilterInputs {
  const FilterOptions& o;
  const std::map<std::string, Task>& labels;                              // oracle
  const std::map<std::string, std::pair<std::string, std::string>>& usc;  // usc: id -> (prompt, output)
};

Decision by_self_consistency(const Group& g, const Vote& v, const FilterInputs& in) {
  if (!v.answer) return drop(v.tie ? "tie" : "no_parsed_answer");
  if (v.tie) return drop("tie");
  const double agreement = static_cast<double>(v.votes) / v.total;
  if (v.votes < in.o.min_votes) return drop("too_few_votes");
  if (agreement + 1e-12 < in.o.min_agreement) return drop("low_agreement");
  const Sample* s = first_with(g.shown, *v.answer);
  if (!s) return drop("empty_final");
  return {.keep = s, .meta = {{"answer", *v.answer}}};
}

Decision by_perturbation(const Group& g, const Vote& v, const FilterInputs& in) {
  if (g.swapped.empty()) return drop("missing_perturbation");
  const Vote w = majority(g.swapped);
  if (!v.answer || !w.answer || v.tie || w.tie) return drop("no_verdict");
  if (*v.answer != *w.answer) return drop("inconsistent_under_swap");
  // --both-orders: the same verdict, checked in both orders, taught in both.
  return {.keep = first_with(g.shown, *v.answer),
          .meta = {{"answer", *v.answer}, {"swapped_votes", w.votes}},
          .swapped = in.o.both_orders ? first_with(g.swapped, *v.answer) : nullptr};
}

Decision by_usc(const Group& g, const Vote&, const FilterInputs& in) {
  auto it = in.usc.find(g.id);
  if (it == in.usc.end()) return drop("fewer_than_two_samples");
  auto k = parse_usc_choice(it->second.second, static_cast<int>(g.shown.size()));
  if (!k) return drop("unparsed_choice");
  const Sample& s = g.shown[static_cast<size_t>(*k - 1)];
  if (s.final_text.empty()) return drop("empty_final");
  Decision d{.keep = &s,
             .meta = {{"usc", {{"choice", *k}, {"prompt", it->second.first}, {"output", it->second.second}}}}};
  if (s.answer) d.meta["answer"] = *s.answer;
  return d;
}

Decision by_oracle(const Group& g, const Vote&, const FilterInputs& in) {
  auto t = in.labels.find(g.id);
  if (t == in.labels.end() || !t->second.answer) return drop("no_label");
  const auto kind = answer_kind_for_task(t->second.task);
  const auto label = extract_answer(*t->second.answer, kind).value_or(*t->second.answer);
  const Sample* s = first_with(g.shown, label);
  if (!s) return drop("no_sample_matches_label");
  return {
      .keep = s,
      .meta = {{"answer", label}, {"oracle", "uses labels: for ablations only, never for a real distillation run"}}};
}

Decision by_none(const Group& g, const Vote&, const FilterInputs&) {  // ablation: the first sample with an answer
  for (const auto& c : g.shown)
    if (c.answer && !c.final_text.empty()) return {.keep = &c, .meta = {{"answer", *c.answer}}};
  return drop("no_parsed_answer");
}

struct FilterDef {
  const char* name;
  Decision (*decide)(const Group&, const Vote&, const FilterInputs&);
};
constexpr FilterDef kFilters[] = {
    {"self-consistency", by_self_consistency},
    {"perturbation", by_perturbation},
    {"usc", by_usc},
    {"oracle", by_oracle},
    {"none", by_none},
};

const FilterDef& filter_named(const std::string& name) {
  for (const auto& f : kFilters)
    if (name == f.name) return f;
  throw_input("unknown filter", {.field = "--by", .expected = filter_names(), .found = name});
}

}  // namespace

std::string filter_names() {
  std::string out;
  for (const auto& f : kFilters) out += (out.empty() ? "" : "|") + std::string(f.name);
  return out;
}

nlohmann::json FilterSummary::to_json(const FilterOptions& o) const {
  return {{"filter", o.by},
          {"input", o.in_path},
          {"output", o.out_path},
          {"inputs", inputs},
          {"kept", kept},
          {"examples", examples},
          {"dropped", dropped},
          {"agreement_histogram", agreement},
          {"min_agreement", o.min_agreement},
          {"min_votes", o.min_votes},
          {"oracle_uses_labels", o.by == "oracle"}};
}

namespace {

// The user turn the distilled model learns from: by default exactly the System 1 prompt that
// eval --method system1 sends (the input plus the task's format hint), so that training and
// evaluation see the same text; with "raw", the input as it is.
class UserTurn {
 public:
  explicit UserTurn(const std::string& user_template) {
    if (user_template != "raw") direct_ = load_method_spec("system1", user_template == "system1" ? "" : user_template);
  }
  std::string operator()(const Sample& s) const {
    if (!direct_) return s.input;
    return render_template(direct_->step("answer"),
                           {{"input", s.input}, {"format_hint", direct_->format_hint(s.task)}});
  }

 private:
  std::optional<MethodSpec> direct_;
};

// --by oracle: the labelled tasks, by id.
std::map<std::string, Task> read_oracle_labels(const FilterOptions& o) {
  std::map<std::string, Task> labels;
  if (o.by != "oracle") return labels;
  if (o.tasks_path.empty())
    throw_input("the oracle filter needs labels", {.field = "--tasks", .hint = "pass the labelled task file"});
  for (auto& t : read_tasks(o.tasks_path)) labels.emplace(t.id, std::move(t));
  return labels;
}

// --by usc: one selection prompt per task of two or more samples, all through the backend
// together. id -> (prompt, the model's output).
std::map<std::string, std::pair<std::string, std::string>> usc_selections(const FilterOptions& o,
                                                                          const std::optional<MethodSpec>& spec,
                                                                          const std::vector<Group>& groups,
                                                                          Backend* backend) {
  std::map<std::string, std::pair<std::string, std::string>> usc;
  if (!spec) return usc;
  if (backend == nullptr) throw_input("--by usc needs a model", {.field = "--model"});
  std::vector<CompletionRequest> reqs;
  for (const auto& g : groups) {
    if (g.shown.size() < 2) continue;
    std::vector<std::string> finals;
    for (const auto& s : g.shown) finals.push_back(s.final_text);
    CompletionRequest r;
    r.id = g.id;
    r.messages = {{"user", render_usc_prompt(*spec, g.shown[0].input, finals)}};
    r.sampling = o.usc_sampling;
    usc[g.id].first = r.messages[0].content;
    reqs.push_back(std::move(r));
  }
  backend->complete(reqs, [&](CompletionResult&& res) { usc[res.id].second = res.choices.at(0).text; });
  return usc;
}

// What check_filter_options reads: the user turn's template and, for --by usc, the selection spec.
struct FilterTemplates {
  UserTurn user_turn;
  std::optional<MethodSpec> usc;
};

FilterTemplates checked_filter_templates(const FilterOptions& o) {
  const std::vector<std::string> inputs = {o.in_path, o.tasks_path, o.user_template, o.usc_template};
  check_output_file(o.out_path, inputs);  // before anything is read or written
  check_output_file(o.out_path + ".summary.json", inputs);
  filter_named(o.by);
  if (o.both_orders && o.by != "perturbation")
    throw_input("only the perturbation filter has a swapped order",
                {.field = "--both-orders", .expected = "--by perturbation", .found = "--by " + o.by});
  if (!(o.min_agreement >= 0 && o.min_agreement <= 1))
    throw_input(
        "out of range",
        {.field = "--min-agreement", .expected = "a fraction in [0, 1]", .found = std::to_string(o.min_agreement)});
  FilterTemplates t{UserTurn(o.user_template), std::nullopt};
  if (o.by == "usc") t.usc = load_method_spec("usc", o.usc_template);
  require_regular_file(o.in_path);
  return t;
}

}  // namespace

void check_filter_options(const FilterOptions& o) { checked_filter_templates(o); }

FilterSummary run_filter(const FilterOptions& o, Backend* backend) {
  const auto [user_turn, usc_spec] = checked_filter_templates(o);
  const FilterDef& filter = filter_named(o.by);
  const auto groups = read_groups(o);
  const auto labels = read_oracle_labels(o);
  const auto usc = usc_selections(o, usc_spec, groups, backend);

  FilterSummary sum;
  sum.inputs = static_cast<int64_t>(groups.size());
  std::vector<nlohmann::json> out;
  int64_t swapped_copies = 0;  // --both-orders lines: examples, not kept tasks
  const FilterInputs in{o, labels, usc};
  for (const auto& g : groups) {
    const Vote v = majority(g.shown);
    const double agreement = v.total > 0 ? static_cast<double>(v.votes) / v.total : 0.0;
    if (g.shown.empty()) {
      ++sum.dropped["no_samples_in_shown_order"];
      continue;
    }
    ++sum.agreement[bin_of(agreement)];
    const Decision d = filter.decide(g, v, in);
    if (d.dropped) {
      ++sum.dropped[d.dropped];
      continue;
    }
    nlohmann::json meta = {{"filter", o.by}, {"votes", v.votes}, {"samples", v.total}, {"agreement", agreement}};
    meta.update(d.meta);
    out.push_back(sft_line(g, *d.keep, user_turn(*d.keep), meta));
    if (const Sample* t = d.swapped) {  // its input shows the pair swapped while its final speaks of the shown order
      nlohmann::json line = sft_line(g, *t, user_turn(*t), meta);
      line["id"] = g.id + "#swapped";
      line["messages"][1]["content"] = verdict_in_swapped_order(t->final_text);
      line["meta"]["order"] = "swapped";
      out.push_back(std::move(line));
      ++swapped_copies;
    }
  }
  sum.examples = static_cast<int64_t>(out.size());
  sum.kept = sum.examples - swapped_copies;
  std::string text;
  for (const auto& j : out) text += j.dump() + "\n";
  write_file_atomic(o.out_path, text);
  write_file_atomic(o.out_path + ".summary.json", sum.to_json(o).dump(2) + "\n");
  return sum;
}

}  // namespace s2d
