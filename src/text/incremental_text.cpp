#include "s2d/text/incremental_text.h"

namespace s2d {

namespace {

// Ids in a window that has not settled before decoding everything instead: a run this long of
// bytes that form no character is not text the windows can follow cheaply.
constexpr size_t kMaxPendingIds = 32;

bool ends_in_replacement(const std::string& s) {
  static const std::string kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  return s.size() >= 3 && s.compare(s.size() - 3, 3, kReplacement) == 0;
}

}  // namespace

std::string IncrementalText::decode_range(size_t from, size_t to) const {
  return tok_->decode(std::vector<int>(ids_.begin() + static_cast<std::ptrdiff_t>(from),
                                       ids_.begin() + static_cast<std::ptrdiff_t>(to)));
}

void IncrementalText::decode_everything() {
  whole_ = true;
  text_ = tok_->decode(ids_);
  ++full_decodes_;
}

void IncrementalText::push(int id) {
  ids_.push_back(id);
  if (whole_) return decode_everything();
  const std::string window = decode_range(prefix_, ids_.size());
  if (window.compare(0, prefix_text_.size(), prefix_text_) != 0) return decode_everything();
  if (window.size() == prefix_text_.size() || ends_in_replacement(window)) {  // nothing settled yet
    if (ids_.size() - read_ > kMaxPendingIds) decode_everything();
    return;
  }
  text_.append(window, prefix_text_.size());
  // The ids just settled become the next prefix: the next window starts on them.
  prefix_text_ = decode_range(read_, ids_.size());
  prefix_ = read_;
  read_ = ids_.size();
}

}  // namespace s2d
