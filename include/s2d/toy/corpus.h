// `s2d data toy-corpus`: everything the toy world needs, from one seed (docs/toy-world.md).
//
//   OUT/corpus.jsonl       SFT examples (chat messages) that teach the toy model: every step of
//                          the methods below, rendered by the real method runner from configs/methods/,
//                          answered by the Teacher; plus System 1 answers on easier instances
//   OUT/tasks/NAME.distill.jsonl   questions to distil on, WITHOUT labels (nothing before eval reads one)
//   OUT/tasks/NAME.test.jsonl      held-out labelled questions for eval
//   OUT/primer.jsonl       lookup lessons (every fact of a toy-qa question asked and restated),
//                          which scripts/build_toy_model.sh trains on before the corpus
//   OUT/manifest.json      what was generated, with counts and sizes
//
// The corpus, distill and test questions are disjoint: each split's inputs are excluded from the
// next generator's draws.
//
//   task         System 1 in the corpus        System 2 in the corpus    distill / test questions
//   last-letter  1-2 names                     rar2, 2-5 names           4 names
//   coin-flip    1-2 people                    cot, 2-5 people           4 people
//   arithmetic   1-2 digits                    cot, 2-4 digits           3 digits
//   toy-qa       unbiased right; biased agrees s2a on biased; usc        3 facts (biased-qa: x3 opinions)
//                with the opinion
//   judge        position-biased verdicts      bsm                       3 facts
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "s2d/util/option_set.h"

namespace s2d::toy {

struct CorpusOptions {
  std::string out_dir;
  uint64_t seed = 0;
  double scale = 1.0;       // multiplies every corpus part's size (tests use a small scale)
  int64_t distill_n = 400;  // questions per task to distil on (biased-qa: this many biased prompts)
  // More questions to distil on, appended to each distill file. They are drawn after the corpus,
  // so adding them leaves the corpus -- and a model trained on it -- unchanged.
  int64_t distill_extra_n = 600;
  int64_t test_n = 200;  // held-out questions per task
  int64_t dev_n = 200;   // labelled questions per task for choosing settings (drawn last)
  // Lookup primer lessons (OUT/primer.jsonl, times --scale): every fact of a fresh 2-5-fact
  // toy-qa question asked and answered directly; the toy model trains on them first.
  int64_t primer_n = 40000;
  std::string names_path;  // default data/names.txt
  bool overwrite = false;
};

// `s2d data toy-corpus`'s flags (util/option_set.h).
template <OptionsOf<CorpusOptions> O, class F>
void visit_options(O& o, F&& f) {
  f("--out", "", o.out_dir, "Directory to write (corpus.jsonl, tasks/, manifest.json)");
  f("--seed", "", o.seed, "Random seed; the same seed gives the same files");
  f("--scale", "", o.scale, "Multiplies the corpus size (1.0 = 50,601 examples and a 40,000-lesson primer)");
  f("--distill-n", "", o.distill_n, "Questions per task to distil on");
  f("--distill-extra-n", "", o.distill_extra_n,
    "More distill questions per task, drawn after the corpus (the corpus stays the same)");
  f("--test-n", "", o.test_n, "Held-out test questions per task");
  f("--dev-n", "", o.dev_n, "Labelled dev questions per task, for choosing settings without the test set");
  f("--primer-n", "", o.primer_n,
    "Lookup lessons in primer.jsonl (times --scale; 0: none), which the toy model learns first");
  f("--names", "", o.names_path, "Names file (default: data/names.txt)");
  f("--overwrite", "", o.overwrite, "Replace an existing output directory");
}

struct CorpusSummary {
  int64_t examples = 0;
  std::map<std::string, int64_t> parts;       // "task/method" -> examples
  std::map<std::string, int64_t> task_files;  // path -> tasks
};

CorpusSummary build_corpus(const CorpusOptions& opts);

}  // namespace s2d::toy
