// at::mt19937's output read a twist at a time. The CPU sampler steps each row's generator over the
// whole vocabulary, two words a token, as at::multinomial's exponential_ would, and needs most of
// those words only to have stepped over them; calling the engine once a word cost more than the
// rest of the draw. Here a read tempers only the words it returns, and the twist that refills the
// 624-word state runs eight words at a time.
#pragma once

#include <ATen/core/MT19937RNGEngine.h>

#include <cstddef>
#include <cstdint>

namespace s2d {

class Mt19937Words {
 public:
  explicit Mt19937Words(const at::mt19937& engine) : data_(engine.data()) {}

  // The next n words, as n calls of the engine would return them.
  void read(uint32_t* out, size_t n);
  // Steps over the next n words.
  void skip(size_t n);
  // The engine as n calls would have left it, for every n read and skipped.
  at::mt19937 engine() const;

 private:
  // at::mt19937's state: state_[next_ ...] are the words not yet returned, left_ - 1 of them (the
  // engine twists when a call takes left_ to 0).
  at::mt19937_data_pod data_;
  size_t words_left() const { return static_cast<size_t>(data_.left_ - 1); }
  void twist();
  // Steps over the next k <= n words of the state array, twisting first where none are left; k
  // stops at the array's end. They are state_[next_ - k, next_), untempered.
  size_t take(size_t n);
};

}  // namespace s2d
