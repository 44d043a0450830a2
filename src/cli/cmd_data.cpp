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
  a.add_option("--n", f->n, "Number of distinct questions")->capture_default_str();
  a.add_option(k_flag, f->k, k_help)->capture_default_str();
  a.add_option("--seed", f->seed, "Random seed; the same seed gives the same file")->capture_default_str();
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

}  // namespace

void register_data(CLI::App& root, Commands& out) {
  CLI::App* data = root.add_subcommand("data", "Make and check task files (JSONL, schema in README)");
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

  auto tc = std::make_shared<toy::CorpusOptions>();
  auto toy = add_command(*data, out, "toy-corpus",
                         "The toy world: a training corpus for a toy model (every method step, answered by a "
                         "symbolic teacher) and disjoint distill/test task files (README \"The toy world\")");
  toy->app->add_option("--out", tc->out_dir, "Directory to write (corpus.jsonl, tasks/, manifest.json)");
  toy->app->add_option("--seed", tc->seed, "Random seed; the same seed gives the same files")->capture_default_str();
  toy->app
      ->add_option("--scale", tc->scale,
                   "Multiplies the corpus size (1.0 = 50,601 examples and a 40,000-lesson primer)")
      ->capture_default_str();
  toy->app->add_option("--distill-n", tc->distill_n, "Questions per task to distil on")->capture_default_str();
  toy->app
      ->add_option("--distill-extra-n", tc->distill_extra_n,
                   "More distill questions per task, drawn after the corpus (the corpus stays the same)")
      ->capture_default_str();
  toy->app->add_option("--test-n", tc->test_n, "Held-out test questions per task")->capture_default_str();
  toy->app
      ->add_option("--dev-n", tc->dev_n, "Labelled dev questions per task, for choosing settings without the test set")
      ->capture_default_str();
  toy->app
      ->add_option("--primer-n", tc->primer_n,
                   "Lookup lessons in primer.jsonl (times --scale; 0: none), which the toy model learns first")
      ->capture_default_str();
  toy->app->add_option("--names", tc->names_path, "Names file (default: data/names.txt)");
  toy->app->add_flag("--overwrite", tc->overwrite, "Replace an existing output directory");
  toy->run = [tc, toy] {
    require_flags(*toy->app, {"--out"});
    const toy::CorpusSummary s = toy::build_corpus(*tc);
    std::cout << "wrote " << s.examples << " corpus examples to " << tc->out_dir << "/corpus.jsonl\n";
    for (const auto& [part, n] : s.parts) std::cout << "  " << part << ": " << n << "\n";
    for (const auto& [path, n] : s.task_files) std::cout << "  " << path << ": " << n << " tasks\n";
    return 0;
  };

  struct ConvertFlags {
    std::string format, in, out;
    uint64_t seed = 0;
  };
  auto cf = std::make_shared<ConvertFlags>();
  auto convert = add_command(*data, out, "convert", "Convert a public dataset file into an s2d task file");
  convert->app->add_option("--format", cf->format,
                           "gsm8k | triviaqa | mtbench (human judgments) | oasst2 (message rows)");
  convert->app->add_option("--in", cf->in, "Input JSONL in that format");
  convert->app->add_option("--out", cf->out, "Task JSONL to write");
  convert->run = [cf, convert] {
    require_flags(*convert->app, {"--format", "--in", "--out"});
    check_output_file(cf->out, {cf->in});
    ConvertStats st;
    const auto tasks = convert_tasks(cf->in, cf->format, &st);
    write_tasks(cf->out, tasks);
    std::cout << "converted " << st.written << " tasks from " << st.read << " " << cf->format << " records ("
              << st.skipped << " skipped) to " << cf->out << "\n";
    return 0;
  };
  auto bf = std::make_shared<ConvertFlags>();
  auto bias = add_command(*data, out, "bias",
                          "Wrap QA tasks with SycophancyEval's three opinion templates (keeps unbiased_input)");
  bias->app->add_option("--in", bf->in, "QA task JSONL (with answers)");
  bias->app->add_option("--out", bf->out, "Biased task JSONL to write (3 per input task)");
  bias->app->add_option("--seed", bf->seed, "Picks the wrong answers to suggest")->capture_default_str();
  bias->run = [bf, bias] {
    require_flags(*bias->app, {"--in", "--out"});
    check_output_file(bf->out, {bf->in});
    const auto tasks = make_biased(read_tasks(bf->in), bf->seed);
    write_tasks(bf->out, tasks);
    std::cout << "wrote " << tasks.size() << " biased tasks to " << bf->out << "\n";
    return 0;
  };

  auto path = std::make_shared<std::string>();
  auto validate = add_command(*data, out, "validate", "Check a task file and count its tasks by type");
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

}  // namespace s2d::cli
