// `s2d data ...`: task-file generators and validation. Thin: the work is in src/data/.
#include <filesystem>
#include <iostream>
#include <map>

#include "s2d/cli/commands.h"
#include "s2d/data/convert.h"
#include "s2d/data/task.h"
#include "s2d/data/task_generators.h"
#include "s2d/toy/corpus.h"
#include "s2d/toy/world.h"
#include "s2d/util/atomic_file.h"

namespace s2d::cli {

namespace {

struct GenFlags {
  int64_t n = 100;
  int k = 2;
  uint64_t seed = 0;
  std::string out, names, split_str;
  double split = 0.0;
  std::vector<std::string> exclude;
};

// "tasks.jsonl" + "test" -> "tasks.test.jsonl"
std::string with_suffix(const std::string& path, const std::string& tag) {
  std::filesystem::path p(path);
  return (p.parent_path() / (p.stem().string() + "." + tag + p.extension().string())).string();
}

void add_generator(CLI::App& data, Commands& out, const std::string& name, const std::string& desc,
                   const std::string& k_flag, const std::string& k_help,
                   std::vector<Task> (*generate)(const SyntheticTaskOptions&)) {
  auto f = std::make_shared<GenFlags>();
  auto cmd = add_command(data, out, name, desc);
  CLI::App& a = *cmd->app;
  add_flag_or_option(a, "--n", f->n, "Number of distinct questions");
  add_flag_or_option(a, k_flag, f->k, k_help);
  add_flag_or_option(a, "--seed", f->seed, "Random seed; the same seed gives the same file");
  a.add_option("--out", f->out, "Output task JSONL (with --split: OUT.train.jsonl and OUT.test.jsonl)");
  a.add_option("--split", f->split,
               "Fraction of questions held out as a test split, e.g. 0.2; no question is in both splits");
  a.add_option("--names", f->names, "Names file, one per line (default: data/names.txt)");
  a.add_option("--exclude", f->exclude, "Task files whose questions must not be generated (keeps sets disjoint)");
  cmd->run = [f, cmd, generate] {
    require_flags(*cmd->app, {"--out"});
    SyntheticTaskOptions opt;
    opt.n = f->n;
    opt.k = f->k;
    opt.seed = f->seed;
    opt.names = load_names(f->names.empty() ? default_names_path() : f->names);
    for (const auto& path : f->exclude)
      for (const auto& t : read_tasks(path)) opt.exclude.insert(t.input);
    std::vector<Task> tasks = generate(opt);
    std::vector<std::string> inputs = f->exclude;
    inputs.push_back(f->names);
    for (const auto& path : {f->out, with_suffix(f->out, "train"), with_suffix(f->out, "test")})
      check_output_file(path, inputs);
    if (cmd->app->get_option("--split")->count() > 0) {
      Split s = split_tasks(std::move(tasks), f->split, f->seed);
      write_tasks(with_suffix(f->out, "train"), s.train);
      write_tasks(with_suffix(f->out, "test"), s.test);
      std::cout << "wrote " << s.train.size() << " train tasks to " << with_suffix(f->out, "train") << " and "
                << s.test.size() << " test tasks to " << with_suffix(f->out, "test") << "\n";
    } else {
      write_tasks(f->out, tasks);
      std::cout << "wrote " << tasks.size() << " tasks to " << f->out << "\n";
    }
    return 0;
  };
}

void register_toy_corpus(CLI::App& data, Commands& out) {
  add_leaf_command<toy::CorpusOptions>(
      data, out, "toy-corpus",
      "The toy world: a training corpus for a toy model (every method step, answered "
      "by a symbolic teacher) and disjoint distill/test task files (docs/toy-world.md)",
      {"--out"}, [](const toy::CorpusOptions& o) {
        const toy::CorpusSummary s = toy::build_corpus(o);
        std::cout << "wrote " << s.examples << " corpus examples to " << o.out_dir << "/corpus.jsonl\n";
        for (const auto& [part, n] : s.parts) std::cout << "  " << part << ": " << n << "\n";
        for (const auto& [path, n] : s.task_files) std::cout << "  " << path << ": " << n << " tasks\n";
      });
}

// `s2d data convert` and `s2d data bias`: a task file from another file (never written over it).
struct ConvertFlags {
  std::string format, in, out;
  uint64_t seed = 0;
};
// --in and --out of a file-to-file command.
template <class O, class F>
void visit_in_out(O& o, F& f, const char* in_help, const char* out_help) {
  f("--in", "", o.in, in_help);
  f("--out", "", o.out, out_help);
}
struct ConvertFormatFlags : ConvertFlags {};
template <OptionsOf<ConvertFormatFlags> O, class F>
void visit_options(O& o, F&& f) {
  f("--format", "", o.format, "gsm8k | triviaqa | mtbench (human judgments) | oasst2 (message rows)");
  visit_in_out(o, f, "Input JSONL in that format", "Task JSONL to write");
}
struct BiasFlags : ConvertFlags {};
template <OptionsOf<BiasFlags> O, class F>
void visit_options(O& o, F&& f) {
  visit_in_out(o, f, "QA task JSONL (with answers)", "Biased task JSONL to write (3 per input task)");
  f("--seed", "", o.seed, "Picks the wrong answers to suggest");
}

void register_convert(CLI::App& data, Commands& out) {
  add_leaf_command<ConvertFormatFlags>(data, out, "convert", "Convert a public dataset file into an s2d task file",
                                       {"--format", "--in", "--out"}, [](const ConvertFlags& o) {
                                         check_output_file(o.out, {o.in});
                                         ConvertStats st;
                                         write_tasks(o.out, convert_tasks(o.in, o.format, &st));
                                         std::cout << "converted " << st.written << " tasks from " << st.read << " "
                                                   << o.format << " records (" << st.skipped << " skipped) to " << o.out
                                                   << "\n";
                                       });
  add_leaf_command<BiasFlags>(data, out, "bias",
                              "Wrap QA tasks with SycophancyEval's three opinion templates (keeps unbiased_input)",
                              {"--in", "--out"}, [](const ConvertFlags& o) {
                                check_output_file(o.out, {o.in});
                                const auto tasks = make_biased(read_tasks(o.in), o.seed);
                                write_tasks(o.out, tasks);
                                std::cout << "wrote " << tasks.size() << " biased tasks to " << o.out << "\n";
                              });
}

void register_validate(CLI::App& data, Commands& out) {
  auto path = std::make_shared<std::string>();
  auto validate = add_command(data, out, "validate", "Check a task file and count its tasks by type");
  validate->app->add_option("file", *path, "Task JSONL");
  validate->run = [path, validate] {
    require_flags(*validate->app, {"file"});
    auto tasks = read_tasks(*path);
    std::map<std::string, std::pair<int, int>> by_task;  // task -> (count, labelled)
    for (const auto& t : tasks) {
      auto& c = by_task[t.task];
      ++c.first;
      c.second += t.answer.has_value();
    }
    std::cout << *path << ": " << tasks.size() << " tasks\n";
    for (const auto& [name, c] : by_task)
      std::cout << "  " << name << ": " << c.first << " (" << c.second << " with answer)\n";
    return 0;
  };
}

}  // namespace

void register_data(CLI::App& root, Commands& out) {
  CLI::App* data = root.add_subcommand("data", "Make and check task files (JSONL, schema in docs/formats.md)");
  data->require_subcommand(1);
  add_generator(*data, out, "last-letter",
                "Last-letter concatenation: 'Take the last letters of the words in \"A B\" and concatenate them.'",
                "--words", "Names per question (k)", generate_last_letter);
  add_generator(*data, out, "coin-flip",
                "Coin flip: 'A coin is heads up. X flips the coin. ... Is the coin still heads up?'", "--people",
                "People per question (k)", generate_coin_flip);

  add_generator(*data, out, "arithmetic", "Multi-digit addition: 'What is 4721 + 3856?'", "--digits",
                "Digits per number (k)", toy::generate_arithmetic);
  add_generator(*data, out, "toy-qa",
                "Questions over invented facts stated in the question: 'Facts: Vorland has the capital Quilp. ... "
                "Question: Which capital does Vorland have?' (wrap with `data bias` for opinions)",
                "--facts", "Facts per question (k)", toy::generate_qa);
  add_generator(*data, out, "toy-judge",
                "Pairwise judge tasks over toy-qa questions: the true answer, and an off-topic one (another fact of "
                "the question)",
                "--facts", "Facts per question (k)", toy::generate_judge);
  register_toy_corpus(*data, out);
  register_convert(*data, out);
  register_validate(*data, out);
}

}  // namespace s2d::cli
