// SFT data for `s2d distill`: chat-messages JSONL rendered with the model's chat template, the
// same template generate and eval use, into token ids with a loss mask on assistant tokens only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "s2d/text/chat_template.h"

namespace s2d {

struct SftExample {
  std::string id;
  std::vector<int> ids;
  std::vector<uint8_t> loss_mask;  // 1 where the token is predicted and counted (assistant tokens)
};

struct SftDataStats {
  int64_t examples = 0;
  int64_t truncated = 0;          // longer than max_seq_len, cut at the end
  int64_t dropped_no_target = 0;  // no assistant token left after truncation
  int64_t tokens = 0, target_tokens = 0;
};

// Reads {"id"?, "messages": [{"role", "content"}, ...]} lines; errors name file, line and field.
// Examples longer than `max_seq_len` are truncated (counted); those left with no assistant
// token are dropped (counted). An empty result is an InputError.
std::vector<SftExample> load_sft(const std::string& path, const Tokenizer& tok, const ChatTemplate& tmpl,
                                 int64_t max_seq_len, SftDataStats* stats);

// Deterministic split by id hash: about `fraction` of the examples go to validation.
void split_validation(std::vector<SftExample>& train, std::vector<SftExample>& val, double fraction, uint64_t seed);

// The batches of one epoch: examples shuffled with (seed, epoch), then grouped into buckets of
// similar length so that padding stays small; batches of indices into `data`, shuffled.
std::vector<std::vector<size_t>> epoch_batches(const std::vector<SftExample>& data, int64_t batch_size, uint64_t seed,
                                               int64_t epoch);

}  // namespace s2d
