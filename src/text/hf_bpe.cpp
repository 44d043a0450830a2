// HF's BPE model: a word's characters (or their bytes, or unk) become symbols, then the
// lowest-ranked adjacent pair is merged until none is left, as tokenizers' Word::merge_all does
// (ties: the leftmost pair first).
#include <cstdio>
#include <queue>

#include "hf_parts.h"
#include "s2d/util/error.h"

namespace s2d::hf {

namespace {
uint64_t pair_key(int a, int b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}
}  // namespace

Bpe::Bpe(const nlohmann::json& m, const std::string& path) {
  auto field = [&](const char* k) { return path + "." + k; };
  if (!m.is_object() || m.value("type", std::string("BPE")) != "BPE") {
    throw_input("unsupported tokenizer model",
                {.field = field("type"),
                 .expected = "BPE",
                 .found = m.is_object() ? m.value("type", std::string("?")) : std::string(m.type_name()),
                 .hint = "Unigram and WordPiece tokenizers are not supported"});
  }
  for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (m.contains(k) && !m[k].is_null() && !(m[k].is_string() && m[k].get<std::string>().empty()))
      throw_input("unsupported BPE setting", {.field = field(k), .expected = "null", .found = m[k].dump()});
  }
  if (m.contains("dropout") && !m["dropout"].is_null() && m["dropout"] != 0.0)
    throw_input("unsupported BPE setting",
                {.field = field("dropout"), .expected = "null", .found = m["dropout"].dump()});
  if (!m.contains("vocab") || !m["vocab"].is_object())
    throw_input("missing vocab", {.field = field("vocab"), .expected = "an object token -> id"});
  for (auto it = m["vocab"].begin(); it != m["vocab"].end(); ++it) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() >= (1 << 24))
      throw_input("bad vocab id", {.field = field("vocab") + "." + it.key(), .expected = "an id in [0, 2^24)"});
    add_token(it.key(), it->get<int>());
  }
  byte_fallback_ = m.value("byte_fallback", false);
  fuse_unk_ = m.value("fuse_unk", false);
  ignore_merges_ = m.value("ignore_merges", false);
  if (m.contains("unk_token") && m["unk_token"].is_string()) {
    unk_id_ = token_to_id(m["unk_token"].get<std::string>());
    if (unk_id_ < 0)
      throw_input("unk_token is not in the vocab",
                  {.field = field("unk_token"), .found = m["unk_token"].get<std::string>()});
  }
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    byte_ids_[b] = token_to_id(buf);
  }
  const auto& merges = m.value("merges", nlohmann::json::array());
  if (!merges.is_array()) throw_input("bad merges", {.field = field("merges"), .expected = "an array"});
  for (size_t r = 0; r < merges.size(); ++r) {
    std::string a, b;
    const auto& e = merges[r];
    if (e.is_string()) {  // "a b": the first space separates (tokens never hold a plain space)
      const std::string& s = e.get_ref<const std::string&>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos)
        throw_input("bad merge",
                    {.field = field("merges") + "[" + std::to_string(r) + "]", .expected = "\"a b\"", .found = s});
      a = s.substr(0, sp), b = s.substr(sp + 1);
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
      a = e[0].get<std::string>(), b = e[1].get<std::string>();
    } else {
      throw_input("bad merge",
                  {.field = field("merges") + "[" + std::to_string(r) + "]", .expected = "\"a b\" or [\"a\", \"b\"]"});
    }
    const int ia = token_to_id(a), ib = token_to_id(b), im = token_to_id(a + b);
    if (ia < 0 || ib < 0 || im < 0)
      throw_input("merge of tokens not in the vocab",
                  {.field = field("merges") + "[" + std::to_string(r) + "]", .found = a + " " + b});
    merges_.emplace(pair_key(ia, ib), std::make_pair(static_cast<int>(r), im));  // the first rank wins, as in HF
  }
}

void Bpe::add_token(const std::string& token, int id) {
  token_to_id_[token] = id;
  if (static_cast<size_t>(id) >= id_to_token_.size()) id_to_token_.resize(static_cast<size_t>(id) + 1);
  id_to_token_[static_cast<size_t>(id)] = token;
}

int Bpe::token_to_id(std::string_view token) const {
  const auto it = token_to_id_.find(std::string(token));
  return it == token_to_id_.end() ? -1 : it->second;
}

void Bpe::encode(std::string_view word, std::vector<int>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (const int id = token_to_id(word); id >= 0) {
      out.push_back(id);
      return;
    }
  }
  // Symbols in a doubly linked list over a vector; `id` -1 marks a merged-away symbol.
  struct Sym {
    int id, prev, next;
  };
  std::vector<Sym> syms;
  syms.reserve(word.size());
  bool last_unk = false;
  auto push = [&](int id) {
    const int n = static_cast<int>(syms.size());
    syms.push_back({id, n - 1, -1});
    if (n > 0) syms[n - 1].next = n;
  };
  for (size_t i = 0; i < word.size();) {
    const size_t n = utf8_len(word, i);
    const std::string_view ch = word.substr(i, n);
    i += n;
    if (const int id = token_to_id(ch); id >= 0) {
      push(id);
      last_unk = false;
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (unsigned char c : ch) all = all && byte_ids_[c] >= 0;
      if (all) {
        for (unsigned char c : ch) push(byte_ids_[c]);
        last_unk = false;
        continue;
      }
    }
    if (unk_id_ >= 0) {
      if (!(fuse_unk_ && last_unk)) push(unk_id_);
      last_unk = true;
    }
  }
  struct Cand {
    int rank, pos, merged;
    bool operator<(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }  // min-heap
  };
  std::priority_queue<Cand> heap;
  auto consider = [&](int pos) {
    if (pos < 0 || syms[pos].next < 0) return;
    const auto it = merges_.find(pair_key(syms[pos].id, syms[syms[pos].next].id));
    if (it != merges_.end()) heap.push({it->second.first, pos, it->second.second});
  };
  for (int p = 0; p + 1 < static_cast<int>(syms.size()); ++p) consider(p);
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    Sym& left = syms[c.pos];
    if (left.id < 0 || left.next < 0) continue;
    const auto it = merges_.find(pair_key(left.id, syms[left.next].id));
    if (it == merges_.end() || it->second.second != c.merged) continue;  // stale: a neighbour changed
    Sym& right = syms[left.next];
    left.id = c.merged;
    right.id = -1;
    left.next = right.next;
    if (right.next >= 0) syms[right.next].prev = c.pos;
    consider(left.prev);
    consider(c.pos);
  }
  for (int p = syms.empty() ? -1 : 0; p >= 0; p = syms[p].next) out.push_back(syms[p].id);
}

}  // namespace s2d::hf
